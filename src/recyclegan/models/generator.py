"""ResNet generator (Johnson et al.), the translator `gen_ab` / `gen_ba` of Recycle-GAN."""

from __future__ import annotations

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
        layers += [ResidualBlock(width) for _ in range(blocks)]
        for _ in range(self.downsamplings):
            layers.append(upconv_norm_relu(width, width // 2))
            width //= 2
        layers += [nn.ReflectionPad2d(3), ShiftConv2d(width, out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        check_frames(x, self.in_channels, 2**self.downsamplings, "generator")
        return self.net(x)
