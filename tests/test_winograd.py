"""Winograd 3x3 convolution: the same function as conv2d, values and gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import recyclegan.models.layers as layers
from recyclegan.models.layers import Conv3x3, ResidualBlock
from recyclegan.models.winograd import winograd_conv3x3

SHAPES = [(1, 3, 3, 3), (1, 4, 7, 9), (2, 5, 10, 10), (3, 2, 13, 6), (1, 6, 34, 34)]


@pytest.mark.parametrize("tile", [2, 4, None])
@pytest.mark.parametrize("shape", SHAPES)
def test_matches_conv2d_in_float64(shape, tile):
    generator = torch.Generator().manual_seed(sum(shape))
    x = torch.randn(*shape, dtype=torch.float64, generator=generator)
    weight = torch.randn(5, shape[1], 3, 3, dtype=torch.float64, generator=generator)
    bias = torch.randn(5, dtype=torch.float64, generator=generator)
    expected = F.conv2d(x, weight, bias)
    got = winograd_conv3x3(x, weight, bias, tile)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-11)


@pytest.mark.parametrize("tile", [2, 4])
def test_gradients_match_conv2d(tile):
    generator = torch.Generator().manual_seed(tile)
    x = torch.randn(2, 4, 11, 8, dtype=torch.float64, generator=generator)
    weight = torch.randn(3, 4, 3, 3, dtype=torch.float64, generator=generator)
    bias = torch.randn(3, dtype=torch.float64, generator=generator)
    grad_out = torch.randn(2, 3, 9, 6, dtype=torch.float64, generator=generator)

    def grads(conv):
        leaves = [t.clone().requires_grad_() for t in (x, weight, bias)]
        conv(*leaves).backward(grad_out)
        return [leaf.grad for leaf in leaves]

    for got, expected in zip(grads(lambda *a: winograd_conv3x3(*a, tile=tile)),
                             grads(F.conv2d), strict=True):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("wanted", [(True, False, False), (False, True, True),
                                    (False, False, True)])
def test_gradients_of_some_inputs_in_channels_last(wanted):
    generator = torch.Generator().manual_seed(sum(wanted))
    x = torch.randn(2, 4, 12, 9, dtype=torch.float64, generator=generator).contiguous(
        memory_format=torch.channels_last)
    weight = torch.randn(3, 4, 3, 3, dtype=torch.float64, generator=generator)
    bias = torch.randn(3, dtype=torch.float64, generator=generator)
    grad_out = torch.randn(2, 3, 10, 7, dtype=torch.float64, generator=generator).contiguous(
        memory_format=torch.channels_last)

    def grads(conv):
        leaves = [t.clone().requires_grad_(flag) for t, flag in zip((x, weight, bias), wanted,
                                                                     strict=True)]
        conv(*leaves).backward(grad_out)
        return [leaf.grad for leaf in leaves]

    for got, expected in zip(grads(lambda *a: winograd_conv3x3(*a, tile=4)), grads(F.conv2d),
                             strict=True):
        if expected is None:
            assert got is None
        else:
            torch.testing.assert_close(got, expected, rtol=0, atol=1e-10)


def test_float32_error_is_float_rounding():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 64, 34, 34, generator=generator)
    weight = torch.randn(64, 64, 3, 3, generator=generator) * 0.05
    expected = F.conv2d(x.double(), weight.double()).float()
    for tile in (2, 4):
        error = (winograd_conv3x3(x, weight, tile=tile) - expected).abs().max()
        assert error / expected.abs().max() < 5e-5


def test_rejects_a_kernel_that_is_not_3x3():
    with pytest.raises(ValueError, match="3, 3"):
        winograd_conv3x3(torch.zeros(1, 2, 8, 8), torch.zeros(4, 2, 5, 5))


@pytest.fixture
def calls(monkeypatch):
    """Counts the calls Conv3x3 makes to the Winograd path."""
    count = []

    def counted(*args, **kwargs):
        count.append(1)
        return winograd_conv3x3(*args, **kwargs)

    monkeypatch.setattr(layers, "winograd_conv3x3", counted)
    return count


def test_wide_cpu_fp32_convolutions_take_the_winograd_path(calls):
    torch.manual_seed(0)
    conv = Conv3x3(256, 8)
    x = torch.randn(1, 256, 18, 18)
    got = conv(x)
    assert len(calls) == 1
    expected = F.conv2d(x.double(), conv.weight.double(), conv.bias.double()).float()
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_narrow_autocast_and_float64_convolutions_stay_direct(calls):
    x = torch.randn(1, 16, 18, 18)
    Conv3x3(16, 16)(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        Conv3x3(256, 8)(torch.randn(1, 256, 18, 18))
    Conv3x3(256, 8).double()(torch.randn(1, 256, 18, 18, dtype=torch.float64))
    assert calls == []


def test_small_outputs_stay_direct(calls):
    conv = Conv3x3(256, 8)
    conv(torch.randn(1, 256, 10, 10))  # 8x8 outputs: under WINOGRAD_MIN_OUTPUTS
    assert calls == []
    conv(torch.randn(4, 256, 10, 10))  # the same, four times over the batch
    assert len(calls) == 1


def test_checkpoints_keep_the_layout_of_a_plain_conv2d():
    block = ResidualBlock(8)
    convs = [m for m in block.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 2 and all(isinstance(m, Conv3x3) for m in convs)
    plain = torch.nn.Conv2d(8, 8, 3)
    assert convs[0].state_dict().keys() == plain.state_dict().keys()
    assert convs[0].weight.shape == plain.weight.shape
