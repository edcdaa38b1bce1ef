"""Convolutions with few channels on one side, for the CPU: the generators' 7x7 first layer
(3 -> 64 channels) and last layer (64 -> 3).

oneDNN runs the last layer, and the input gradient of the first, far below its usual rate:
three channels fill little of a vector register. Both are instead one matrix product onto
(narrow side) x 49 channels, one per kernel tap and narrow channel, and 49 shifted sums of
those maps. The product runs at the matrix library's full rate and the sums are cheap, on
three channels. On a 2-core AVX2 CPU this ran the last layer's forward and backward, and the
first layer's input gradient, about twice as fast as oneDNN at 128 px (benchmarks/
BENCHMARKS.md). It is exact arithmetic reordered: results differ by float rounding.
"""

from __future__ import annotations

import torch
from torch import Tensor


def sum_shifted(taps: Tensor, out_h: int, out_w: int) -> Tensor:
    """taps (n, c, k, k, H, W) -> y (n, c, out_h, out_w), y[i, j] = sum over di, dj of
    taps[di, dj, i + di, j + dj]: each tap's map, shifted into place and summed."""
    kernel = taps.shape[2]
    y = taps[:, :, 0, 0, :out_h, :out_w].clone()
    for di in range(kernel):
        for dj in range(kernel):
            if di or dj:
                y.add_(taps[:, :, di, dj, di:di + out_h, dj:dj + out_w])
    return y


def spread_shifted(grad_y: Tensor, kernel: int, height: int, width: int) -> Tensor:
    """The adjoint of `sum_shifted`: grad_y (n, c, out_h, out_w) -> (n, c, k, k, H, W), tap
    (di, dj) holding grad_y shifted by (di, dj) and zero elsewhere."""
    n, channels, out_h, out_w = grad_y.shape
    taps = grad_y.new_zeros(n, channels, kernel, kernel, height, width)
    for di in range(kernel):
        for dj in range(kernel):
            taps[:, :, di, dj, di:di + out_h, dj:dj + out_w] = grad_y
    return taps


def scatter_shifted(taps: Tensor, height: int, width: int) -> Tensor:
    """taps (n, c, k, k, out_h, out_w) -> x (n, c, H, W), x[i + di, j + dj] += taps[di, dj,
    i, j]: the input gradient of a convolution, one tap at a time."""
    n, channels, kernel, _, out_h, out_w = taps.shape
    x = taps.new_zeros(n, channels, height, width)
    for di in range(kernel):
        for dj in range(kernel):
            x[:, :, di:di + out_h, dj:dj + out_w].add_(taps[:, :, di, dj])
    return x


def _taps_by_output(weight: Tensor) -> Tensor:
    """(out, in, k, k) -> (out * k * k, in): row (o, di, dj) holds tap (di, dj) of output o."""
    return weight.permute(0, 2, 3, 1).reshape(-1, weight.shape[1])


def _taps_by_input(weight: Tensor) -> Tensor:
    """(out, in, k, k) -> (in * k * k, out): row (c, di, dj) holds tap (di, dj) of input c."""
    return weight.permute(1, 2, 3, 0).reshape(-1, weight.shape[0])


def _each_image(matrix: Tensor, images: Tensor) -> Tensor:
    """matrix (m, k) @ images (n, k, l) -> (n, m, l), one product per image written in place:
    torch.matmul's broadcast copied the (large) result once more."""
    out = images.new_empty(images.shape[0], matrix.shape[0], images.shape[2])
    for image, result in zip(images, out, strict=True):
        torch.mm(matrix, image, out=result)
    return out


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
        taps = _each_image(_taps_by_output(weight), x.reshape(n, channels, height * width)).view(
            n, out_channels, kernel, kernel, height, width)
        y = sum_shifted(taps, height - kernel + 1, width - kernel + 1)
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
    grad_taps = spread_shifted(grad_y, kernel, height, width).view(
        n, out_channels * kernel * kernel, height * width)
    flat_x = x.reshape(n, channels, height * width)
    grad_x = grad_w = None
    if need_w:
        grad_w = grad_taps[0] @ flat_x[0].t()
        for taps, image in zip(grad_taps[1:], flat_x[1:], strict=True):
            grad_w.addmm_(taps, image.t())
        grad_w = grad_w.view(out_channels, kernel, kernel, channels).permute(0, 3, 1, 2)
    if need_x:
        grad_x = _each_image(_taps_by_output(weight).t(), grad_taps).view(
            n, channels, height, width)
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
        taps = _each_image(_taps_by_input(weight), grad_y.reshape(n, out_channels, out_h * out_w))
        grad_x = scatter_shifted(taps.view(n, channels, kernel, kernel, out_h, out_w),
                                 height, width)
    return grad_x, grad_w


def few_outputs_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """conv2d(x, weight, bias), stride 1, no padding, as one matrix product onto
    out_channels * k * k maps and their shifted sums (forward and backward)."""
    return _ShiftedConv.apply(x, weight, bias, True)


def few_inputs_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """conv2d(x, weight, bias), stride 1, no padding, whose input gradient is one matrix
    product onto in_channels * k * k maps and their shifted sums."""
    return _ShiftedConv.apply(x, weight, bias, False)
