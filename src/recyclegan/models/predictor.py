"""U-Net temporal predictor: the next frame from the two before it (`pred_a`, `pred_b`)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from recyclegan.models.layers import (
    SmallMapConv2d,
    SmallMapConvTranspose2d,
    check_frames,
    init_weights,
    instance_norm,
)


class UnetPredictor(nn.Module):
    """pix2pix-style U-Net on the channel concatenation of frames t-1 and t; predicts frame t+1.

    `depth` stride-2 4x4 downsamplings (8 for the paper's U-Net-256, whose bottleneck is 1x1
    at 256 px), widths C, 2C, 4C, then 8C; skip connections concatenate encoder features.
    """

    def __init__(self, frame_channels: int = 3, channels: int = 64, depth: int = 8,
                 context_frames: int = 2) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError("predictor depth must be at least 1")
        self.in_channels = frame_channels * context_frames
        self.depth = depth
        widths = [channels * min(2**i, 8) for i in range(depth)]
        self.down = nn.ModuleList()
        for level, width in enumerate(widths):
            conv = SmallMapConv2d(self.in_channels if level == 0 else widths[level - 1], width,
                                  4, stride=2, padding=1)
            innermost = level == depth - 1
            if level == 0:
                self.down.append(conv)
            else:
                self.down.append(nn.Sequential(
                    nn.LeakyReLU(0.2), conv, *([] if innermost else [instance_norm(width)])))
        self.up = nn.ModuleList()
        for level in range(depth - 1, 0, -1):
            in_width = widths[level] * (1 if level == depth - 1 else 2)
            self.up.append(nn.Sequential(
                nn.ReLU(),
                SmallMapConvTranspose2d(in_width, widths[level - 1], 4, stride=2, padding=1),
                instance_norm(widths[level - 1]),
            ))
        self.head = nn.Sequential(
            nn.ReLU(),
            nn.ConvTranspose2d(widths[0] * (2 if depth > 1 else 1), frame_channels, 4, stride=2,
                               padding=1),
            nn.Tanh(),
        )
        init_weights(self)

    def forward(self, prev: Tensor, current: Tensor) -> Tensor:
        x = torch.cat([prev, current], dim=1)
        check_frames(x, self.in_channels, 2**self.depth, "predictor")
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        y = skips.pop()
        for block in self.up:
            y = torch.cat([skips.pop(), block(y)], dim=1)
        return self.head(y)
