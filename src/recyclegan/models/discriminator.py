"""PatchGAN discriminator: one real/fake score per overlapping patch (70x70 with 3 layers)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from recyclegan.models.layers import WinogradConv2d, init_weights, instance_norm


class PatchDiscriminator(nn.Module):
    """`layers` stride-2 4x4 convolutions, one stride-1, then a 1-channel score map.

    No sigmoid: the LSGAN objective compares the raw scores with 1 and 0.
    """

    def __init__(self, in_channels: int = 3, channels: int = 64, layers: int = 3) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.min_size = 2**layers * 3
        modules: list[nn.Module] = [
            nn.Conv2d(in_channels, channels, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        width = channels
        for index in range(1, layers + 1):
            out = channels * min(2**index, 8)
            conv = (nn.Conv2d(width, out, 4, stride=2, padding=1) if index < layers
                    else WinogradConv2d(width, out, 4, padding=1))
            modules += [
                conv,
                instance_norm(out),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            width = out
        modules.append(nn.Conv2d(width, 1, 4, stride=1, padding=1))
        self._winograd_at = len(modules) - 4  # the stride-1 WinogradConv2d
        self.net = nn.Sequential(*modules)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels or min(x.shape[-2:]) < self.min_size:
            raise ValueError(f"discriminator expects (batch, {self.in_channels}, H, W) with H and "
                             f"W at least {self.min_size}, got shape {tuple(x.shape)}")
        head, tail = self.net[:self._winograd_at], self.net[self._winograd_at:]
        h = head(x)
        if tail[0].by_winograd(h) and h.is_contiguous():
            # From the stride-1 layer on, channels-last where it goes by Winograd on the CPU,
            # as the generators' blocks do: those last four layers' forward and backward took
            # 0.83-0.9x the NCHW time (batch 6 and 12 at 16x16, 2-core AVX-512 Xeon).
            h = h.contiguous(memory_format=torch.channels_last)
        return tail(h)
