"""3x3 and 4x4 convolutions by Winograd's minimal filtering, for the CPU.

The ResNet blocks' 3x3 convolutions were the largest part of a CPU training step (about 45%
at 128 px), and oneDNN already runs them near the CPU's matrix rate, so the way to go faster
is less arithmetic. Winograd's F(m x m, r x r) (Lavin and Gray, 2016) computes each m x m
output tile from an (m+r-1) x (m+r-1) input tile with (m+r-1)^2 multiplications instead of
m^2 r^2: 2.25x fewer for F(2x2, 3x3), 4x for F(4x4, 3x3) and for F(3x3, 4x4), which serves
the discriminator's stride-1 4x4 convolution. The products become one batched matrix product
between transformed weights and transformed input tiles, in the forward pass and both
products of the backward pass. The tile transforms are matrix products too, one per
transform over all tiles at once (`_WinogradConv`), inside a custom autograd function whose
backward pass is written by hand: letting autograd differentiate unfolded copies cost a slow
scatter.

Channels-last (NHWC) inputs keep their layout: their tiles are gathered with each pixel's
channels as one contiguous run, the products are taken the other way round (tiles by
channels times channels by outputs), and the output is channels-last too. On a 2-core
AVX-512 Xeon a 256-channel layer at 32x32 ran forward 1.34-1.41x and forward and backward
1.18-1.32x as fast as from NCHW, whose tiles are gathered a few floats at a time.

It is exact arithmetic reordered, not an approximation; in fp32 the results differ from a
direct convolution by float rounding (relative error about 1e-5 with 6x6 tiles, tested).
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import Tensor

# (B^T, G, A^T) of F(m x m, r x r) keyed by (m, r): Y = A^T [(G g G^T) * (B^T d B)] A. Points
# 0, 1, -1 and infinity for F(2x2, 3x3); 0, 1, -1, 2, -2 and infinity for the 6x6 tiles of
# F(4x4, 3x3) and F(3x3, 4x4), which share B^T. tests/test_winograd.py checks each identity.
_POINTS_6 = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
             [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]
TRANSFORMS: dict[tuple[int, int], tuple[list[list[float]], ...]] = {
    (2, 3): ([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
             [[1, 0, 0], [1 / 2, 1 / 2, 1 / 2], [1 / 2, -1 / 2, 1 / 2], [0, 0, 1]],
             [[1, 1, 1, 0], [0, 1, -1, -1]]),
    (4, 3): (_POINTS_6,
             [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
              [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]],
             [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
              [0, 1, -1, 8, -8, 1]]),
    (3, 4): (_POINTS_6,
             [[1 / 4, 0, 0, 0], [-1 / 6, -1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6, 1 / 6],
              [1 / 24, 1 / 12, 1 / 6, 1 / 3], [1 / 24, -1 / 12, 1 / 6, -1 / 3], [0, 0, 0, 1]],
             [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 1]]),
}
_WEIGHT_KRONECKER = {
    key: torch.kron(torch.tensor(g, dtype=torch.float64), torch.tensor(g, dtype=torch.float64))
    for key, (_, g, _) in TRANSFORMS.items()
}
"""kron(G, G): vec(G g G^T) of a row-major flattened r x r kernel as one matrix product."""
LARGE_TILE_MIN_TILES = 64
"""F(4x4) when the input makes at least this many 4x4 output tiles, else F(2x2): with fewer,
its 36 matrix products are too small to run well (measured on a 2-core AVX2 CPU: even at
64 tiles, 256 channels; clearly better from 128)."""

Matrix = list[list[float]]


def _kronecker(matrix: Matrix) -> Tensor:
    """kron(M, M): the 2-D transform X -> M X M^T of every tile, flattened row-major,
    as one matrix applied to all tiles at once."""
    m = torch.tensor(matrix, dtype=torch.float64)
    return torch.kron(m, m)


_INPUT_KRONECKER = {key: _kronecker(b) for key, (b, _, _) in TRANSFORMS.items()}
_OUTPUT_KRONECKER = {key: _kronecker(a) for key, (_, _, a) in TRANSFORMS.items()}


def _gather_tiles(x: Tensor, span: int, step: int, tiles_h: int, tiles_w: int) -> Tensor:
    """Every span x span tile of x (n, c, h, w) at stride `step`, as a (span * span, c * n *
    tiles) matrix: one column per channel and tile. Rows of tiles are copied first, whole
    image rows at a time, then columns from that copy: two passes with longer contiguous runs
    ran faster than one gather of the six-dimensional view."""
    n, channels, _, width = x.shape
    s = x.stride()
    rows = x.as_strided((span, channels, n, tiles_h, width),
                        (s[2], s[1], s[0], step * s[2], s[3])).contiguous()
    r = rows.stride()
    return rows.as_strided((span, span, channels, n, tiles_h, tiles_w),
                           (r[0], r[4], r[1], r[2], r[3], step * r[4])).reshape(span * span, -1)


def _overlap_add(tiles: Tensor, out: Tensor, step: int) -> None:
    """The adjoint of `_gather_tiles`: out (n, c, h, w) = the sum of the tiles (span, span, c,
    n, tiles_h, tiles_w) put back where they were gathered from, overlaps added. Columns
    first, into a row-tiled buffer, then rows; offsets below `step` cover their region once,
    so they are copied, and only the overlaps are added."""
    span, _, channels, n, tiles_h, tiles_w = tiles.shape
    width = out.shape[3]
    rows = tiles.new_empty(span, channels, n, tiles_h, width)
    r = rows.stride()
    for j in range(span):
        view = rows.as_strided((span, channels, n, tiles_h, tiles_w),
                               (r[0], r[1], r[2], r[3], step * r[4]), j * r[4])
        if j < step:
            view.copy_(tiles[:, j])
        else:
            if j == step:
                rows[..., tiles_w * step:].zero_()
            view.add_(tiles[:, j])
    s = out.stride()
    for i in range(span):
        view = out.as_strided((channels, n, tiles_h, width), (s[1], s[0], step * s[2], s[3]),
                              i * s[2])
        if i < step:
            view.copy_(rows[i])
        else:
            if i == step:
                out[:, :, tiles_h * step:].zero_()
            view.add_(rows[i])


def _nhwc(x: Tensor) -> Tensor | None:
    """x (n, c, h, w) as its (n, h, w, c) view when x is stored channels-last, else None."""
    if x.is_contiguous() or not x.is_contiguous(memory_format=torch.channels_last):
        return None
    return x.permute(0, 2, 3, 1)


def _gather_tiles_nhwc(x: Tensor, span: int, step: int, tiles_h: int, tiles_w: int) -> Tensor:
    """`_gather_tiles` for x (n, h, w, c) contiguous: a (span * span, n * tiles * c) matrix,
    each pixel's channels one contiguous run, in one pass."""
    n, _, _, channels = x.shape
    s = x.stride()
    return x.as_strided((span, span, n, tiles_h, tiles_w, channels),
                        (s[1], s[2], s[0], step * s[1], step * s[2], s[3])).reshape(
                            span * span, -1)


def _overlap_add_nhwc(tiles: Tensor, out: Tensor, step: int) -> None:
    """The adjoint of `_gather_tiles_nhwc`: out (n, h, w, c) = tiles (span, span, n, tiles_h,
    tiles_w, c) added back where they were gathered from. Offsets below `step` in both
    directions cover their region once, so they are copied; the overlaps are added."""
    span, _, n, tiles_h, tiles_w, channels = tiles.shape
    s = out.stride()
    covered_h, covered_w = tiles_h * step, tiles_w * step
    out[:, covered_h:].zero_()
    out[:, :covered_h, covered_w:].zero_()
    for i, j in sorted(itertools.product(range(span), repeat=2),
                       key=lambda ij: (ij[0] >= step or ij[1] >= step)):
        view = out.as_strided((n, tiles_h, tiles_w, channels),
                              (s[0], step * s[1], step * s[2], s[3]), i * s[1] + j * s[2])
        if i < step and j < step:
            view.copy_(tiles[i, j])
        else:
            view.add_(tiles[i, j])


class _WinogradConv(torch.autograd.Function):
    """Forward and backward of the Winograd convolution, each transform one matrix product
    over all tiles: with the tiles gathered into a (span^2, channels * tiles) matrix, B^T d B
    of every tile is kron(B^T, B^T) times it, and A^T m A is kron(A^T, A^T) times the
    batched product. The backward pass applies the transposed matrices and puts the input
    tiles back with their overlaps added. Ran forward and backward about 1.2x as fast as
    whole-tensor additions per transform coefficient (2-core AVX-512 Xeon). NCHW tiles are
    (span^2, channels, tiles) and the product is weights times tiles; NHWC tiles are
    (span^2, tiles, channels) and the product is tiles times weights."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None,  # type: ignore[override]
                tile: int) -> Tensor:
        kernel = weight.shape[-1]
        n, channels, height, width = x.shape
        out_channels = weight.shape[0]
        span = tile + kernel - 1
        out_h, out_w = height - kernel + 1, width - kernel + 1
        tiles_h, tiles_w = -(-out_h // tile), -(-out_w // tile)
        pad_h, pad_w = tiles_h * tile - out_h, tiles_w * tile - out_w
        if pad_h or pad_w:  # whole tiles only (F.pad keeps the layout); cropped below
            x = F.pad(x, (0, pad_w, 0, pad_h))
        x_nhwc = _nhwc(x)
        u = (_WEIGHT_KRONECKER[tile, kernel].to(weight.dtype)
             @ weight.reshape(out_channels * channels, kernel * kernel).t()).view(
                 span * span, out_channels, channels)
        input_kron = _INPUT_KRONECKER[tile, kernel].to(x.dtype)
        output_kron = _OUTPUT_KRONECKER[tile, kernel].to(x.dtype)
        if x_nhwc is None:
            v = (input_kron @ _gather_tiles(x, span, tile, tiles_h, tiles_w)).view(
                span * span, channels, -1)
            m = torch.bmm(u, v)
            tiled = (output_kron @ m.view(span * span, -1)).view(
                tile, tile, out_channels, n, tiles_h, tiles_w)
            y = m.new_empty(n, out_channels, tiles_h, tile, tiles_w, tile)
            scattered = tiled.permute(3, 2, 4, 0, 5, 1)
            bias_view = None if bias is None else bias.view(1, -1, 1, 1, 1, 1)
        else:
            v = (input_kron @ _gather_tiles_nhwc(x_nhwc, span, tile, tiles_h, tiles_w)).view(
                span * span, -1, channels)
            m = torch.bmm(v, u.transpose(1, 2))
            tiled = (output_kron @ m.view(span * span, -1)).view(
                tile, tile, n, tiles_h, tiles_w, out_channels)
            y = m.new_empty(n, tiles_h, tile, tiles_w, tile, out_channels)
            scattered = tiled.permute(2, 3, 0, 4, 1, 5)
            bias_view = bias
        if bias_view is None:
            y.copy_(scattered)
        else:
            torch.add(scattered, bias_view, out=y)
        if x_nhwc is None:
            y = y.view(n, out_channels, tiles_h * tile, tiles_w * tile)
        else:
            y = y.view(n, tiles_h * tile, tiles_w * tile, out_channels).permute(0, 3, 1, 2)
        ctx.save_for_backward(v, u)
        ctx.geometry = (tile, kernel, n, channels, height, width, tiles_h, tiles_w)
        ctx.has_bias, ctx.nhwc = bias is not None, x_nhwc is not None
        return y[:, :, :out_h, :out_w] if pad_h or pad_w else y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_y: Tensor):  # type: ignore[override]
        v, u = ctx.saved_tensors
        tile, kernel, n, channels, height, width, tiles_h, tiles_w = ctx.geometry
        span = tile + kernel - 1
        out_channels = u.shape[1]
        out_h, out_w = height - kernel + 1, width - kernel + 1
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        grad_b = grad_y.sum((0, 2, 3)) if need_b and ctx.has_bias else None
        if not (need_x or need_w):
            return None, None, grad_b, None
        if (tiles_h * tile, tiles_w * tile) != (out_h, out_w):
            grad_y = F.pad(grad_y, (0, tiles_w * tile - out_w, 0, tiles_h * tile - out_h))
        output_kron_t = _OUTPUT_KRONECKER[tile, kernel].to(u.dtype).t()
        input_kron_t = _INPUT_KRONECKER[tile, kernel].to(u.dtype).t()
        if ctx.nhwc:  # grad_y may come in either layout; the reshapes read it as it is
            tiled = (grad_y.permute(0, 2, 3, 1)
                     .reshape(n, tiles_h, tile, tiles_w, tile, out_channels)
                     .permute(2, 4, 0, 1, 3, 5).reshape(tile * tile, -1))
            grad_m = (output_kron_t @ tiled).view(span * span, -1, out_channels)
        else:
            tiled = (grad_y.reshape(n, out_channels, tiles_h, tile, tiles_w, tile)
                     .permute(3, 5, 1, 0, 2, 4).reshape(tile * tile, -1))
            grad_m = (output_kron_t @ tiled).view(span * span, out_channels, -1)
        grad_w = grad_x = None
        if need_w:
            grad_u = (torch.bmm(grad_m.transpose(1, 2), v) if ctx.nhwc
                      else torch.bmm(grad_m, v.transpose(1, 2)))
            grad_w = (_WEIGHT_KRONECKER[tile, kernel].to(u.dtype).t()
                      @ grad_u.view(span * span, out_channels * channels)).t().reshape(
                          out_channels, channels, kernel, kernel)
        if need_x:
            padded_h, padded_w = tiles_h * tile + kernel - 1, tiles_w * tile + kernel - 1
            if ctx.nhwc:
                grad_v = torch.bmm(grad_m, u)
                grad_d = (input_kron_t @ grad_v.view(span * span, -1)).view(
                    span, span, n, tiles_h, tiles_w, channels)
                grad_x = grad_v.new_empty(n, padded_h, padded_w, channels)
                _overlap_add_nhwc(grad_d, grad_x, tile)
                grad_x = grad_x.permute(0, 3, 1, 2)
            else:
                grad_v = torch.bmm(u.transpose(1, 2), grad_m)
                grad_d = (input_kron_t @ grad_v.view(span * span, -1)).view(
                    span, span, channels, n, tiles_h, tiles_w)
                grad_x = grad_v.new_empty(n, channels, padded_h, padded_w)
                _overlap_add(grad_d, grad_x, tile)
            if grad_x.shape[2:] != (height, width):
                grad_x = grad_x[:, :, :height, :width]
        return grad_x, grad_w, grad_b, None


def winograd_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None,
                    tile: int | None = None) -> Tensor:
    """conv2d(x, weight, bias) for a 3x3 or 4x4 kernel, stride 1, no padding, dilation 1,
    groups 1.

    `tile` is m, the output tile's side: 2 or 4 for 3x3 kernels (None picks by the input's
    size, LARGE_TILE_MIN_TILES), 3 for 4x4.
    """
    n, channels, height, width = x.shape
    kernel = weight.shape[-1]
    if weight.dim() != 4 or weight.shape[1:] != (channels, kernel, kernel) or kernel not in (3, 4):
        raise ValueError(f"winograd_conv2d needs an (out, {channels}, 3, 3) or (out, {channels}, "
                         f"4, 4) weight, got {tuple(weight.shape)}")
    if tile is None and kernel == 3:
        tiles = n * -(-(height - 2) // 4) * -(-(width - 2) // 4)
        tile = 4 if tiles >= LARGE_TILE_MIN_TILES else 2
    elif tile is None:
        tile = 3
    if (tile, kernel) not in TRANSFORMS:
        raise ValueError(f"no Winograd transform for {tile}x{tile} tiles of a "
                         f"{kernel}x{kernel} kernel")
    return _WinogradConv.apply(x, weight, bias, tile)
