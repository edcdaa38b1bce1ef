"""Winograd 3x3 convolution: the same function as conv2d, values and gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import recyclegan.models.layers as layers
from recyclegan.models.discriminator import PatchDiscriminator
from recyclegan.models.layers import ResidualBlock, WinogradConv2d
from recyclegan.models.winograd import TRANSFORMS, winograd_conv2d

SHAPES = [(1, 3, 3, 3), (1, 4, 7, 9), (2, 5, 10, 10), (3, 2, 13, 6), (1, 6, 34, 34)]
TILINGS = [(2, 3), (4, 3), (None, 3), (3, 4), (None, 4)]  # (tile, kernel)


@pytest.mark.parametrize("tile_kernel", list(TRANSFORMS))
def test_each_transform_is_an_exact_correlation(tile_kernel):
    """A^T [(G g) * (B^T d)] is the 1-D correlation of g with d, for every basis g and d."""
    tile, kernel = tile_kernel
    input_t, weight_t, output_t = (torch.tensor(m, dtype=torch.float64)
                                   for m in TRANSFORMS[tile_kernel])
    span = tile + kernel - 1
    for g in torch.eye(kernel, dtype=torch.float64):
        for d in torch.eye(span, dtype=torch.float64):
            expected = torch.stack([(g * d[i:i + kernel]).sum() for i in range(tile)])
            torch.testing.assert_close(output_t @ ((weight_t @ g) * (input_t @ d)), expected,
                                       rtol=0, atol=1e-14)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize(("shape", "tile_kernel"), [
    (shape, tiling) for shape in SHAPES for tiling in TILINGS if min(shape[2:]) >= tiling[1]])
def test_matches_conv2d_in_float64(shape, tile_kernel, layout):
    tile, kernel = tile_kernel
    generator = torch.Generator().manual_seed(sum(shape))
    x = torch.randn(*shape, dtype=torch.float64, generator=generator).contiguous(
        memory_format=layout)
    weight = torch.randn(5, shape[1], kernel, kernel, dtype=torch.float64, generator=generator)
    bias = torch.randn(5, dtype=torch.float64, generator=generator)
    expected = F.conv2d(x, weight, bias)
    got = winograd_conv2d(x, weight, bias, tile)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-11)
    # a channels-last input gives a channels-last output (cropped to size, a view)
    assert (got.stride(1) == 1) == (layout == torch.channels_last)


@pytest.mark.parametrize("tile_kernel", [(2, 3), (4, 3), (3, 4)])
def test_gradients_match_conv2d(tile_kernel):
    tile, kernel = tile_kernel
    generator = torch.Generator().manual_seed(tile)
    x = torch.randn(2, 4, 11, 8, dtype=torch.float64, generator=generator)
    weight = torch.randn(3, 4, kernel, kernel, dtype=torch.float64, generator=generator)
    bias = torch.randn(3, dtype=torch.float64, generator=generator)
    grad_out = torch.randn(2, 3, 12 - kernel, 9 - kernel, dtype=torch.float64,
                           generator=generator)

    def grads(conv):
        leaves = [t.clone().requires_grad_() for t in (x, weight, bias)]
        conv(*leaves).backward(grad_out)
        return [leaf.grad for leaf in leaves]

    for got, expected in zip(grads(lambda *a: winograd_conv2d(*a, tile=tile)),
                             grads(F.conv2d), strict=True):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("wanted", [(True, True, True), (True, False, False),
                                    (False, True, True), (False, False, True)])
@pytest.mark.parametrize("tile_kernel", [(2, 3), (4, 3), (3, 4)])
@pytest.mark.parametrize("grad_layout", [torch.contiguous_format, torch.channels_last])
def test_gradients_of_some_inputs_in_channels_last(wanted, tile_kernel, grad_layout):
    """A channels-last input goes by the NHWC tiles; the gradient flowing back may come in
    either layout."""
    tile, kernel = tile_kernel
    generator = torch.Generator().manual_seed(sum(wanted))
    x = torch.randn(2, 4, 12, 9, dtype=torch.float64, generator=generator).contiguous(
        memory_format=torch.channels_last)
    weight = torch.randn(3, 4, kernel, kernel, dtype=torch.float64, generator=generator)
    bias = torch.randn(3, dtype=torch.float64, generator=generator)
    grad_out = torch.randn(2, 3, 13 - kernel, 10 - kernel, dtype=torch.float64,
                           generator=generator).contiguous(memory_format=grad_layout)

    def grads(conv):
        leaves = [t.clone().requires_grad_(flag) for t, flag in zip((x, weight, bias), wanted,
                                                                     strict=True)]
        conv(*leaves).backward(grad_out)
        return [leaf.grad for leaf in leaves]

    for got, expected in zip(grads(lambda *a: winograd_conv2d(*a, tile=tile)), grads(F.conv2d),
                             strict=True):
        if expected is None:
            assert got is None
        else:
            torch.testing.assert_close(got, expected, rtol=0, atol=1e-10)


def test_float32_error_is_float_rounding():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 64, 34, 34, generator=generator)
    for tile, kernel in ((2, 3), (4, 3), (3, 4)):
        weight = torch.randn(64, 64, kernel, kernel, generator=generator) * 0.05
        expected = F.conv2d(x.double(), weight.double()).float()
        error = (winograd_conv2d(x, weight, tile=tile) - expected).abs().max()
        assert error / expected.abs().max() < 5e-5


def test_rejects_kernels_and_tiles_it_has_no_transform_for():
    with pytest.raises(ValueError, match="4, 4"):
        winograd_conv2d(torch.zeros(1, 2, 8, 8), torch.zeros(4, 2, 5, 5))
    with pytest.raises(ValueError, match="no Winograd transform"):
        winograd_conv2d(torch.zeros(1, 2, 8, 8), torch.zeros(4, 2, 4, 4), tile=2)


@pytest.fixture
def calls(monkeypatch):
    """Counts the calls WinogradConv2d makes to the Winograd path."""
    count = []

    def counted(*args, **kwargs):
        count.append(1)
        return winograd_conv2d(*args, **kwargs)

    monkeypatch.setattr(layers, "winograd_conv2d", counted)
    return count


def test_wide_cpu_fp32_convolutions_take_the_winograd_path(calls):
    torch.manual_seed(0)
    conv = WinogradConv2d(256, 8, 3)
    x = torch.randn(1, 256, 18, 18)
    got = conv(x)
    assert len(calls) == 1
    expected = F.conv2d(x.double(), conv.weight.double(), conv.bias.double()).float()
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_narrow_autocast_and_float64_convolutions_stay_direct(calls):
    x = torch.randn(1, 16, 18, 18)
    WinogradConv2d(16, 16, 3)(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        WinogradConv2d(256, 8, 3)(torch.randn(1, 256, 18, 18))
    WinogradConv2d(256, 8, 3).double()(torch.randn(1, 256, 18, 18, dtype=torch.float64))
    assert calls == []


def test_small_outputs_stay_direct(calls):
    conv = WinogradConv2d(256, 8, 3)
    conv(torch.randn(1, 256, 10, 10))  # 8x8 outputs: under WINOGRAD_MIN_OUTPUTS
    assert calls == []
    conv(torch.randn(4, 256, 10, 10))  # the same, four times over the batch
    assert len(calls) == 1


def test_the_discriminators_padded_4x4_convolution_takes_it(calls, monkeypatch):
    torch.manual_seed(0)
    disc = PatchDiscriminator(channels=32)  # its stride-1 convolution is 128 -> 256 wide
    conv = next(m for m in disc.modules() if isinstance(m, WinogradConv2d))
    assert (conv.in_channels, conv.kernel_size, conv.stride, conv.padding) == (
        128, (4, 4), (1, 1), (1, 1))
    monkeypatch.setattr(layers, "WINOGRAD_MIN_CHANNELS", 128)
    x = torch.randn(2, 3, 128, 128)
    got = disc(x)
    assert len(calls) == 1
    conv.forward = lambda x: torch.nn.Conv2d.forward(conv, x)  # the direct path
    torch.testing.assert_close(got, disc(x), rtol=1e-4, atol=1e-5)


def test_checkpoints_keep_the_layout_of_a_plain_conv2d():
    block = ResidualBlock(8)
    convs = [m for m in block.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 2 and all(isinstance(m, WinogradConv2d) for m in convs)
    plain = torch.nn.Conv2d(8, 8, 3)
    assert convs[0].state_dict().keys() == plain.state_dict().keys()
    assert convs[0].weight.shape == plain.weight.shape
