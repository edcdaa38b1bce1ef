import pytest
import torch
from torch import nn

from recyclegan.config import LossWeights
from recyclegan.training.objective import (
    GeneratorObjective,
    discriminator_loss,
    generate_together,
    predict_next,
    sent_back,
    translate_window,
    weighted_total,
)


class ZeroScore(nn.Module):
    def forward(self, x):
        return torch.zeros(len(x), 1, 2, 2)


class CopyCurrent(nn.Module):
    """A 'predictor' that says the next frame equals the current one."""

    def forward(self, prev, current):
        return current


def window():
    torch.manual_seed(0)
    return [torch.rand(2, 3, 8, 8) * 2 - 1 for _ in range(3)]


def run(weights):
    """One direction with identity generators and copy-the-current-frame predictors."""
    real0, real1, real2 = window()
    fake01 = torch.cat([real0, real1])
    pred_dst2, _ = predict_next(CopyCurrent(), fake01)
    _, pred_src2 = predict_next(CopyCurrent(), fake01, real0, real1)
    _, returned = generate_together(nn.Identity(), None,
                                    sent_back(weights, pred_dst2, fake01, fake01))
    return translate_window(real0, real1, real2, fake01, returned, disc_dst=ZeroScore(),
                            weights=weights, pred_dst2=pred_dst2,
                            pred_src2=pred_src2), (real0, real1, real2)


def test_recycle_terms_by_hand():
    result, (real0, real1, real2) = run(LossWeights())
    motion = (real1 - real2).abs().mean().item()
    assert result.terms["recurrent"].item() == pytest.approx(motion)
    # identity generators: recycled = G_X(P_Y(G_Y(x0), G_Y(x1))) = x1
    assert result.terms["recycle"].item() == pytest.approx(motion)
    # three fake frames per window, each scored 0 against target 1
    assert result.terms["adversarial"].item() == pytest.approx(3.0)
    assert len(result.fakes) == 3 * 2
    assert set(result.terms) == {"adversarial", "recurrent", "recycle"}


def test_cycle_preset_skips_the_predictor():
    weights = LossWeights(recurrent=0, recycle=0, cycle=10)
    real0, real1, real2 = window()
    fake01 = torch.cat([real0, real1])
    result = translate_window(real0, real1, real2, fake01, {"cycle": fake01},
                              disc_dst=ZeroScore(), weights=weights)
    assert set(result.terms) == {"adversarial", "cycle"}
    assert result.terms["cycle"].item() == 0.0
    assert result.terms["adversarial"].item() == pytest.approx(2.0)
    assert len(result.fakes) == 2 * 2


def test_weights_scale_and_switch_terms():
    result, _ = run(LossWeights(recurrent=2, recycle=0, identity=1, reconstruction="l2"))
    assert "recycle" not in result.terms and "identity" in result.terms
    total = weighted_total(result.terms, LossWeights(recurrent=2, recycle=0, identity=1))
    expected = result.terms["adversarial"] + 2 * result.terms["recurrent"]
    assert total.item() == pytest.approx(expected.item())


def test_predictor_required_when_weights_use_it():
    real0, real1, real2 = window()
    with pytest.raises(ValueError, match="predictors"):
        translate_window(real0, real1, real2, torch.cat([real0, real1]), {},
                         disc_dst=ZeroScore(), weights=LossWeights())
    with pytest.raises(ValueError, match="predictors"):
        sent_back(LossWeights(), None, real0, real0)


def test_discriminator_loss_counts_frames():
    disc = ZeroScore()
    reals, fakes = torch.zeros(6, 3, 8, 8), torch.zeros(6, 3, 8, 8)
    # reals scored 0 against 1 -> 1; fakes scored 0 against 0 -> 0; halved; 3 frames per window
    assert discriminator_loss(disc, reals, fakes, batch_size=2).item() == pytest.approx(1.5)
    with pytest.raises(ValueError):
        discriminator_loss(disc, reals, fakes[:4], batch_size=2)


def test_one_predictor_call_gives_what_two_calls_give():
    from recyclegan.models.predictor import UnetPredictor

    torch.manual_seed(0)
    pred = UnetPredictor(3, 8, depth=3)
    calls = []
    pred.register_forward_hook(lambda module, args, out: calls.append(len(args[0])))
    fake01 = torch.rand(4, 3, 16, 16) * 2 - 1
    real0, real1 = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    from_fakes, from_reals = predict_next(pred, fake01, real0, real1)
    assert calls == [4]  # one call, fakes and reals stacked
    torch.testing.assert_close(from_fakes, pred(*fake01.chunk(2)), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(from_reals, pred(real0, real1), rtol=1e-5, atol=1e-6)
    alone, none = predict_next(pred, fake01)
    assert none is None and alone.shape == (2, 3, 16, 16)


def objective_and_networks(preset_weights):
    from recyclegan.config import MODEL_SIZES
    from recyclegan.models import build_networks

    torch.manual_seed(0)
    cfg = MODEL_SIZES["tiny"]
    networks = build_networks(type(cfg)(**{**cfg.__dict__, "pred_depth": 2}))
    return GeneratorObjective(networks, preset_weights), networks


def separate_calls_total(objective, networks, real_a, real_b):
    """The objective as it was first written: every generator input in a call of its own."""
    w = objective.weights
    fake_b01 = networks.gen_ab(torch.cat(real_a[:2]))
    fake_a01 = networks.gen_ba(torch.cat(real_b[:2]))
    total = 0
    for real, fake01, gen_bwd, pred_dst, pred_src, disc in (
            (real_a, fake_b01, networks.gen_ba, networks.pred_b, networks.pred_a,
             networks.disc_b),
            (real_b, fake_a01, networks.gen_ab, networks.pred_a, networks.pred_b,
             networks.disc_a)):
        pred_dst2 = pred_dst(*fake01.chunk(2)) if w.uses_predictor else None
        pred_src2 = pred_src(*real[:2]) if w.uses_predictor else None
        returned = {name: gen_bwd(x) for name, x in
                    sent_back(w, pred_dst2, fake01, torch.cat(real[:2])).items()}
        result = translate_window(*real, fake01, returned, disc_dst=disc, weights=w,
                                  pred_dst2=pred_dst2, pred_src2=pred_src2)
        total = total + weighted_total(result.terms, w)
    return total


@pytest.mark.parametrize("weights", [LossWeights(), LossWeights(cycle=10),
                                     LossWeights(recurrent=0, recycle=0, cycle=10, identity=5)],
                         ids=["recycle", "recycle+cycle", "cycle+identity"])
def test_three_generator_calls_give_what_separate_calls_give(weights):
    objective, networks = objective_and_networks(weights)
    calls = []
    for name in ("gen_ab", "gen_ba"):
        getattr(networks, name).register_forward_hook(
            lambda module, args, out, name=name: calls.append((name, len(args[0]))))
    torch.manual_seed(1)
    real_a = [torch.rand(2, 3, 16, 16) * 2 - 1 for _ in range(3)]
    real_b = [torch.rand(2, 3, 16, 16) * 2 - 1 for _ in range(3)]
    total, _, _ = objective(real_a, real_b, networks.disc_a, networks.disc_b)
    sizes = {"recycle": 2, "cycle": 4, "identity": 4}  # frames each term sends back
    back = sum(sizes[name] for name in sizes if getattr(weights, name)
               and (name != "recycle" or weights.uses_predictor))
    assert calls == [("gen_ab", 4), ("gen_ba", 4 + back), ("gen_ab", back)]
    total.backward()
    merged = {name: p.grad.clone() for name, p in networks.named_parameters()
              if p.grad is not None}
    networks.zero_grad()
    calls.clear()
    reference = separate_calls_total(objective, networks, real_a, real_b)
    torch.testing.assert_close(total, reference, rtol=1e-5, atol=1e-6)
    reference.backward()
    for name, p in networks.named_parameters():
        if p.grad is not None:
            # biases under instance norm get gradients of about 0: float noise dominates
            torch.testing.assert_close(merged[name], p.grad, rtol=1e-4, atol=1e-5)
