"""ResNet generator (Johnson et al.), the translator `gen_ab` / `gen_ba` of Recycle-GAN."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from recyclegan.models.layers import (
    ResidualBlock,
    ShiftConv2d,
    check_frames,
    conv_norm_relu,
    init_weights,
    upconv_norm_relu,
)


class ResnetGenerator(nn.Module):
    """c7s1-C, two stride-2 downsamples, `blocks` residual blocks at 4C, two upsamples,
    c7s1-3, tanh.

    Input and output are images in [-1, 1]; height and width must be multiples of 4.
    """

    downsamplings = 2

    def __init__(self, in_channels: int = 3, out_channels: int = 3, channels: int = 64,
                 blocks: int = 6) -> None:
        super().__init__()
        self.in_channels = in_channels
        layers: list[nn.Module] = [conv_norm_relu(in_channels, channels, 7, padding=3,
                                                  reflect=True)]
        width = channels
        for _ in range(self.downsamplings):
            layers.append(conv_norm_relu(width, width * 2, 3, stride=2, padding=1))
            width *= 2
        self._trunk = slice(len(layers), len(layers) + blocks)
        layers += [ResidualBlock(width) for _ in range(blocks)]
        for _ in range(self.downsamplings):
            layers.append(upconv_norm_relu(width, width // 2))
            width //= 2
        layers += [nn.ReflectionPad2d(3), ShiftConv2d(width, out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        """On the CPU fast path the residual blocks run channels-last: there Winograd gathers
        each pixel's channels as one run, the instance norms and reflection pads have
        channels-last kernels, and a block's forward and backward took 0.78-0.90x the NCHW
        time (256 channels at 32x32, batch 1 to 6, 2-core AVX-512 Xeon). The layers around
        them stay NCHW, where their own hand-written paths are faster."""
        check_frames(x, self.in_channels, 2**self.downsamplings, "generator")
        trunk = self.net[self._trunk]
        head, tail = self.net[:self._trunk.start], self.net[self._trunk.stop:]
        h = head(x)
        if len(trunk) and trunk[0].by_winograd(h) and h.is_contiguous():
            return tail(trunk(h.contiguous(memory_format=torch.channels_last)).contiguous())
        return tail(trunk(h))
