"""Stride-2 convolutions whose transposed direction goes by output phases: the same function
as conv2d and conv_transpose2d, values and gradients, and the layers that use them only
where they were measured to help."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import recyclegan.models.layers as layers
import recyclegan.models.phase_conv as phase_conv
from call_counter import count_calls
from recyclegan.models.generator import ResnetGenerator
from recyclegan.models.layers import PhaseConv2d, PhaseConvTranspose2d


def _leaves(*shapes, seed: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, dtype=torch.float64, generator=generator) for shape in shapes]


def _grads(conv, leaves_in, wanted, seed: int):
    leaves = [t.clone().requires_grad_(flag) for t, flag in zip(leaves_in, wanted, strict=True)]
    y = conv(*leaves)
    grad_out = torch.randn(y.shape, dtype=y.dtype, generator=torch.Generator().manual_seed(seed))
    y.backward(grad_out)
    return [y.detach()] + [leaf.grad for leaf in leaves]


def _assert_same(got, expected):
    for g, e in zip(got, expected, strict=True):
        if e is None:
            assert g is None
        else:
            torch.testing.assert_close(g, e, rtol=0, atol=1e-10)


# (kernel, padding, output_padding): the generator's 3x3 layers, the U-Net's 4x4 ones, and
# kernels and paddings whose taps fall outside the output on one side or both.
GEOMETRIES = [(3, 1, 1), (4, 1, 0), (3, 0, 1), (1, 0, 1), (5, 2, 1), (2, 0, 0)]
WANTED = [(True, True, True), (True, False, False), (False, True, False), (False, False, True)]


@pytest.mark.parametrize(("kernel", "padding", "output_padding"), GEOMETRIES)
@pytest.mark.parametrize("wanted", WANTED)
def test_transposed_values_and_gradients_match_conv_transpose2d(kernel, padding,
                                                                 output_padding, wanted):
    x, weight, bias = _leaves((2, 5, 6, 7), (5, 4, kernel, kernel), (4,), seed=kernel)

    def ours(a, w, b):
        return phase_conv.phase_conv_transpose2d(a, w, b, padding, output_padding)

    def direct(a, w, b):
        return F.conv_transpose2d(a, w, b, stride=2, padding=padding,
                                  output_padding=output_padding)

    _assert_same(_grads(ours, (x, weight, bias), wanted, seed=1),
                 _grads(direct, (x, weight, bias), wanted, seed=1))


@pytest.mark.parametrize(("kernel", "padding"), [(3, 1), (4, 1), (3, 0), (5, 2), (1, 0)])
@pytest.mark.parametrize("wanted", WANTED)
def test_values_and_gradients_match_strided_conv2d(kernel, padding, wanted):
    x, weight, bias = _leaves((2, 4, 8, 10), (5, 4, kernel, kernel), (5,), seed=kernel)

    def ours(a, w, b):
        return phase_conv.phase_conv2d(a, w, b, padding)

    def direct(a, w, b):
        return F.conv2d(a, w, b, stride=2, padding=padding)

    _assert_same(_grads(ours, (x, weight, bias), wanted, seed=2),
                 _grads(direct, (x, weight, bias), wanted, seed=2))


def test_without_bias_and_odd_sizes_are_refused():
    x, weight = _leaves((1, 3, 4, 6), (3, 2, 3, 3), seed=0)
    _assert_same(_grads(lambda a, w: phase_conv.phase_conv_transpose2d(a, w, None, 1, 1),
                        (x, weight), (True, True), seed=3),
                 _grads(lambda a, w: F.conv_transpose2d(a, w, None, 2, 1, 1),
                        (x, weight), (True, True), seed=3))
    with pytest.raises(ValueError, match="even"):
        phase_conv.phase_conv_transpose2d(x, weight, None, 1, 0)  # 7 x 11
    with pytest.raises(ValueError, match="even"):
        phase_conv.phase_conv2d(torch.randn(1, 2, 5, 6), weight.transpose(0, 1), None, 1)


@pytest.fixture
def calls(monkeypatch):
    """Counts the calls that go by phases, convolutions and transposed ones."""
    return count_calls(monkeypatch, layers,
                       {"phase_conv2d": "conv", "phase_conv_transpose2d": "transposed"})


def _direct(gen: ResnetGenerator) -> None:
    """Sends the generator's stride-2 layers back to nn's own forward."""
    for module in gen.modules():
        if isinstance(module, PhaseConv2d):
            module.forward = lambda t, m=module: torch.nn.Conv2d.forward(m, t)
        elif isinstance(module, PhaseConvTranspose2d):
            module.forward = lambda t, m=module: torch.nn.ConvTranspose2d.forward(m, t)


def test_the_paper_generators_stride_two_layers_take_the_paths(calls):
    """ngf 64 at 128 px: the 64 -> 128 convolution (64x64 out) and the 128 -> 64 transposed
    one (64x64 in) go by phases; the 128 -> 256 pair, at 32x32, stays oneDNN's. Values and
    gradients match nn's layers."""
    torch.manual_seed(0)
    gen = ResnetGenerator(channels=64, blocks=1)
    x = torch.randn(2, 3, 128, 128, requires_grad=True)
    y = gen(x)
    assert calls == {"conv": 1, "transposed": 1}
    y.square().sum().backward()
    got = [x.grad] + [p.grad.clone() for p in gen.parameters()]

    _direct(gen)
    gen.zero_grad()
    x.grad = None
    y_direct = gen(x)
    y_direct.square().sum().backward()
    assert calls == {"conv": 1, "transposed": 1}
    torch.testing.assert_close(y, y_direct, rtol=1e-4, atol=1e-5)
    for g, e in zip(got, [x.grad] + [p.grad for p in gen.parameters()], strict=True):
        # Relative to each whole gradient, as single elements carry fp32 rounding magnified
        # by instance norm; the biases before an instance norm have gradients of rounding
        # size only (about 1e-4 here, against 1e3 for the weights).
        assert (g - e).norm() <= 1e-4 * e.norm() + 1e-2


def test_inference_goes_by_phases_only_where_it_computes_forward(calls):
    """Without gradients the convolution has nothing to gain (its forward pass is oneDNN's);
    the transposed one computes its output by phases, under inference mode too."""
    torch.manual_seed(0)
    gen = ResnetGenerator(channels=64, blocks=1).eval()
    x = torch.randn(1, 3, 128, 128)
    with torch.inference_mode():  # what retargeting runs under
        got = gen(x)
    assert calls == {"conv": 0, "transposed": 1}
    _direct(gen)
    with torch.inference_mode():
        torch.testing.assert_close(got, gen(x), rtol=1e-4, atol=1e-5)


def test_narrow_small_odd_large_and_autocast_stay_direct(calls, monkeypatch):
    def train(layer, x):
        layer(x.requires_grad_()).sum().backward()

    def up(**kwargs):
        return PhaseConvTranspose2d(128, 64, 3, stride=2, padding=1, **kwargs)

    train(PhaseConv2d(16, 32, 3, stride=2, padding=1), torch.randn(1, 16, 128, 128))  # narrow
    train(PhaseConv2d(64, 128, 3, stride=2, padding=1), torch.randn(1, 64, 64, 64))  # 32x32 out
    train(PhaseConv2d(64, 128, 3, stride=2, padding=1), torch.randn(1, 64, 127, 128))  # odd
    train(PhaseConv2d(64, 128, 4, stride=2, padding=1), torch.randn(1, 64, 128, 128))  # 4x4
    train(up(), torch.randn(1, 128, 64, 64))  # a 127x127 output
    with torch.autocast("cpu", dtype=torch.bfloat16):
        train(up(output_padding=1), torch.randn(1, 128, 64, 64))
    monkeypatch.setattr(layers, "PHASE_MAX_BYTES", 4 * 9 * 64 * 64 * 64)  # one 64x64 map set
    train(up(output_padding=1), torch.randn(1, 128, 64, 66))
    assert calls == {"conv": 0, "transposed": 0}
    train(up(output_padding=1), torch.randn(3, 128, 64, 64))  # images that fit, one at a time
    assert calls == {"conv": 0, "transposed": 1}
