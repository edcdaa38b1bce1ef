"""Building blocks shared by the networks, and the weight initialisation of the paper."""

from __future__ import annotations

from torch import Tensor, nn


def instance_norm(channels: int) -> nn.InstanceNorm2d:
    # No affine parameters and no running statistics, as in CycleGAN and Recycle-GAN.
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


def conv_norm_relu(in_ch: int, out_ch: int, kernel: int, stride: int = 1, padding: int = 0,
                   reflect: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    if reflect:
        layers.append(nn.ReflectionPad2d(padding))
        padding = 0
    layers += [
        nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=padding, bias=True),
        instance_norm(out_ch),
        nn.ReLU(inplace=True),
    ]
    return nn.Sequential(*layers)


def upconv_norm_relu(in_ch: int, out_ch: int) -> nn.Sequential:
    """Double the resolution: 3x3 transposed convolution, stride 2."""
    return nn.Sequential(
        nn.ConvTranspose2d(in_ch, out_ch, 3, stride=2, padding=1, output_padding=1, bias=True),
        instance_norm(out_ch),
        nn.ReLU(inplace=True),
    )


class ResidualBlock(nn.Module):
    """Two reflection-padded 3x3 convolutions with a skip connection."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=True),
            instance_norm(channels),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=True),
            instance_norm(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """Normal(0, 0.02) weights and zero biases for every convolution (the paper's init)."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(layer.weight, 0.0, std)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


def check_frames(x: Tensor, channels: int, multiple: int, name: str) -> None:
    """Shape check at a network's boundary, so a wrong input fails with a readable message."""
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f"{name} expects a (batch, {channels}, height, width) tensor, "
                         f"got shape {tuple(x.shape)}")
    height, width = x.shape[-2:]
    if height % multiple or width % multiple:
        raise ValueError(f"{name} needs height and width that are multiples of {multiple}, "
                         f"got {height}x{width}")
