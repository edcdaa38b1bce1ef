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

It is exact arithmetic reordered, not an approximation; in fp32 the results differ from a
direct convolution by float rounding (relative error about 1e-5 with 6x6 tiles, tested).
"""

from __future__ import annotations

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


class _WinogradConv(torch.autograd.Function):
    """Forward and backward of the Winograd convolution, each transform one matrix product
    over all tiles: with the tiles gathered into a (span^2, channels * tiles) matrix, B^T d B
    of every tile is kron(B^T, B^T) times it, and A^T m A is kron(A^T, A^T) times the
    batched product. The backward pass applies the transposed matrices and puts the input
    tiles back with their overlaps added. Ran forward and backward about 1.2x as fast as
    whole-tensor additions per transform coefficient (2-core AVX-512 Xeon)."""

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
        if pad_h or pad_w:  # whole tiles only; the extra outputs are cropped below
            x = F.pad(x, (0, pad_w, 0, pad_h))
        d = _gather_tiles(x, span, tile, tiles_h, tiles_w)
        v = (_INPUT_KRONECKER[tile, kernel].to(d.dtype) @ d).view(span * span, channels, -1)
        u = (_WEIGHT_KRONECKER[tile, kernel].to(weight.dtype)
             @ weight.reshape(out_channels * channels, kernel * kernel).t()).view(
                 span * span, out_channels, channels)
        m = torch.bmm(u, v)
        tiled = (_OUTPUT_KRONECKER[tile, kernel].to(m.dtype) @ m.view(span * span, -1)).view(
            tile, tile, out_channels, n, tiles_h, tiles_w)
        y = m.new_empty(n, out_channels, tiles_h, tile, tiles_w, tile)
        scattered = tiled.permute(3, 2, 4, 0, 5, 1)
        if bias is None:
            y.copy_(scattered)
        else:
            torch.add(scattered, bias.view(1, -1, 1, 1, 1, 1), out=y)
        y = y.view(n, out_channels, tiles_h * tile, tiles_w * tile)
        ctx.save_for_backward(v, u)
        ctx.geometry = (tile, kernel, n, channels, height, width, tiles_h, tiles_w)
        ctx.has_bias = bias is not None
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
        tiled = (grad_y.reshape(n, out_channels, tiles_h, tile, tiles_w, tile)
                 .permute(3, 5, 1, 0, 2, 4).reshape(tile * tile, -1))
        grad_m = (_OUTPUT_KRONECKER[tile, kernel].to(tiled.dtype).t() @ tiled).view(
            span * span, out_channels, -1)
        grad_w = grad_x = None
        if need_w:
            grad_u = torch.bmm(grad_m, v.transpose(1, 2))
            grad_w = (_WEIGHT_KRONECKER[tile, kernel].to(u.dtype).t()
                      @ grad_u.view(span * span, out_channels * channels)).t().reshape(
                          out_channels, channels, kernel, kernel)
        if need_x:
            grad_v = torch.bmm(u.transpose(1, 2), grad_m)
            grad_d = (_INPUT_KRONECKER[tile, kernel].to(u.dtype).t()
                      @ grad_v.view(span * span, -1)).view(span, span, channels, n, tiles_h,
                                                           tiles_w)
            grad_x = grad_v.new_empty(n, channels, tiles_h * tile + kernel - 1,
                                      tiles_w * tile + kernel - 1)
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
