"""How accurate are the hand-written CPU convolutions inside the paper's networks?

    python benchmarks/cpu_paths_accuracy.py --size 128

Winograd (ResNet blocks, the discriminator's stride-1 4x4 convolution), the U-Net's
small-map layers, the generators' shifted-sum 7x7 RGB layers and their stride-2 3x3 layers by
phases replace oneDNN on the CPU in fp32. Each is tested exact against conv2d in float64 on
its own (tests/test_winograd.py, tests/test_small_map_layers.py, tests/test_shift_conv.py,
tests/test_phase_conv.py); this measures
them where they run: the relative error of every weight gradient of each network, in fp32
with and without them, against the same network in float64 (where they step aside), for the
loss mean(output^2) on random frames. It prints the median and largest error per network.
"""

from __future__ import annotations

import argparse
import copy
import statistics

import torch

import recyclegan.models.layers as layers
from recyclegan.config import ModelConfig
from recyclegan.devices import tune_cpu_process
from recyclegan.models import PatchDiscriminator, ResnetGenerator, UnetPredictor

DEFAULTS = {"WINOGRAD_MIN_CHANNELS": layers.WINOGRAD_MIN_CHANNELS,
            "SMALL_MAP_MAX_PIXELS": layers.SMALL_MAP_MAX_PIXELS,
            "SHIFT_MIN_WIDTH": layers.SHIFT_MIN_WIDTH,
            "PHASE_MIN_CHANNELS": layers.PHASE_MIN_CHANNELS}
OFF = {"WINOGRAD_MIN_CHANNELS": 10**9, "SMALL_MAP_MAX_PIXELS": 0, "SHIFT_MIN_WIDTH": 10**9,
       "PHASE_MIN_CHANNELS": 10**9}


def _weight_grads(net: torch.nn.Module, frames: list[torch.Tensor], dtype: torch.dtype,
                  hand_written: bool) -> dict[str, torch.Tensor]:
    for name, value in (DEFAULTS if hand_written else OFF).items():
        setattr(layers, name, value)
    net = copy.deepcopy(net).to(dtype)
    out = net(*(frame.to(dtype) for frame in frames))
    out.square().mean().backward()
    return {name: p.grad.double() for name, p in net.named_parameters()
            if name.endswith("weight")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.size < 32 or args.size % 4:
        parser.error("--size must be a multiple of 4, at least 32 (the networks' smallest)")
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    tune_cpu_process()
    torch.manual_seed(args.seed)
    frames = [torch.rand(args.batch_size, 3, args.size, args.size) * 2 - 1 for _ in range(2)]
    depth = ModelConfig().predictor_depth_for(args.size)
    nets = {
        "generator (ResNet-6)": (ResnetGenerator(), frames[:1]),
        f"predictor (U-Net, depth {depth})": (UnetPredictor(depth=depth), frames),
        "discriminator (70x70 PatchGAN)": (PatchDiscriminator(), frames[:1]),
    }
    print(f"# paper networks, {args.size}x{args.size}, batch {args.batch_size}; relative error "
          "of each weight gradient in fp32 against float64")
    print("| network | oneDNN only: median | max | with the hand-written paths: median | max |")
    print("| --- | --- | --- | --- | --- |")
    for label, (net, inputs) in nets.items():
        reference = _weight_grads(net, inputs, torch.float64, False)
        row = []
        for hand_written in (False, True):
            grads = _weight_grads(net, inputs, torch.float32, hand_written)
            errors = [((grads[n] - reference[n]).norm() / reference[n].norm()).item()
                      for n in reference if reference[n].norm() > 0]
            row += [f"{statistics.median(errors):.1e}", f"{max(errors):.1e}"]
        print(f"| {label} | " + " | ".join(row) + " |")
    for name, value in DEFAULTS.items():
        setattr(layers, name, value)


if __name__ == "__main__":
    main()
