"""3x3 convolution by Winograd's minimal filtering, for the CPU.

The ResNet blocks' 3x3 convolutions are the largest part of a CPU training step (about 45%
at 128 px), and oneDNN already runs them near the CPU's matrix rate, so the way to go faster
is less arithmetic. Winograd's F(m x m, 3 x 3) (Lavin and Gray, 2016) computes each m x m
output tile from an (m+2) x (m+2) input tile with (m+2)^2 multiplications instead of 9 m^2:
2.25x fewer for m = 2, 4x for m = 4. Written as a batched matrix product between transformed
weights and transformed input tiles, with the transforms as small matrix products, autograd
differentiates it as it is: the backward pass's matrix products get the same saving.

It is exact arithmetic reordered, not an approximation; in fp32 the results differ from a
direct convolution by float rounding (relative error about 1e-5 for m = 4, tested).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

# (B^T, G, A^T) of F(2x2, 3x3) and F(4x4, 3x3), with interpolation points 0, 1, -1 (m = 2)
# and 0, 1, -1, 2, -2 (m = 4), both with the point at infinity: Y = A^T [(G g G^T) * (B^T d B)] A.
_TRANSFORMS = {
    2: ([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
        [[1, 0, 0], [1 / 2, 1 / 2, 1 / 2], [1 / 2, -1 / 2, 1 / 2], [0, 0, 1]],
        [[1, 1, 1, 0], [0, 1, -1, -1]]),
    4: ([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
         [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
        [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
         [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]],
        [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]),
}
# The 2-D transforms as single matrices on row-major flattened tiles: vec(B^T d B) =
# kron(B^T, B^T) vec(d), and likewise for G and A^T.
_KRONECKER = {
    m: tuple(torch.kron(torch.tensor(t, dtype=torch.float64), torch.tensor(t, dtype=torch.float64))
             for t in mats)
    for m, mats in _TRANSFORMS.items()
}
LARGE_TILE_MIN_TILES = 256
"""F(4x4) when the input makes at least this many 4x4 output tiles, else F(2x2): with fewer,
its 36 matrix products are too small to run well (measured on a 2-core AVX2 CPU)."""


def winograd_conv3x3(x: Tensor, weight: Tensor, bias: Tensor | None = None,
                     tile: int | None = None) -> Tensor:
    """conv2d(x, weight, bias) for a 3x3 kernel, stride 1, no padding, dilation 1, groups 1.

    `tile` is m, 2 or 4; None picks by the input's size (LARGE_TILE_MIN_TILES).
    """
    n, channels, height, width = x.shape
    out_channels = weight.shape[0]
    if weight.shape[1:] != (channels, 3, 3):
        raise ValueError(f"winograd_conv3x3 needs a (out, {channels}, 3, 3) weight, "
                         f"got {tuple(weight.shape)}")
    out_h, out_w = height - 2, width - 2
    if tile is None:
        tile = 4 if n * -(-out_h // 4) * -(-out_w // 4) >= LARGE_TILE_MIN_TILES else 2
    span = tile + 2
    pad_h, pad_w = -out_h % tile, -out_w % tile
    if pad_h or pad_w:  # whole tiles only; the extra outputs are cropped below
        x = F.pad(x, (0, pad_w, 0, pad_h))
    tiles_h, tiles_w = (out_h + pad_h) // tile, (out_w + pad_w) // tile
    positions = n * tiles_h * tiles_w
    input_t, weight_t, output_t = (m.to(x.dtype) for m in _KRONECKER[tile])
    # (span^2, channels * positions): tile element first, so each transformed element is one
    # (channels, positions) matrix of the batched product.
    tiles = x.unfold(2, span, tile).unfold(3, span, tile).permute(4, 5, 1, 0, 2, 3)
    v = (input_t @ tiles.reshape(span * span, channels * positions)).view(
        span * span, channels, positions)
    u = (weight_t @ weight.reshape(out_channels * channels, 9).t()).view(
        span * span, out_channels, channels)
    m = torch.bmm(u, v)
    y = (output_t @ m.view(span * span, out_channels * positions)).view(
        tile, tile, out_channels, n, tiles_h, tiles_w)
    y = y.permute(3, 2, 4, 0, 5, 1).reshape(n, out_channels, tiles_h * tile, tiles_w * tile)
    if pad_h or pad_w:
        y = y[:, :, :out_h, :out_w]
    return y if bias is None else y + bias.view(1, -1, 1, 1)
