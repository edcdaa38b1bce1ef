"""Loss terms of Recycle-GAN as pure functions of tensors.

The trainer combines them with the weights of `LossWeights`; nothing here knows about
networks or configs. Shapes are (batch, channels, height, width) throughout.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def reconstruction(output: Tensor, target: Tensor, kind: str = "l1") -> Tensor:
    """Mean L1 (the authors' code) or squared (the paper's text) error."""
    if kind == "l1":
        return F.l1_loss(output, target)
    if kind == "l2":
        return F.mse_loss(output, target)
    raise ValueError(f"unknown reconstruction distance {kind!r}")


def lsgan(scores: Tensor, real: bool) -> Tensor:
    """Least-squares GAN: push raw discriminator scores towards 1 (real) or 0 (fake)."""
    target = torch.ones_like(scores) if real else torch.zeros_like(scores)
    return F.mse_loss(scores, target)


def adversarial(fake_scores: Tensor) -> Tensor:
    """Generator side of LSGAN: the fakes should be scored as real."""
    return lsgan(fake_scores, True)


def discriminator(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """Discriminator side of LSGAN, halved as in CycleGAN so D learns slower than G."""
    return 0.5 * (lsgan(real_scores, True) + lsgan(fake_scores, False))


def recurrent(pred_next: Tensor, real_next: Tensor, kind: str = "l1") -> Tensor:
    """|x_{t+1} - P_X(x_{t-1}, x_t)|: the predictor learns the domain's own motion."""
    return reconstruction(pred_next, real_next, kind)


def recycle(rec_next: Tensor, real_next: Tensor, kind: str = "l1") -> Tensor:
    """|x_{t+1} - G_X(P_Y(G_Y(x_{t-1}), G_Y(x_t)))|: translate, predict there, translate back."""
    return reconstruction(rec_next, real_next, kind)


def cycle(rec: Tensor, real: Tensor, kind: str = "l1") -> Tensor:
    """|x - G_X(G_Y(x))| on single frames (CycleGAN)."""
    return reconstruction(rec, real, kind)


def identity(same: Tensor, real: Tensor, kind: str = "l1") -> Tensor:
    """|x - G_X(x)|: a generator fed its own target domain should change nothing."""
    return reconstruction(same, real, kind)
