"""3x3 and 4x4 convolutions by Winograd's minimal filtering, for the CPU.

The ResNet blocks' 3x3 convolutions were the largest part of a CPU training step (about 45%
at 128 px), and oneDNN already runs them near the CPU's matrix rate, so the way to go faster
is less arithmetic. Winograd's F(m x m, r x r) (Lavin and Gray, 2016) computes each m x m
output tile from an (m+r-1) x (m+r-1) input tile with (m+r-1)^2 multiplications instead of
m^2 r^2: 2.25x fewer for F(2x2, 3x3), 4x for F(4x4, 3x3) and for F(3x3, 4x4), which serves
the discriminator's stride-1 4x4 convolution. The products become one batched matrix product
between transformed weights and transformed input tiles, in the forward pass and both
products of the backward pass, and the transforms are written by hand as whole-tensor
additions (a custom autograd function), which ran forward and backward 1.4-1.7x as fast as
letting autograd differentiate unfolded copies and small matrix products.

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


def _transpose(matrix: Matrix) -> Matrix:
    return [list(column) for column in zip(*matrix, strict=True)]


def _combine(terms: list[tuple[float, Tensor]], out: Tensor, accumulate: bool = False) -> None:
    """out = (or +=) the sum of c * t over `terms`, in place in the (possibly strided) view
    `out`, one pass per term and no temporaries."""
    if accumulate:
        for coeff, term in terms:
            out.add_(term, alpha=coeff)
        return
    if not terms:
        out.zero_()
        return
    terms = sorted(terms, key=lambda term: term[0] != 1)  # a unit term first: no scaling pass
    (first_coeff, first), rest = terms[0], terms[1:]
    if first_coeff == 1 and rest:
        torch.add(first, rest[0][1], alpha=rest[0][0], out=out)
        rest = rest[1:]
    elif first_coeff == 1:
        out.copy_(first)
    else:
        torch.mul(first, first_coeff, out=out)
    for coeff, term in rest:
        out.add_(term, alpha=coeff)


def _mix(src: Tensor, matrix: Matrix, src_dim: int, out: Tensor, out_dim: int) -> None:
    """out.select(out_dim, a) = sum_j matrix[a][j] * src.select(src_dim, j)."""
    for a, row in enumerate(matrix):
        _combine([(c, src.select(src_dim, j)) for j, c in enumerate(row) if c],
                 out.select(out_dim, a))


def _mix_into_tiles(src: Tensor, matrix: Matrix, src_dim: int, out: Tensor, dim: int,
                    step: int) -> None:
    """The adjoint of mixing overlapping tiles: every tile t of `out` along `dim` (elements
    t * step ... t * step + span - 1) gets sum_j matrix[j][k] * src.select(src_dim, j) at
    its element k, summed where tiles overlap. `out` is written whole."""
    span = len(matrix[0])
    tiles = out.unfold(dim, span, step)  # (..., tiles, ..., span): element k of every tile
    for k in range(span):
        terms = [(row[k], src.select(src_dim, j)) for j, row in enumerate(matrix) if row[k]]
        if k < step:  # offsets below `step` cover out once, up to the tail past the last tile
            _combine(terms, tiles.select(-1, k))
        else:
            if k == step:
                out.narrow(dim, out.shape[dim] - (span - step), span - step).zero_()
            _combine(terms, tiles.select(-1, k), accumulate=True)


def _fold_tiles(tiles: Tensor, out: Tensor, dim: int, step: int) -> None:
    """out = the sum of overlapping tiles: tiles.select(0, k) holds element k of every tile
    along `dim` (tile t covers out's elements t * step ... t * step + span - 1)."""
    span = tiles.shape[0]
    view = out.unfold(dim, span, step)
    for k in range(step):  # these offsets cover out once, up to the tail past the last tile
        view.select(-1, k).copy_(tiles[k])
    out.narrow(dim, out.shape[dim] - (span - step), span - step).zero_()
    for k in range(step, span):
        view.select(-1, k).add_(tiles[k])


class _WinogradConv(torch.autograd.Function):
    """Forward and backward of the Winograd convolution. The tile transforms are mostly 0
    and +-1, so they are written as whole-tensor additions, each over every tile at once:
    along rows on strided row views, along columns on a gathered copy so that each addition
    runs on contiguous memory. Letting autograd differentiate unfolded copies and small
    matrix products instead cost a slow fold in the backward pass."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None,  # type: ignore[override]
                tile: int) -> Tensor:
        kernel = weight.shape[-1]
        input_t, _, output_t = TRANSFORMS[tile, kernel]
        n, channels, height, width = x.shape
        out_channels = weight.shape[0]
        span = tile + kernel - 1
        out_h, out_w = height - kernel + 1, width - kernel + 1
        tiles_h, tiles_w = -(-out_h // tile), -(-out_w // tile)
        pad_h, pad_w = tiles_h * tile - out_h, tiles_w * tile - out_w
        if pad_h or pad_w:  # whole tiles only; the extra outputs are cropped below
            x = F.pad(x, (0, pad_w, 0, pad_h))
        # V = B^T d B for every tile d, laid out (tile row j, tile column i, channel, image,
        # tile y, tile x) so that each (j, i) is one (channels, positions) matrix of the
        # batched product. Rows first, on strided row views of x.
        rows = x.new_empty(span, n, channels, tiles_h, x.shape[3])
        _mix(x.unfold(2, span, tile), input_t, -1, rows, 0)
        columns = x.new_empty(span, span, n, channels, tiles_h, tiles_w)
        columns.copy_(rows.unfold(4, span, tile).permute(5, 0, 1, 2, 3, 4))
        v = x.new_empty(span, span, channels, n, tiles_h, tiles_w)
        _mix(columns, input_t, 0, v.permute(1, 0, 3, 2, 4, 5), 0)
        v = v.view(span * span, channels, n * tiles_h * tiles_w)
        u = (_WEIGHT_KRONECKER[tile, kernel].to(weight.dtype)
             @ weight.reshape(out_channels * channels, kernel * kernel).t()).view(
                 span * span, out_channels, channels)
        m = torch.bmm(u, v).view(span, span, out_channels, n, tiles_h, tiles_w)
        # Y = A^T M A, then each tile's outputs put in place (with the bias, if any).
        partial = m.new_empty(tile, span, out_channels, n, tiles_h, tiles_w)
        _mix(m, output_t, 0, partial, 0)
        tiled = m.new_empty(tile, tile, out_channels, n, tiles_h, tiles_w)
        _mix(partial, output_t, 1, tiled, 0)
        y = m.new_empty(n, out_channels, tiles_h, tile, tiles_w, tile)
        scattered = tiled.permute(3, 2, 4, 1, 5, 0)
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
        input_t, _, output_t = TRANSFORMS[tile, kernel]
        span = tile + kernel - 1
        out_channels = u.shape[1]
        out_h, out_w = height - kernel + 1, width - kernel + 1
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        grad_b = grad_y.sum((0, 2, 3)) if need_b and ctx.has_bias else None
        if not (need_x or need_w):
            return None, None, grad_b, None
        if (tiles_h * tile, tiles_w * tile) != (out_h, out_w):
            padded = grad_y.new_zeros(n, out_channels, tiles_h * tile, tiles_w * tile)
            padded[:, :, :out_h, :out_w] = grad_y
            grad_y = padded
        # dM = A dY A^T, the adjoint of the output transform, from each tile's gradients
        # gathered into (tile column, tile row, out channel, image, tile y, tile x).
        tiled = grad_y.new_empty(tile, tile, out_channels, n, tiles_h, tiles_w)
        tiled.copy_(grad_y.reshape(n, out_channels, tiles_h, tile, tiles_w, tile)
                    .permute(5, 3, 1, 0, 2, 4))
        output_adj = _transpose(output_t)
        partial = grad_y.new_empty(tile, span, out_channels, n, tiles_h, tiles_w)
        _mix(tiled, output_adj, 0, partial, 1)
        grad_m = grad_y.new_empty(span, span, out_channels, n, tiles_h, tiles_w)
        _mix(partial, output_adj, 0, grad_m, 0)
        grad_m = grad_m.view(span * span, out_channels, n * tiles_h * tiles_w)
        grad_w = grad_x = None
        if need_w:
            grad_u = torch.bmm(grad_m, v.transpose(1, 2))
            grad_w = (_WEIGHT_KRONECKER[tile, kernel].to(u.dtype).t()
                      @ grad_u.view(span * span, out_channels * channels)).t().reshape(
                          out_channels, channels, kernel, kernel)
        if need_x:
            grad_v = torch.bmm(u.transpose(1, 2), grad_m).view(span, span, channels, n,
                                                                tiles_h, tiles_w)
            # The adjoint of the input transform: columns, folded where tiles overlap, then
            # rows, summed into overlapping strided row views.
            input_adj = _transpose(input_t)
            columns = grad_v.new_empty(span, span, n, channels, tiles_h, tiles_w)
            _mix(grad_v.permute(1, 0, 3, 2, 4, 5), input_adj, 0, columns, 0)
            grad_rows = grad_v.new_empty(span, n, channels, tiles_h, tiles_w * tile + kernel - 1)
            _fold_tiles(columns, grad_rows, 4, tile)
            grad_x = grad_v.new_empty(n, channels, tiles_h * tile + kernel - 1, grad_rows.shape[4])
            _mix_into_tiles(grad_rows, input_t, 0, grad_x, 2, tile)
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
