"""Convolutions with few channels on one side, for the CPU: the generators' 7x7 first layer
(3 -> 64 channels) and last layer (64 -> 3).

oneDNN runs the last layer, and the input gradient of the first, far below its usual rate:
three channels fill little of a vector register. Both are instead one matrix product onto
(narrow side) x 49 channels, one per kernel tap and narrow channel, and 49 shifted sums of
those maps. The product runs at the matrix library's full rate and the sums are cheap, on
three channels. On a 2-core AVX-512 Xeon this ran the last layer's forward and backward, and
the first layer's input gradient, about twice as fast as oneDNN at 128 px (benchmarks/
BENCHMARKS.md). It works one image at a time, so that the tap maps of one image are all it
holds. It is exact arithmetic reordered: results differ by float rounding.
"""

from __future__ import annotations

import torch
from torch import Tensor


def sum_shifted(taps: Tensor, out: Tensor) -> None:
    """out (c, out_h, out_w) = the sum over di, dj of taps (c, k, k, H, W) at [di, dj, i + di,
    j + dj]: each tap's map, shifted into place and summed."""
    kernel = taps.shape[1]
    out_h, out_w = out.shape[1:]
    out.copy_(taps[:, 0, 0, :out_h, :out_w])
    for di in range(kernel):
        for dj in range(kernel):
            if di or dj:
                out.add_(taps[:, di, dj, di:di + out_h, dj:dj + out_w])


def spread_shifted(grad_y: Tensor, kernel: int, height: int, width: int) -> Tensor:
    """The adjoint of `sum_shifted`: grad_y (c, out_h, out_w) -> (c, k, k, H, W), tap (di, dj)
    holding grad_y shifted by (di, dj) and zero elsewhere."""
    channels, out_h, out_w = grad_y.shape
    taps = grad_y.new_zeros(channels, kernel, kernel, height, width)
    for di in range(kernel):
        for dj in range(kernel):
            taps[:, di, dj, di:di + out_h, dj:dj + out_w] = grad_y
    return taps


def scatter_shifted(taps: Tensor, out: Tensor) -> None:
    """out (c, H, W) = the sum of taps (c, k, k, out_h, out_w) put back at [i + di, j + dj]:
    the input gradient of a convolution, one tap at a time."""
    kernel, _, out_h, out_w = taps.shape[1:]
    out.zero_()
    for di in range(kernel):
        for dj in range(kernel):
            out[:, di:di + out_h, dj:dj + out_w].add_(taps[:, di, dj])


def _taps_by_output(weight: Tensor) -> Tensor:
    """(out, in, k, k) -> (out * k * k, in): row (o, di, dj) holds tap (di, dj) of output o."""
    return weight.permute(0, 2, 3, 1).reshape(-1, weight.shape[1])


def _taps_by_input(weight: Tensor) -> Tensor:
    """(out, in, k, k) -> (in * k * k, out): row (c, di, dj) holds tap (di, dj) of input c."""
    return weight.permute(1, 2, 3, 0).reshape(-1, weight.shape[0])


class _ShiftedConv(torch.autograd.Function):
    """conv2d (stride 1, no padding) with few channels on one side. Few outputs: all of it by
    shifted sums. Few inputs: oneDNN's forward and weight gradient, the input gradient by
    shifted sums."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None,  # type: ignore[override]
                few_outputs: bool) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias, ctx.few_outputs = bias is not None, few_outputs
        if not few_outputs:
            return torch.nn.functional.conv2d(x, weight, bias)
        n, channels, height, width = x.shape
        out_channels, _, kernel, _ = weight.shape
        matrix = _taps_by_output(weight)
        y = x.new_empty(n, out_channels, height - kernel + 1, width - kernel + 1)
        for image, out in zip(x, y, strict=True):
            taps = matrix @ image.reshape(channels, height * width)
            sum_shifted(taps.view(out_channels, kernel, kernel, height, width), out)
        if bias is not None:
            y.add_(bias.view(1, -1, 1, 1))
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_y: Tensor):  # type: ignore[override]
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        grad_b = grad_y.sum((0, 2, 3)) if need_b and ctx.has_bias else None
        grads = _few_outputs_grads if ctx.few_outputs else _few_inputs_grads
        return (*grads(grad_y, x, weight, need_x, need_w), grad_b, None)


def _few_outputs_grads(grad_y: Tensor, x: Tensor, weight: Tensor, need_x: bool, need_w: bool
                       ) -> tuple[Tensor | None, Tensor | None]:
    """Input and weight gradients of a few-outputs convolution: grad_y spread over the taps,
    then one product each."""
    if not (need_x or need_w):
        return None, None
    n, channels, height, width = x.shape
    out_channels, _, kernel, _ = weight.shape
    matrix = _taps_by_output(weight)
    grad_x = x.new_empty(n, channels, height, width) if need_x else None
    grad_w = None
    for index in range(n):
        grad_taps = spread_shifted(grad_y[index], kernel, height, width).view(
            out_channels * kernel * kernel, height * width)
        if need_w:
            image = x[index].reshape(channels, height * width)
            if grad_w is None:
                grad_w = grad_taps @ image.t()
            else:
                grad_w.addmm_(grad_taps, image.t())
        if grad_x is not None:
            torch.mm(matrix.t(), grad_taps, out=grad_x[index].view(channels, height * width))
    if grad_w is not None:
        grad_w = grad_w.view(out_channels, kernel, kernel, channels).permute(0, 3, 1, 2)
    return grad_x, grad_w


def _few_inputs_grads(grad_y: Tensor, x: Tensor, weight: Tensor, need_x: bool, need_w: bool
                      ) -> tuple[Tensor | None, Tensor | None]:
    """Input and weight gradients of a few-inputs convolution: oneDNN's weight gradient, and
    the input gradient as one product onto the taps of each input channel, scattered."""
    grad_x = grad_w = None
    if need_w:
        grad_w = torch.ops.aten.convolution_backward(
            grad_y, x, weight, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1,
            [False, True, False])[1]
    if need_x:
        n, channels, height, width = x.shape
        out_channels, _, kernel, _ = weight.shape
        out_h, out_w = grad_y.shape[2:]
        matrix = _taps_by_input(weight)
        grad_x = x.new_empty(n, channels, height, width)
        for grad, out in zip(grad_y, grad_x, strict=True):
            taps = matrix @ grad.reshape(out_channels, out_h * out_w)
            scatter_shifted(taps.view(channels, kernel, kernel, out_h, out_w), out)
    return grad_x, grad_w


def few_outputs_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """conv2d(x, weight, bias), stride 1, no padding, as one matrix product onto
    out_channels * k * k maps and their shifted sums (forward and backward)."""
    return _ShiftedConv.apply(x, weight, bias, True)


def few_inputs_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """conv2d(x, weight, bias), stride 1, no padding, whose input gradient is one matrix
    product onto in_channels * k * k maps and their shifted sums."""
    return _ShiftedConv.apply(x, weight, bias, False)
