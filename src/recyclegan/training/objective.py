"""One direction of the Recycle-GAN objective on a window of three frames.

For source domain X and target Y (the other direction swaps the networks):

    fake_y0, fake_y1 = gen_xy(x0), gen_xy(x1)
    pred_y2 = pred_y(fake_y0, fake_y1)          predicted next frame, in Y
    rec_x2  = gen_yx(pred_y2)                   recycled back to X, compared with x2
    pred_x2 = pred_x(x0, x1)                    recurrent: the predictor learns X's motion

Each term is summed over the frames it covers (each frame's loss a mean over pixels), which
keeps the authors' balance: three adversarial frames against one recurrent and one recycle
frame. Terms whose weight is 0 are not computed at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from recyclegan import losses
from recyclegan.config import LossWeights
from recyclegan.models import Networks


@dataclass
class DirectionPass:
    fakes: Tensor
    """Everything the target domain's discriminator should call fake, stacked on dim 0."""
    terms: dict[str, Tensor]
    """Unweighted loss terms, by name."""
    images: dict[str, Tensor] = field(default_factory=dict)
    """Named intermediate images (first window of the batch) for sample strips."""


def translate_window(
    real0: Tensor, real1: Tensor, real2: Tensor, *,
    gen_fwd: nn.Module, gen_bwd: nn.Module, disc_dst: nn.Module,
    pred_src: nn.Module | None, pred_dst: nn.Module | None, weights: LossWeights,
) -> DirectionPass:
    kind = weights.reconstruction
    real01 = torch.cat([real0, real1])
    fake01 = gen_fwd(real01)
    fake0, fake1 = fake01.chunk(2)
    fakes = [fake01]
    terms: dict[str, Tensor] = {}
    images = {"real0": real0, "real1": real1, "real2": real2, "fake0": fake0, "fake1": fake1}
    if weights.uses_predictor:
        if pred_src is None or pred_dst is None:
            raise ValueError("these loss weights need the temporal predictors")
        pred_dst2 = pred_dst(fake0, fake1)
        fakes.append(pred_dst2)
        images["pred2"] = pred_dst2
        if weights.recurrent:
            terms["recurrent"] = losses.recurrent(pred_src(real0, real1), real2, kind)
        if weights.recycle:
            rec2 = gen_bwd(pred_dst2)
            terms["recycle"] = losses.recycle(rec2, real2, kind)
            images["rec2"] = rec2
    if weights.cycle:
        rec01 = gen_bwd(fake01)
        terms["cycle"] = 2 * losses.cycle(rec01, real01, kind)
        images["rec0"] = rec01.chunk(2)[0]
    if weights.identity:
        terms["identity"] = 2 * losses.identity(gen_bwd(real01), real01, kind)
    all_fakes = torch.cat(fakes)
    frames = len(all_fakes) // len(real0)
    terms["adversarial"] = frames * losses.adversarial(disc_dst(all_fakes))
    return DirectionPass(fakes=all_fakes, terms=terms, images=images)


def weighted_total(terms: dict[str, Tensor], weights: LossWeights) -> Tensor:
    return sum(getattr(weights, name) * value for name, value in terms.items())


def discriminator_loss(disc: nn.Module, reals: Tensor, fakes: Tensor, batch_size: int) -> Tensor:
    """LSGAN loss of one discriminator, summed over the frames of the window like G's terms.

    `reals` and `fakes` hold the same number of frames per window, stacked on dim 0. They go
    through D in one call; InstanceNorm keeps samples independent.
    """
    if len(reals) != len(fakes):
        raise ValueError(f"{len(reals)} real and {len(fakes)} fake frames for the discriminator")
    scores = disc(torch.cat([reals, fakes.detach()]))
    real_scores, fake_scores = scores.chunk(2)
    return (len(fakes) // batch_size) * losses.discriminator(real_scores, fake_scores)


class GeneratorObjective(nn.Module):
    """Both directions' generator-side loss as one module: what DistributedDataParallel wraps,
    so that it sees one forward and one backward per step. The discriminators are passed in,
    frozen, not owned: their gradients belong to `DiscriminatorObjective`."""

    def __init__(self, networks: Networks, weights: LossWeights) -> None:
        super().__init__()
        self.gen_ab, self.gen_ba = networks.gen_ab, networks.gen_ba
        self.pred_a, self.pred_b = networks.pred_a, networks.pred_b
        self.weights = weights

    def forward(self, real_a: list[Tensor], real_b: list[Tensor], disc_a: nn.Module,
                disc_b: nn.Module) -> tuple[Tensor, DirectionPass, DirectionPass]:
        pass_a = translate_window(*real_a, gen_fwd=self.gen_ab, gen_bwd=self.gen_ba,
                                  disc_dst=disc_b, pred_src=self.pred_a, pred_dst=self.pred_b,
                                  weights=self.weights)
        pass_b = translate_window(*real_b, gen_fwd=self.gen_ba, gen_bwd=self.gen_ab,
                                  disc_dst=disc_a, pred_src=self.pred_b, pred_dst=self.pred_a,
                                  weights=self.weights)
        total = (weighted_total(pass_a.terms, self.weights)
                 + weighted_total(pass_b.terms, self.weights))
        return total, pass_a, pass_b


class DiscriminatorObjective(nn.Module):
    """Both discriminators' losses as one module (see GeneratorObjective)."""

    def __init__(self, networks: Networks) -> None:
        super().__init__()
        self.disc_a, self.disc_b = networks.disc_a, networks.disc_b

    def forward(self, reals_a: Tensor, fakes_a: Tensor, reals_b: Tensor, fakes_b: Tensor,
                batch_size: int) -> tuple[Tensor, Tensor]:
        return (discriminator_loss(self.disc_a, reals_a, fakes_a, batch_size),
                discriminator_loss(self.disc_b, reals_b, fakes_b, batch_size))
