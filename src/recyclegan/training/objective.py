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


def predict_next(pred: nn.Module, fake01: Tensor, real0: Tensor | None = None,
                 real1: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
    """A predictor's next frame for the translated pair `fake01` (for the recycle term) and,
    when given, for its own domain's real pair (for the recurrent term), in one call on the
    two stacked along the batch: each predictor runs once per step, at twice the batch, which
    is faster than two calls (instance norm keeps the samples apart)."""
    fake0, fake1 = fake01.chunk(2)
    if real0 is None or real1 is None:
        return pred(fake0, fake1), None
    both = pred(torch.cat([fake0, real0]), torch.cat([fake1, real1]))
    return both[:len(fake0)], both[len(fake0):]


def sent_back(weights: LossWeights, pred_dst2: Tensor | None, fake01: Tensor,
              real01: Tensor) -> dict[str, Tensor]:
    """What one direction (X -> Y) puts through the backward generator gen_yx, by the term
    that needs it: the predicted next frame (recycle), the translated pair (cycle) and X's
    own pair (identity: gen_yx should leave an X frame as it is)."""
    inputs = {}
    if weights.uses_predictor and weights.recycle:
        if pred_dst2 is None:
            raise ValueError("these loss weights need the temporal predictors")
        inputs["recycle"] = pred_dst2
    if weights.cycle:
        inputs["cycle"] = fake01
    if weights.identity:
        inputs["identity"] = real01
    return inputs


def generate_together(gen: nn.Module, first: Tensor | None, inputs: dict[str, Tensor]
                      ) -> tuple[Tensor | None, dict[str, Tensor]]:
    """gen(first) and gen of each of `inputs`, in one call on them stacked along the batch:
    fewer, larger calls are faster (instance norm keeps the samples apart)."""
    parts = ([] if first is None else [first]) + list(inputs.values())
    if not parts:
        return None, {}
    outputs = list(gen(torch.cat(parts)).split([len(part) for part in parts]))
    first_out = None if first is None else outputs.pop(0)
    return first_out, dict(zip(inputs, outputs, strict=True))


def translate_window(
    real0: Tensor, real1: Tensor, real2: Tensor, fake01: Tensor, returned: dict[str, Tensor],
    *, disc_dst: nn.Module, weights: LossWeights, pred_dst2: Tensor | None = None,
    pred_src2: Tensor | None = None,
) -> DirectionPass:
    """The terms of one direction. `fake01` = gen_xy(real0 ++ real1); `returned` = gen_yx of
    each of `sent_back(...)`, by name; `pred_dst2` = pred_y(fake_y0, fake_y1) and
    `pred_src2` = pred_x(x0, x1), from `predict_next`, where the weights use the predictors
    (the recurrent term needs `pred_src2`)."""
    kind = weights.reconstruction
    real01 = torch.cat([real0, real1])
    fake0, fake1 = fake01.chunk(2)
    fakes = [fake01]
    terms: dict[str, Tensor] = {}
    images = {"real0": real0, "real1": real1, "real2": real2, "fake0": fake0, "fake1": fake1}
    if weights.uses_predictor:
        if pred_dst2 is None or (weights.recurrent and pred_src2 is None):
            raise ValueError("these loss weights need the temporal predictors")
        fakes.append(pred_dst2)
        images["pred2"] = pred_dst2
        if weights.recurrent:
            terms["recurrent"] = losses.recurrent(pred_src2, real2, kind)
        if weights.recycle:
            terms["recycle"] = losses.recycle(returned["recycle"], real2, kind)
            images["rec2"] = returned["recycle"]
    if weights.cycle:
        terms["cycle"] = 2 * losses.cycle(returned["cycle"], real01, kind)
        images["rec0"] = returned["cycle"].chunk(2)[0]
    if weights.identity:
        terms["identity"] = 2 * losses.identity(returned["identity"], real01, kind)
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
        """Three generator calls, not four or more: gen_ab translates A; pred_b predicts
        from that; one gen_ba call translates B and takes back everything A -> B sends it;
        pred_a predicts from B -> A; one more gen_ab call takes back what B -> A sends."""
        weights = self.weights
        if weights.uses_predictor and (self.pred_a is None or self.pred_b is None):
            raise ValueError("these loss weights need the temporal predictors")
        real_a01, real_b01 = torch.cat(real_a[:2]), torch.cat(real_b[:2])
        fake_b01 = self.gen_ab(real_a01)
        # pred_b sees A->B's translated pair and, for the recurrent term, B's real pair.
        next_b = self._predict(self.pred_b, fake_b01, real_b)
        fake_a01, returned_a = generate_together(
            self.gen_ba, real_b01, sent_back(weights, next_b[0], fake_b01, real_a01))
        next_a = self._predict(self.pred_a, fake_a01, real_a)
        _, returned_b = generate_together(
            self.gen_ab, None, sent_back(weights, next_a[0], fake_a01, real_b01))
        pass_a = translate_window(*real_a, fake_b01, returned_a, disc_dst=disc_b,
                                  weights=weights, pred_dst2=next_b[0], pred_src2=next_a[1])
        pass_b = translate_window(*real_b, fake_a01, returned_b, disc_dst=disc_a,
                                  weights=weights, pred_dst2=next_a[0], pred_src2=next_b[1])
        total = weighted_total(pass_a.terms, weights) + weighted_total(pass_b.terms, weights)
        return total, pass_a, pass_b

    def _predict(self, pred: nn.Module | None, fake01: Tensor, real: list[Tensor]
                 ) -> tuple[Tensor | None, Tensor | None]:
        if not self.weights.uses_predictor:
            return None, None
        return predict_next(pred, fake01, *(real[:2] if self.weights.recurrent else ()))


class DiscriminatorObjective(nn.Module):
    """Both discriminators' losses as one module (see GeneratorObjective)."""

    def __init__(self, networks: Networks) -> None:
        super().__init__()
        self.disc_a, self.disc_b = networks.disc_a, networks.disc_b

    def forward(self, reals_a: Tensor, fakes_a: Tensor, reals_b: Tensor, fakes_b: Tensor,
                batch_size: int) -> tuple[Tensor, Tensor]:
        return (discriminator_loss(self.disc_a, reals_a, fakes_a, batch_size),
                discriminator_loss(self.disc_b, reals_b, fakes_b, batch_size))
