import copy
from dataclasses import replace

import pytest
import torch

from recyclegan.config import MODEL_SIZES, PRESETS, TrainConfig
from recyclegan.models import build_networks
from recyclegan.training.trainer import Trainer, frames_to_model


def make_trainer(preset="recycle", **train):
    torch.manual_seed(0)
    cfg = replace(MODEL_SIZES["tiny"], pred_depth=4)
    weights = PRESETS[preset]
    networks = build_networks(cfg, with_predictors=weights.uses_predictor)
    return Trainer(networks, weights, TrainConfig(steps=10, pool_size=2, **train),
                   torch.device("cpu"))


def batch(seed, size=32, batch_size=2):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch_size, 3, 3, size, size), generator=g, dtype=torch.uint8)


def test_frames_to_model_scales_to_unit_range():
    frames = frames_to_model(torch.tensor([0, 255], dtype=torch.uint8).view(1, 1, 2, 1, 1)
                             .expand(1, 3, 2, 1, 1).contiguous(), torch.device("cpu"))
    assert len(frames) == 3
    assert frames[0].flatten().tolist() == [-1.0, 1.0]


@pytest.mark.parametrize("preset", ["recycle", "recycle+cycle", "cycle"])
def test_one_step_updates_every_network(preset):
    trainer = make_trainer(preset)
    before = {k: v.clone() for k, v in trainer.networks.state_dict().items()}
    logged = trainer.train_step(batch(1), batch(2))
    assert trainer.step == 1
    assert all(torch.isfinite(v) for v in logged.values())
    after = trainer.networks.state_dict()
    for prefix in ("gen_ab", "gen_ba", "disc_a", "disc_b") + (
            ("pred_a", "pred_b") if preset != "cycle" else ()):
        changed = [k for k in before if k.startswith(prefix) and not torch.equal(before[k],
                                                                                 after[k])]
        assert changed, f"{prefix} did not change"
    if preset == "cycle":
        assert "a2b/cycle" in logged and "a2b/recycle" not in logged
    else:
        assert {"a2b/recycle", "a2b/recurrent", "b2a/recycle", "b2a/recurrent"} <= set(logged)


def test_learning_rate_follows_the_schedule():
    trainer = make_trainer(lr=1e-3, lr_decay_start=0)
    trainer.step = 5
    trainer.train_step(batch(1, batch_size=1), batch(2, batch_size=1))
    assert trainer.opt_g.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.5)
    assert trainer.opt_d.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.5)


def test_state_round_trip_gives_identical_next_step():
    first = make_trainer()
    first.train_step(batch(1), batch(2))
    state = copy.deepcopy(first.state_dict())  # the optimiser's state is live otherwise
    weights = {k: v.clone() for k, v in first.networks.state_dict().items()}
    first.train_step(batch(3), batch(4))

    second = make_trainer()
    second.networks.load_state_dict(weights)
    second.load_state_dict(state)
    second.train_step(batch(3), batch(4))
    for key, value in first.networks.state_dict().items():
        assert torch.equal(value, second.networks.state_dict()[key]), key


def test_sample_images_cover_the_recycle_path():
    trainer = make_trainer()
    rows = trainer.sample_images(batch(1, batch_size=1)[0], batch(2, batch_size=1)[0])
    assert len(rows) == 2
    assert {"real0", "fake0", "pred2", "rec2"} <= set(rows[0])
    assert rows[0]["fake0"].shape == (1, 3, 32, 32)


def run_steps(trainer, steps=3, first=0):
    """Losses of `steps` training steps on fixed batches (from batch `first` on), as floats."""
    history = []
    for step in range(first, first + steps):
        logged = trainer.train_step(batch(10 + step), batch(20 + step))
        history.append({name: float(value) for name, value in logged.items()})
    return history


def test_bf16_autocast_trains_fp32_weights_and_tracks_fp32():
    fp32, bf16 = make_trainer(precision="fp32"), make_trainer(precision="bf16")
    assert fp32.amp_dtype is None and bf16.amp_dtype is torch.bfloat16
    reference, mixed = run_steps(fp32), run_steps(bf16)
    assert all(p.dtype == torch.float32 for p in bf16.networks.parameters())
    assert all(image.dtype == torch.float32 for image in bf16.pool_a.images)
    for ref, got in zip(reference, mixed, strict=True):
        for name in ref:
            assert got[name] == pytest.approx(ref[name], rel=0.05, abs=0.02), name
    strips = bf16.sample_images(batch(3)[0], batch(4)[0])
    assert all(image.dtype == torch.float32 for images in strips for image in images.values())


def test_channels_last_gives_the_same_training():
    plain, nhwc = make_trainer(channels_last=False), make_trainer(channels_last=True)
    convs = [m for m in nhwc.networks.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    for ref, got in zip(run_steps(plain), run_steps(nhwc), strict=True):
        for name in ref:
            assert got[name] == pytest.approx(ref[name], rel=1e-3, abs=1e-4), name


def test_channels_last_reaches_every_convolution():
    # Without it cuDNN transposes NCHW to NHWC and back around each convolution.
    trainer = make_trainer(channels_last=True)
    layouts = []

    def record(module, inputs):
        x = inputs[0]
        if x.shape[-1] * x.shape[-2] > 1:  # a 1x1 map is both layouts at once
            layouts.append(x.is_contiguous(memory_format=torch.channels_last)
                           and not x.is_contiguous())

    convs = [m for m in trainer.networks.modules()
             if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d)]
    for conv in convs:
        conv.register_forward_pre_hook(record)
    run_steps(trainer, steps=1)
    assert len(layouts) >= len(convs) and all(layouts)


def test_compiled_step_does_not_recompile_after_warm_up(monkeypatch):
    from torch._dynamo.utils import counters

    import recyclegan.training.trainer as trainer_module

    monkeypatch.setattr(trainer_module, "COMPILE_BACKEND", "eager")
    torch._dynamo.reset()
    trainer = make_trainer(compile=True)
    reference = run_steps(make_trainer(compile=False), steps=4)
    warm = run_steps(trainer, steps=2)
    graphs = counters["stats"]["unique_graphs"]
    later = run_steps(trainer, steps=2, first=2)
    assert counters["stats"]["unique_graphs"] == graphs > 0
    for ref, got in zip(reference, warm + later, strict=True):
        for name in ref:
            assert got[name] == pytest.approx(ref[name], rel=1e-4, abs=1e-5), name
    torch._dynamo.reset()


def test_an_infinite_gradient_under_a_finite_loss_changes_nothing():
    trainer = make_trainer()
    run_steps(trainer, steps=2)
    before = copy.deepcopy(trainer.networks.gen_ab.state_dict())
    weight = trainer.networks.gen_ab.net[0][1].weight
    handle = weight.register_hook(lambda grad: grad * float("inf"))
    logged = trainer.train_step(batch(30), batch(31))
    handle.remove()
    assert torch.isfinite(logged["loss/g_total"])
    assert float(logged["nonfinite/generators"]) == 1.0
    for key, value in before.items():
        assert torch.equal(value, trainer.networks.gen_ab.state_dict()[key]), key


def test_a_nonfinite_step_changes_nothing(monkeypatch):
    import recyclegan.losses as losses

    trainer = make_trainer()
    run_steps(trainer, steps=2)
    before = copy.deepcopy((trainer.networks.state_dict(), trainer.opt_g.state_dict()))
    real_recycle = losses.recycle
    monkeypatch.setattr(losses, "recycle", lambda *a, **k: real_recycle(*a, **k) * float("nan"))
    logged = trainer.train_step(batch(30), batch(31))
    assert float(logged["nonfinite/generators"]) == 1.0
    # The generator side (generators, predictors, their Adam state) is exactly as before;
    # the discriminators' step had finite losses and went ahead.
    after = trainer.networks.state_dict()
    for key, value in before[0].items():
        if not key.startswith("disc_"):
            assert torch.equal(value, after[key]), key
    for slot, state in before[1]["state"].items():
        for name, value in state.items():
            assert torch.equal(value, trainer.opt_g.state_dict()["state"][slot][name])
    assert all(torch.isfinite(image).all() for image in trainer.pool_b.images)
    monkeypatch.setattr(losses, "recycle", real_recycle)
    logged = trainer.train_step(batch(32), batch(33))
    assert float(logged["nonfinite/generators"]) == 0.0
    assert float(logged["nonfinite/discriminators"]) == 0.0
