"""Convolutions by shifted sums: the same function as conv2d, values and gradients, and the
layers that use them only where they were measured to help."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import recyclegan.models.layers as layers
from call_counter import count_calls
from recyclegan.models.generator import ResnetGenerator
from recyclegan.models.layers import ShiftConv2d
from recyclegan.models.shift_conv import few_inputs_conv2d, few_outputs_conv2d


def _case(in_ch: int, out_ch: int, kernel: int, seed: int, dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(2, in_ch, 11, 9, dtype=dtype, generator=generator)
    weight = torch.randn(out_ch, in_ch, kernel, kernel, dtype=dtype, generator=generator)
    bias = torch.randn(out_ch, dtype=dtype, generator=generator)
    grad_out = torch.randn(2, out_ch, 12 - kernel, 10 - kernel, dtype=dtype,
                           generator=generator)
    return x, weight, bias, grad_out


def _grads(conv, leaves_in, wanted, grad_out):
    leaves = [t.clone().requires_grad_(flag) for t, flag in zip(leaves_in, wanted, strict=True)]
    y = conv(*leaves)
    y.backward(grad_out)
    return [y.detach()] + [leaf.grad for leaf in leaves]


@pytest.mark.parametrize("conv", [few_outputs_conv2d, few_inputs_conv2d])
@pytest.mark.parametrize("kernel", [1, 3, 7])
@pytest.mark.parametrize("wanted", [(True, True, True), (True, False, False),
                                    (False, True, False), (False, False, True)])
def test_values_and_gradients_match_conv2d(conv, kernel, wanted):
    case = _case(5, 3, kernel, seed=kernel) if conv is few_outputs_conv2d else _case(
        3, 5, kernel, seed=kernel)
    x, weight, bias, grad_out = case
    got = _grads(conv, (x, weight, bias), wanted, grad_out)
    expected = _grads(F.conv2d, (x, weight, bias), wanted, grad_out)
    for g, e in zip(got, expected, strict=True):
        if e is None:
            assert g is None
        else:
            torch.testing.assert_close(g, e, rtol=0, atol=1e-10)


@pytest.mark.parametrize("conv", [few_outputs_conv2d, few_inputs_conv2d])
def test_without_bias(conv):
    in_ch, out_ch = (6, 2) if conv is few_outputs_conv2d else (2, 6)
    x, weight, _, grad_out = _case(in_ch, out_ch, 3, seed=1)
    got = _grads(lambda a, w: conv(a, w), (x, weight), (True, True), grad_out)
    expected = _grads(F.conv2d, (x, weight), (True, True), grad_out)
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=0, atol=1e-10)


@pytest.fixture
def calls(monkeypatch):
    """Counts the calls ShiftConv2d makes to each shifted-sum path."""
    return count_calls(monkeypatch, layers,
                       {"few_outputs_conv2d": "outputs", "few_inputs_conv2d": "inputs"})


def test_the_paper_generators_rgb_layers_take_the_paths_in_training(calls):
    """ngf 64: the last layer (64 -> 3) by shifted sums, and the first (3 -> 64) when its
    input needs a gradient (a generator fed another network's output), with the same values
    and gradients as nn.Conv2d."""
    torch.manual_seed(0)
    gen = ResnetGenerator(channels=64, blocks=1)
    first, last = gen.net[0][1], gen.net[-2]
    assert isinstance(first, ShiftConv2d) and isinstance(last, ShiftConv2d)
    x = torch.randn(1, 3, 32, 32, requires_grad=True)
    y = gen(x)
    assert calls == {"outputs": 1, "inputs": 1}
    y.square().sum().backward()
    got = [x.grad, first.weight.grad, last.weight.grad, last.bias.grad]

    for conv in (first, last):
        conv.forward = lambda t, conv=conv: torch.nn.Conv2d.forward(conv, t)  # direct path
    gen.zero_grad()
    x.grad = None
    y_direct = gen(x)
    y_direct.square().sum().backward()
    torch.testing.assert_close(y, y_direct, rtol=1e-4, atol=1e-5)
    for g, e in zip(got, [x.grad, first.weight.grad, last.weight.grad, last.bias.grad],
                    strict=True):
        torch.testing.assert_close(g, e, rtol=1e-3, atol=1e-4)


def test_inference_and_frames_that_need_no_gradient_leave_the_first_layer_to_onednn(calls):
    torch.manual_seed(0)
    gen = ResnetGenerator(channels=64, blocks=1)
    x = torch.randn(1, 3, 16, 16)
    gen(x)
    with torch.no_grad():
        gen(torch.randn(1, 3, 16, 16, requires_grad=True))
    with torch.inference_mode():  # what retargeting runs under
        got = gen(x)
    assert calls == {"outputs": 3, "inputs": 0}
    last = gen.net[-2]
    last.forward = lambda t: torch.nn.Conv2d.forward(last, t)  # the direct path
    with torch.inference_mode():
        torch.testing.assert_close(got, gen(x), rtol=1e-4, atol=1e-5)


def test_narrow_networks_autocast_and_large_images_stay_direct(calls, monkeypatch):
    ResnetGenerator(channels=16, blocks=1)(torch.randn(1, 3, 16, 16, requires_grad=True))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ShiftConv2d(64, 3, 7)(torch.randn(1, 64, 16, 16))
    ShiftConv2d(64, 3, 7, stride=2)(torch.randn(1, 64, 16, 16))
    ShiftConv2d(64, 3, 7, padding=3)(torch.randn(1, 64, 16, 16))
    ShiftConv2d(64, 8, 7)(torch.randn(1, 64, 16, 16))  # 8 x 49 maps: too many
    monkeypatch.setattr(layers, "SHIFT_MAX_BYTES", 4 * 3 * 49 * 16 * 16)  # one 16x16 image
    ShiftConv2d(64, 3, 7)(torch.randn(1, 64, 17, 16))  # an image whose maps do not fit
    assert calls == {"outputs": 0, "inputs": 0}
    ShiftConv2d(64, 3, 7)(torch.randn(4, 64, 16, 16))  # images that do, one at a time
    assert calls == {"outputs": 1, "inputs": 0}
