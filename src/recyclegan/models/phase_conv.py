"""Stride-2 transposed convolutions by output phases, for the CPU: the generators' 3x3
upsampling layers, and the input gradient of their 3x3 stride-2 downsampling layers (which
is the same operation).

oneDNN runs a stride-2 transposed 3x3 convolution at well under half its rate for an
ordinary convolution of the same arithmetic. Here it is one matrix product per image, onto
one map per kernel tap and output channel, followed by shifted sums. Every tap lands on one
of the four output phases (even or odd row, even or odd column) at an offset of whole
pixels, so each phase is summed contiguously from the taps that land on it and then written
into its interleaved place. On a 2-core AVX-512 Xeon this ran 1.5-2x as fast as oneDNN on
the paper generators' layers at 64 to 128 px (benchmarks/BENCHMARKS.md); for 4x4 kernels
oneDNN was as fast or faster, so the layers use it for 3x3 only. It is exact arithmetic
reordered: results differ by float rounding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _phase_offsets(kernel: int, padding: int) -> list[tuple[int, int]]:
    """(phase, shift) of each tap along one axis: input pixel i, tap t lands on output
    2 * (i + shift) + phase."""
    return [((t - padding) % 2, (t - padding) // 2) for t in range(kernel)]


def _transpose_by_phases(x: Tensor, weight: Tensor, bias: Tensor | None, padding: int,
                         out_h: int, out_w: int) -> Tensor:
    """conv_transpose2d(x, weight, bias, stride=2, padding) with an (out_h, out_w) output,
    both even. weight: (in, out, k, k), as nn.ConvTranspose2d holds it."""
    n, channels, height, width = x.shape
    _, out_channels, kernel, _ = weight.shape
    half_h, half_w = out_h // 2, out_w // 2
    offsets = _phase_offsets(kernel, padding)
    matrix = weight.permute(2, 3, 1, 0).reshape(kernel * kernel * out_channels, channels)
    y = x.new_empty(n, out_channels, half_h, 2, half_w, 2)
    plane = x.new_empty(out_channels, half_h, half_w)
    for image in range(n):
        taps = (matrix @ x[image].reshape(channels, height * width)).view(
            kernel, kernel, out_channels, height, width)
        for row_phase in (0, 1):
            for col_phase in (0, 1):
                _sum_phase(taps, offsets, row_phase, col_phase, plane)
                y[image, :, :, row_phase, :, col_phase].copy_(plane)
    y = y.view(n, out_channels, out_h, out_w)
    if bias is not None:
        y.add_(bias.view(1, -1, 1, 1))
    return y


def _sum_phase(taps: Tensor, offsets: list[tuple[int, int]], row_phase: int, col_phase: int,
               plane: Tensor) -> None:
    """plane (out, half_h, half_w) = the sum of the taps (k, k, out, h, w) that land on this
    phase, each shifted by its whole-pixel offset and cropped to the plane."""
    height, width = taps.shape[3:]
    half_h, half_w = plane.shape[1:]
    started = False
    for ky, (phase_y, shift_y) in enumerate(offsets):
        if phase_y != row_phase:
            continue
        top, bottom = max(0, shift_y), min(half_h, height + shift_y)
        for kx, (phase_x, shift_x) in enumerate(offsets):
            if phase_x != col_phase:
                continue
            left, right = max(0, shift_x), min(half_w, width + shift_x)
            tap = taps[ky, kx, :, top - shift_y:bottom - shift_y, left - shift_x:right - shift_x]
            if not started and (top, bottom, left, right) == (0, half_h, 0, half_w):
                plane.copy_(tap)
            else:
                if not started:
                    plane.zero_()
                plane[:, top:bottom, left:right].add_(tap)
            started = True
    if not started:
        plane.zero_()


class _Stride2Conv(torch.autograd.Function):
    """A stride-2 convolution (transposed or not) whose transposed direction, the forward
    pass of a transposed convolution or the input gradient of an ordinary one, goes by
    phases; the other direction and the weight gradient are oneDNN's."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None,  # type: ignore[override]
                transposed: bool, padding: int, output_padding: int) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias, ctx.transposed = bias is not None, transposed
        ctx.padding, ctx.output_padding = padding, output_padding
        if not transposed:
            return F.conv2d(x, weight, bias, stride=2, padding=padding)
        height, width = x.shape[2:]
        kernel = weight.shape[-1]
        out_h = 2 * (height - 1) - 2 * padding + kernel + output_padding
        out_w = 2 * (width - 1) - 2 * padding + kernel + output_padding
        return _transpose_by_phases(x, weight, bias, padding, out_h, out_w)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_y: Tensor):  # type: ignore[override]
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        padding = ctx.padding
        grad_x = grad_w = grad_b = None
        if need_w or (need_b and ctx.has_bias):
            _, grad_w, grad_b = torch.ops.aten.convolution_backward(
                grad_y, x, weight, [grad_y.shape[1]] if ctx.has_bias else None, [2, 2],
                [padding, padding], [1, 1], ctx.transposed,
                [ctx.output_padding, ctx.output_padding], 1,
                [False, need_w, need_b and ctx.has_bias])
        if need_x:
            if ctx.transposed:
                grad_x = F.conv2d(grad_y, weight, stride=2, padding=padding)
            else:
                grad_x = _transpose_by_phases(grad_y, weight, None, padding, *x.shape[2:])
        return grad_x, grad_w, grad_b, None, None, None


def phase_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None, padding: int) -> Tensor:
    """conv2d(x, weight, bias, stride=2, padding) for an input of even height and width, whose
    input gradient is computed by phases."""
    if x.shape[2] % 2 or x.shape[3] % 2:
        raise ValueError(f"phase_conv2d needs an even input size, got {tuple(x.shape[2:])}")
    return _Stride2Conv.apply(x, weight, bias, False, padding, 0)


def phase_conv_transpose2d(x: Tensor, weight: Tensor, bias: Tensor | None, padding: int,
                           output_padding: int) -> Tensor:
    """conv_transpose2d(x, weight, bias, stride=2, padding, output_padding) by phases, for an
    output of even height and width (its input gradient is oneDNN's stride-2 convolution)."""
    kernel = weight.shape[-1]
    for size in x.shape[2:]:
        if (2 * (size - 1) - 2 * padding + kernel + output_padding) % 2:
            raise ValueError("phase_conv_transpose2d needs an output of even height and width")
    return _Stride2Conv.apply(x, weight, bias, True, padding, output_padding)
