"""Building blocks shared by the networks, and the weight initialisation of the paper."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from recyclegan.models.phase_conv import phase_conv2d, phase_conv_transpose2d
from recyclegan.models.shift_conv import few_inputs_conv2d, few_outputs_conv2d
from recyclegan.models.winograd import winograd_conv2d

WINOGRAD_MIN_CHANNELS = 256
"""The paper's ResNet-block width, where Winograd was measured in training. At 128 channels
it is also faster (1.3x on one 32x32 layer), but the `small` networks, and so the CPU
quality benchmark, stay on oneDNN's path and keep their exact results."""
WINOGRAD_MIN_OUTPUTS = 256
"""Nor below this many output pixels per channel over the batch: at 8x8 a direct
convolution was faster (measured on a 2-core AVX2 CPU)."""
SMALL_MAP_MAX_PIXELS = 64
"""SmallMapConv2d and SmallMapConvTranspose2d compute directly on input maps up to 8x8,
where the U-Net's widest layers do little arithmetic on large weights..."""
SMALL_MAP_MIN_WEIGHT = 512 * 512
"""...of at least this many input times output channels: the paper's widths, where it was
measured. Smaller test and benchmark models stay on nn's path."""
SHIFT_MAX_MAPS = 160
"""ShiftConv2d computes when its narrow side times its kernel's taps is at most this many
maps: 3 x 49 = 147 for the generators' 7x7 layers to and from RGB..."""
SHIFT_MIN_WIDTH = 64
"""...and its wide side has at least this many channels: the paper's width, where it was
measured. The `small` networks (and so the CPU quality benchmark) keep oneDNN's results."""
SHIFT_MAX_BYTES = 256 * 2**20
"""Nor when one image's maps (it works an image at a time) would take more memory than this
in fp32: 147 maps fit up to about 670 x 670 pixels; past that oneDNN, which needs none."""
PHASE_MIN_CHANNELS = 64
"""PhaseConv2d and PhaseConvTranspose2d go by phases when both sides have at least this many
channels (the paper generator's 64 -> 128 and 128 -> 256 layers, where it was measured; at
32 -> 16 oneDNN was faster)..."""
PHASE_MIN_PIXELS = 64 * 64
"""...and the low-resolution side has at least this many pixels: at 16x16 oneDNN was faster,
at 32x32 as fast; from 64x64 the layers' forward and backward took 0.8-0.9x oneDNN's time
(2-core AVX-512 Xeon)."""
PHASE_MAX_BYTES = 256 * 2**20
"""Nor when one image's tap maps (9 per output channel, at the low resolution) would take
more memory than this in fp32: for the 128 -> 64 layer, outputs up to about 680 x 680."""


class InstanceNorm2d(nn.InstanceNorm2d):
    """InstanceNorm2d without affine parameters or running statistics (as in CycleGAN and
    Recycle-GAN) that keeps channels_last (NHWC) tensors in that layout.

    PyTorch's instance norm returns NCHW whatever it is given, so every convolution after
    it received NCHW and cuDNN transposed to NHWC and back around each one: a quarter of the
    kernel time of a compiled bf16 training step on an H200. Under torch.compile, NHWC
    inputs are normalised with per-channel statistics in fp32 (`normalise_nhwc`), which
    inductor fuses into its reduction kernels, layout kept. Eager NHWC inputs on the CPU fast
    path (the generators' channels-last trunk) go image by image through PyTorch's
    channels-last batch norm (`_InstanceNormNHWC`); elsewhere they take PyTorch's instance
    norm and are put back into NHWC: the same two transposes per convolution as before,
    moved from cuDNN to here. NCHW inputs take PyTorch's kernel, unchanged.
    """

    def __init__(self, channels: int) -> None:
        super().__init__(channels, affine=False, track_running_stats=False)

    def forward(self, x: Tensor) -> Tensor:
        if x.is_contiguous():
            return normalise_nchw(x, self.eps)
        if not x.is_contiguous(memory_format=torch.channels_last):
            return F.instance_norm(x, eps=self.eps)
        if torch.compiler.is_compiling():
            return normalise_nhwc(x, self.eps)
        if _cpu_fast_path(x):
            return _InstanceNormNHWC.apply(x, self.eps)
        return F.instance_norm(x, eps=self.eps).contiguous(memory_format=torch.channels_last)


class _InstanceNormNHWC(torch.autograd.Function):
    """Instance norm of a channels-last fp32 CPU tensor, layout kept: each image is a batch
    of one for PyTorch's channels-last batch-norm kernels, whose statistics over (H, W) per
    channel are then the instance norm's. On a 2-core AVX-512 Xeon the forward pass took
    about half the time of the NCHW instance norm (256 channels at 32x32)."""

    @staticmethod
    def forward(ctx, x: Tensor, eps: float) -> Tensor:  # type: ignore[override]
        y = torch.empty_like(x)
        mean, invstd = x.new_empty(x.shape[:2]), x.new_empty(x.shape[:2])
        for i in range(len(x)):
            torch.ops.aten.native_batch_norm.out(
                x[i:i + 1], None, None, None, None, True, 0.0, eps, out=y[i:i + 1],
                save_mean=mean[i], save_invstd=invstd[i])
        ctx.save_for_backward(x, mean, invstd)
        ctx.eps = eps
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_y: Tensor):  # type: ignore[override]
        x, mean, invstd = ctx.saved_tensors
        grad_y = grad_y.contiguous(memory_format=torch.channels_last)
        grad_x = torch.cat([
            torch.ops.aten.native_batch_norm_backward(
                grad_y[i:i + 1], x[i:i + 1], None, None, None, mean[i], invstd[i], True,
                ctx.eps, [True, False, False])[0]
            for i in range(len(x))])
        return grad_x, None


def normalise_nchw(x: Tensor, eps: float) -> Tensor:
    """F.instance_norm of a contiguous NCHW tensor, returned as a tensor of its own rather than
    as a view: F.instance_norm's result is a view of a batch norm over (1, N*C, H, W), and the
    in-place ReLU after it then made autograd rewrite the view's history (CopySlices and
    as_strided in the backward pass, about 2% of a CPU training step)."""
    n, channels = x.shape[:2]
    y = F.batch_norm(x.reshape(1, n * channels, *x.shape[2:]), None, None, training=True,
                     momentum=0.0, eps=eps)
    return torch.ops.aten._unsafe_view(y, x.shape)


def normalise_nhwc(x: Tensor, eps: float) -> Tensor:
    """Instance normalisation written with elementwise operations and one reduction, which
    keep the input's memory layout; statistics in fp32."""
    x32 = x.float()
    var, mean = torch.var_mean(x32, dim=(2, 3), keepdim=True, correction=0)
    return ((x32 - mean) * torch.rsqrt(var + eps)).to(x.dtype)


def instance_norm(channels: int) -> InstanceNorm2d:
    return InstanceNorm2d(channels)


def conv_norm_relu(in_ch: int, out_ch: int, kernel: int, stride: int = 1, padding: int = 0,
                   reflect: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    if reflect:
        layers.append(nn.ReflectionPad2d(padding))
        padding = 0
    conv = PhaseConv2d if stride == 2 else ShiftConv2d
    layers += [
        conv(in_ch, out_ch, kernel, stride=stride, padding=padding, bias=True),
        instance_norm(out_ch),
        nn.ReLU(inplace=True),
    ]
    return nn.Sequential(*layers)


def upconv_norm_relu(in_ch: int, out_ch: int) -> nn.Sequential:
    """Double the resolution: 3x3 transposed convolution, stride 2."""
    return nn.Sequential(
        PhaseConvTranspose2d(in_ch, out_ch, 3, stride=2, padding=1, output_padding=1, bias=True),
        instance_norm(out_ch),
        nn.ReLU(inplace=True),
    )


def _cpu_fast_path(x: Tensor) -> bool:
    """The hand-written CPU convolutions serve fp32 eager code only: under autocast or
    torch.compile, or on CUDA, where cuDNN picks its own algorithms, nn's layers are better."""
    return (x.device.type == "cpu" and x.dtype == torch.float32
            and not torch.is_autocast_enabled("cpu") and not torch.compiler.is_compiling())


def _in_layout_of(y: Tensor, x: Tensor) -> Tensor:
    """y in x's memory format, so that a channels_last network stays channels_last."""
    if x.is_contiguous() or not x.is_contiguous(memory_format=torch.channels_last):
        return y
    return y.contiguous(memory_format=torch.channels_last)


class WinogradConv2d(nn.Conv2d):
    """A stride-1 nn.Conv2d with a 3x3 or 4x4 kernel and zero padding (same parameters and
    state dict) that computes by Winograd's algorithm (models.winograd) on the CPU in fp32,
    eager, at least WINOGRAD_MIN_CHANNELS wide and WINOGRAD_MIN_OUTPUTS large; elsewhere it
    is nn.Conv2d. On a 2-core AVX2 CPU it ran the ResNet blocks' 3x3 convolutions 1.6-2.6x
    and the discriminator's 4x4 one about 2x as fast as oneDNN (benchmarks/BENCHMARKS.md)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 padding: int = 0) -> None:
        super().__init__(in_channels, out_channels, kernel_size, padding=padding, bias=True)

    def by_winograd(self, x: Tensor, padded: int = 0) -> bool:
        """Whether this layer computes x by Winograd, x first padded by `padded` pixels on
        each side (by the layer before it)."""
        pad = self.padding[0] + padded
        outputs = x.shape[0] * (x.shape[2] + 2 * pad - self.kernel_size[0] + 1) * (
            x.shape[3] + 2 * pad - self.kernel_size[1] + 1)
        return (self.in_channels >= WINOGRAD_MIN_CHANNELS and outputs >= WINOGRAD_MIN_OUTPUTS
                and _cpu_fast_path(x))

    def forward(self, x: Tensor) -> Tensor:
        if self.by_winograd(x):
            pad = self.padding[0]
            y = winograd_conv2d(F.pad(x, (pad,) * 4) if pad else x, self.weight, self.bias)
            return _in_layout_of(y, x)
        return super().forward(x)


class ShiftConv2d(nn.Conv2d):
    """nn.Conv2d (same state dict) that, for a layer with few channels on one side, stride 1
    and no padding (the generators' 7x7 layers to and from RGB), computes by
    models.shift_conv on the CPU in fp32, eager: all of it when the outputs are few, the input
    gradient when the inputs are. Elsewhere it is nn.Conv2d."""

    def forward(self, x: Tensor) -> Tensor:
        taps = self.kernel_size[0] * self.kernel_size[1]
        if (self.stride == (1, 1) and self.padding == (0, 0) and self.dilation == (1, 1)
                and self.groups == 1 and max(self.in_channels, self.out_channels) >= SHIFT_MIN_WIDTH
                and _cpu_fast_path(x)):
            maps = min(self.in_channels, self.out_channels) * taps
            size = 4 * maps * x.shape[2] * x.shape[3]
            if maps <= SHIFT_MAX_MAPS and size <= SHIFT_MAX_BYTES:
                if self.out_channels <= self.in_channels:
                    return _in_layout_of(few_outputs_conv2d(x, self.weight, self.bias), x)
                if x.requires_grad and torch.is_grad_enabled():
                    return _in_layout_of(few_inputs_conv2d(x, self.weight, self.bias), x)
        return super().forward(x)


def _goes_by_phases(layer: nn.Conv2d | nn.ConvTranspose2d, x: Tensor,
                    low_res: tuple[int, int], high_res: tuple[int, int]) -> bool:
    """Whether a stride-2 layer given x goes by phases: low_res is the size of its low-
    resolution side (a convolution's output, a transposed one's input), high_res the other."""
    pixels = low_res[0] * low_res[1]
    narrow = min(layer.in_channels, layer.out_channels)
    return (layer.kernel_size == (3, 3) and layer.stride == (2, 2)
            and layer.padding[0] == layer.padding[1] and layer.dilation == (1, 1)
            and layer.groups == 1 and layer.padding_mode == "zeros"
            and narrow >= PHASE_MIN_CHANNELS and pixels >= PHASE_MIN_PIXELS
            and 4 * 9 * narrow * pixels <= PHASE_MAX_BYTES
            and high_res[0] % 2 == 0 and high_res[1] % 2 == 0 and _cpu_fast_path(x))


class PhaseConv2d(nn.Conv2d):
    """nn.Conv2d (same state dict) whose input gradient, for a 3x3 stride-2 layer of the
    paper's widths on the CPU in fp32, eager, is computed by models.phase_conv: oneDNN ran it
    at a third of its forward rate. Forward and weight gradient stay oneDNN's."""

    def forward(self, x: Tensor) -> Tensor:
        if x.requires_grad and torch.is_grad_enabled():
            out_h, out_w = ((size + 2 * self.padding[0] - self.kernel_size[0]) // 2 + 1
                            for size in x.shape[2:])
            if _goes_by_phases(self, x, (out_h, out_w), (x.shape[2], x.shape[3])):
                return _in_layout_of(phase_conv2d(x, self.weight, self.bias, self.padding[0]), x)
        return super().forward(x)


class PhaseConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d (same state dict) that, for a 3x3 stride-2 layer of the paper's
    widths on the CPU in fp32, eager, computes by models.phase_conv (forward; the input
    gradient is oneDNN's stride-2 convolution)."""

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        if output_size is None and self.output_padding[0] == self.output_padding[1]:
            out_h, out_w = (2 * (size - 1) - 2 * self.padding[0] + self.kernel_size[0]
                            + self.output_padding[0]
                            for size in x.shape[2:])
            if _goes_by_phases(self, x, (x.shape[2], x.shape[3]), (out_h, out_w)):
                return _in_layout_of(phase_conv_transpose2d(
                    x, self.weight, self.bias, self.padding[0], self.output_padding[0]), x)
        return super().forward(x, output_size)


def _small_map(layer: nn.Conv2d | nn.ConvTranspose2d, x: Tensor) -> bool:
    return (x.shape[2] * x.shape[3] <= SMALL_MAP_MAX_PIXELS
            and layer.in_channels * layer.out_channels >= SMALL_MAP_MIN_WEIGHT
            and layer.groups == 1
            and layer.dilation == (1, 1) and layer.padding_mode == "zeros"
            and _cpu_fast_path(x))


class SmallMapConv2d(nn.Conv2d):
    """nn.Conv2d (same state dict) that runs as unfold and one matrix product on small CPU
    maps. There oneDNN spends more time converting the large weight and its gradient to and
    from its blocked layout than computing: forward and backward of the U-Net's inner
    layers took 10-45% less time (2-core AVX2 CPU)."""

    def forward(self, x: Tensor) -> Tensor:
        if not _small_map(self, x):
            return super().forward(x)
        n, _, height, width = x.shape
        kernel, stride, pad = self.kernel_size[0], self.stride[0], self.padding[0]
        out_h = (height + 2 * pad - kernel) // stride + 1
        out_w = (width + 2 * pad - kernel) // stride + 1
        columns = F.unfold(x, kernel, padding=pad, stride=stride)
        y = self.weight.reshape(self.out_channels, -1) @ columns
        if self.bias is not None:
            y = y + self.bias.view(1, -1, 1)
        return _in_layout_of(y.view(n, self.out_channels, out_h, out_w), x)


class SmallMapConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d (same state dict) that runs as one matrix product and fold on small
    CPU maps, for the reason SmallMapConv2d gives."""

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        if output_size is not None or not _small_map(self, x):
            return super().forward(x, output_size)
        n, channels, height, width = x.shape
        kernel, stride, pad = self.kernel_size[0], self.stride[0], self.padding[0]
        out_h = (height - 1) * stride - 2 * pad + kernel + self.output_padding[0]
        out_w = (width - 1) * stride - 2 * pad + kernel + self.output_padding[1]
        columns = self.weight.reshape(channels, -1).t() @ x.reshape(n, channels, height * width)
        y = F.fold(columns, (out_h, out_w), kernel, padding=pad, stride=stride)
        return _in_layout_of(y if self.bias is None else y + self.bias.view(1, -1, 1, 1), x)


class ResidualBlock(nn.Module):
    """Two reflection-padded 3x3 convolutions with a skip connection."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            WinogradConv2d(channels, channels, 3),
            instance_norm(channels),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1),
            WinogradConv2d(channels, channels, 3),
            instance_norm(channels),
        )

    def by_winograd(self, x: Tensor) -> bool:
        """Whether the block's convolutions compute x by Winograd, which runs channels-last
        (NHWC) inputs faster: see `ResnetGenerator.forward`."""
        return self.body[1].by_winograd(x, padded=1)

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
