import pytest
import torch

from recyclegan.config import MODEL_SIZES
from recyclegan.models import (
    PatchDiscriminator,
    ResnetGenerator,
    UnetPredictor,
    build_networks,
)


def test_generator_keeps_size_and_range():
    gen = ResnetGenerator(channels=8, blocks=2)
    out = gen(torch.randn(2, 3, 32, 48) * 3)
    assert out.shape == (2, 3, 32, 48)
    assert out.abs().max() <= 1.0


def test_generator_is_fully_convolutional_and_per_sample():
    gen = ResnetGenerator(channels=8, blocks=1)
    x = torch.randn(2, 3, 32, 32)
    # InstanceNorm: a sample's output does not depend on the rest of the batch.
    torch.testing.assert_close(gen(x)[1:], gen(x[1:]))


def test_paper_generator_size():
    gen = ResnetGenerator(channels=64, blocks=6)
    params = sum(p.numel() for p in gen.parameters())
    assert 7.7e6 < params < 8.0e6  # ResNet-6 at 64 channels: about 7.8 M parameters


def test_weights_start_normal_002():
    gen = ResnetGenerator(channels=16, blocks=2)
    weights = torch.cat([m.weight.flatten() for m in gen.modules()
                         if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))])
    assert abs(weights.std().item() - 0.02) < 0.002
    assert abs(weights.mean().item()) < 0.002


def test_predictor_takes_two_frames_and_returns_one():
    pred = UnetPredictor(channels=8, depth=5)
    prev, cur = torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32)
    out = pred(prev, cur)
    assert out.shape == (2, 3, 32, 32)
    assert not torch.allclose(out, pred(cur, prev))  # order of the frames matters


def test_unet256_reaches_a_one_pixel_bottleneck():
    pred = UnetPredictor(channels=4, depth=8)
    seen = []
    pred.down[-1].register_forward_hook(lambda m, i, o: seen.append(o.shape))
    pred(torch.randn(1, 3, 256, 256), torch.randn(1, 3, 256, 256))
    assert seen[0][-2:] == (1, 1)


def test_patchgan_70_has_a_30x30_score_map_at_256():
    disc = PatchDiscriminator(channels=8, layers=3)
    assert disc(torch.randn(1, 3, 256, 256)).shape == (1, 1, 30, 30)


@pytest.mark.parametrize("net, args, fragment", [
    (ResnetGenerator(channels=8, blocks=1), (torch.randn(1, 3, 30, 32),), "multiples of 4"),
    (ResnetGenerator(channels=8, blocks=1), (torch.randn(1, 4, 32, 32),), "(batch, 3,"),
    (UnetPredictor(channels=8, depth=5), (torch.randn(1, 3, 48, 48), torch.randn(1, 3, 48, 48)),
     "multiples of 32"),
    (PatchDiscriminator(channels=8, layers=3), (torch.randn(1, 3, 16, 16),), "at least 24"),
])
def test_wrong_input_sizes_fail_clearly(net, args, fragment):
    with pytest.raises(ValueError) as info:
        net(*args)
    assert fragment in str(info.value)


def test_build_networks_without_predictors():
    from dataclasses import replace

    cfg = replace(MODEL_SIZES["tiny"], pred_depth=4)
    with_pred = build_networks(cfg)
    without = build_networks(cfg, with_predictors=False)
    assert with_pred.pred_a is not None and without.pred_a is None
    assert not any(key.startswith("pred_") for key in without.state_dict())
    assert len(with_pred.generator_side()) == 4 and len(without.generator_side()) == 2


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("compiled_form", [False, True])
def test_instance_norm_keeps_channels_last_and_matches_pytorch(dtype, compiled_form):
    from recyclegan.models.layers import instance_norm, normalise_nhwc

    torch.manual_seed(0)
    x = (torch.randn(2, 8, 12, 10) * 3 + 1).to(dtype)
    nhwc = x.contiguous(memory_format=torch.channels_last).requires_grad_()
    nchw = x.clone().requires_grad_()
    norm = instance_norm(8)
    # The form torch.compile traces, called directly; eager otherwise.
    got = normalise_nhwc(nhwc, norm.eps) if compiled_form else norm(nhwc)
    want = torch.nn.functional.instance_norm(nchw)
    assert got.dtype == dtype and got.is_contiguous(memory_format=torch.channels_last)
    tolerance = {"atol": 1e-5, "rtol": 1e-5} if dtype == torch.float32 else {"atol": 3e-2,
                                                                            "rtol": 3e-2}
    torch.testing.assert_close(got, want, **tolerance)
    weights = torch.randn(2, 8, 12, 10)
    (got.float() * weights).sum().backward()
    (want.float() * weights).sum().backward()
    torch.testing.assert_close(nhwc.grad, nchw.grad, **tolerance)
    assert norm(nchw).is_contiguous()  # NCHW takes PyTorch's kernel, as before


def test_channels_last_instance_norm_takes_an_in_place_relu_after_it():
    """The residual blocks' ReLU runs in place on the norm's output; on the CPU's
    channels-last path that output must be a tensor of its own, not a view."""
    from recyclegan.models.layers import instance_norm

    torch.manual_seed(0)
    x = torch.randn(3, 8, 6, 5)
    nhwc = x.contiguous(memory_format=torch.channels_last).requires_grad_()
    nchw = x.clone().requires_grad_()
    got = instance_norm(8)(nhwc).relu_()
    want = torch.nn.functional.instance_norm(nchw).relu_()
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    weights = torch.randn(3, 8, 6, 5)
    (got * weights).sum().backward()
    (want * weights).sum().backward()
    torch.testing.assert_close(nhwc.grad, nchw.grad, atol=1e-5, rtol=1e-5)
    assert nhwc.grad.is_contiguous(memory_format=torch.channels_last)


def _record_input_layouts(net: torch.nn.Module, kind: type) -> list[bool]:
    """Whether each call of a `kind` layer in `net` gets a channels-last input, in order."""
    layouts: list[bool] = []
    for module in net.modules():
        if isinstance(module, kind):
            module.register_forward_pre_hook(lambda _, args: layouts.append(
                args[0].is_contiguous(memory_format=torch.channels_last)))
    return layouts


def _assert_same_as_in_nchw(net: torch.nn.Module, x: torch.Tensor, atol: float) -> torch.Tensor:
    """net(x) and its input gradient against net.net(x): the same layers, NCHW throughout."""
    leaf, reference_leaf = x.clone().requires_grad_(), x.clone().requires_grad_()
    got, want = net(leaf), net.net(reference_leaf)
    torch.testing.assert_close(got, want, atol=atol, rtol=1e-4)
    weights = torch.randn_like(want)
    (got * weights).sum().backward()
    (want * weights).sum().backward()
    torch.testing.assert_close(leaf.grad, reference_leaf.grad, atol=1e-5, rtol=1e-4)
    return got


def test_generator_runs_its_wide_trunk_channels_last_with_the_same_results():
    """On the CPU fast path the residual blocks (256 channels here, Winograd's width) get
    channels-last inputs; the output and gradients are those of the same layers in NCHW."""
    from recyclegan.models.layers import ResidualBlock

    torch.manual_seed(0)
    gen = ResnetGenerator(channels=64, blocks=2)
    layouts = _record_input_layouts(gen, ResidualBlock)
    x = torch.randn(1, 3, 64, 64)
    got = _assert_same_as_in_nchw(gen, x, atol=1e-5)
    assert layouts == [True, True, False, False] and got.is_contiguous()
    with torch.autocast("cpu", dtype=torch.bfloat16):  # not the fp32 fast path: NCHW
        gen(x)
    assert layouts[4:] == [False, False]


def test_discriminator_runs_its_winograd_layer_on_channels_last_with_the_same_results():
    from recyclegan.models.layers import WinogradConv2d

    torch.manual_seed(0)
    disc = PatchDiscriminator(channels=64, layers=3)  # 256 -> 512 channels: Winograd's width
    layouts = _record_input_layouts(disc, WinogradConv2d)
    _assert_same_as_in_nchw(disc, torch.randn(2, 3, 128, 128), atol=1e-4)
    assert layouts == [True, False]


def test_compiled_instance_norm_keeps_channels_last():
    from recyclegan.models.layers import instance_norm

    graphs = []

    def record(graph_module, example_inputs):
        graphs.append(str(graph_module.graph))
        return graph_module.forward

    torch._dynamo.reset()
    norm = torch.compile(instance_norm(8), backend=record)
    x = torch.randn(2, 8, 12, 10).contiguous(memory_format=torch.channels_last)
    y = norm(x)
    assert graphs and "var_mean" in graphs[0] and "instance_norm" not in graphs[0]
    assert y.is_contiguous(memory_format=torch.channels_last) and not y.is_contiguous()
    torch.testing.assert_close(y, torch.nn.functional.instance_norm(x.contiguous()),
                               atol=1e-5, rtol=1e-5)
