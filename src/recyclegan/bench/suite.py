"""`recyclegan bench`: training, then inference, for one configuration on one device."""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from recyclegan.bench.common import device_name, resolve_variants
from recyclegan.bench.inference import (
    InferenceResult,
    end_to_end,
    generator_only,
    make_retargeter,
    write_clip,
)
from recyclegan.bench.training import TrainingResult, TrainingSetup, matmul_rate, training_grid
from recyclegan.config import MODEL_SIZES
from recyclegan.devices import resolve_device, tune_cpu_process
from recyclegan.models import build_generator


@dataclass(frozen=True)
class BenchConfig:
    """What to measure. Variant names as in `common.Variant.parse`, or "fast"."""

    device: str
    size: int
    model_size: str
    train_batch_sizes: tuple[int, ...]
    generator_batch_sizes: tuple[int, ...]
    retarget_batch_sizes: tuple[int, ...]
    steps: int
    """Timed training steps, and timed batches of the generator alone."""
    warmup: int
    """Untimed training steps before the timed ones."""
    frames: int
    """Frames of the end-to-end clip."""
    variants: tuple[str, ...] = ("fp32", "fast")
    compile: bool = False
    """Add a torch.compile'd copy of each variant."""
    preset: str = "recycle"
    encoder_preset: str = "medium"
    """libx264's speed preset for the end-to-end path (see video_io.ENCODER_PRESETS)."""
    training: bool = True
    inference: bool = True


def default_config(device: str = "auto") -> BenchConfig:
    """On CUDA the paper networks at 256x256; on the CPU a configuration of about a minute."""
    resolved = resolve_device(device)
    if resolved.type == "cuda":
        return BenchConfig(str(resolved), 256, "paper", (1, 16), (1, 128), (32,), steps=20,
                           warmup=5, frames=300)
    return BenchConfig(str(resolved), 64, "small", (1,), (1, 8), (8,), steps=10, warmup=2,
                       frames=60, variants=("fp32",))


@dataclass
class BenchReport:
    config: BenchConfig
    device_name: str
    torch_version: str
    date: str
    """UTC, ISO 8601, when the measurements started."""
    matmul_tflops: float | None = None
    """bf16 matmul rate measured on the GPU (the ceiling of the fractions); None on the CPU."""
    training: list[TrainingResult] = field(default_factory=list)
    inference: list[InferenceResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def run_bench(config: BenchConfig, status: Callable[[str], None] = lambda message: None
              ) -> BenchReport:
    """Measure `config`; `status` hears what is being measured before each part."""
    device = resolve_device(config.device)
    MODEL_SIZES[config.model_size].check_image_size(config.size)
    report = BenchReport(config, device_name(device), torch.__version__,
                         datetime.now(timezone.utc).isoformat(timespec="seconds"))
    if device.type == "cpu":
        tune_cpu_process()  # as `train` and `retarget` do
    if config.training:
        _run_training(config, device, report, status)
    if config.inference:
        _run_inference(config, device, report, status)
    return report


def _run_training(config: BenchConfig, device: torch.device, report: BenchReport,
                  status: Callable[[str], None]) -> None:
    peak_rate = None
    if device.type == "cuda":
        status("measuring the bf16 matmul rate")
        peak_rate = matmul_rate(device)
        report.matmul_tflops = peak_rate / 1e12
    setup = TrainingSetup(device, config.size, config.model_size, config.preset)
    variants = resolve_variants(list(config.variants), "training", device, config.compile)
    benchmark = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = device.type == "cuda" or benchmark  # as `train` does
    try:
        report.training += training_grid(
            setup, variants, config.train_batch_sizes, config.steps, config.warmup, peak_rate,
            announce=lambda variant, batch: status(f"training, {variant.name}, batch {batch}"))
    finally:
        torch.backends.cudnn.benchmark = benchmark


def _run_inference(config: BenchConfig, device: torch.device, report: BenchReport,
                   status: Callable[[str], None]) -> None:
    torch.manual_seed(0)
    generator = build_generator(MODEL_SIZES[config.model_size]).eval()
    variants = resolve_variants(list(config.variants), "inference", device, config.compile)
    with tempfile.TemporaryDirectory(prefix="recyclegan-bench-") as folder:
        src, warm_up = Path(folder) / "in.mp4", Path(folder) / "warm_up.mp4"
        if config.retarget_batch_sizes:
            status(f"writing a {config.frames}-frame test clip")
            write_clip(src, config.size, config.frames)
            write_clip(warm_up, config.size, max(config.retarget_batch_sizes))
        for variant in variants:
            for batch in config.generator_batch_sizes:
                status(f"generator only, {variant.name}, batch {batch}")
                retargeter = make_retargeter(generator, config.size, device, variant, batch)
                report.inference.append(generator_only(retargeter, config.steps, variant.name))
            for batch in config.retarget_batch_sizes:
                status(f"retarget end to end, {variant.name}, batch {batch}")
                retargeter = make_retargeter(generator, config.size, device, variant, batch)
                report.inference.append(end_to_end(retargeter, warm_up, src,
                                                   Path(folder) / "out.mp4", config.frames,
                                                   variant.name,
                                                   encoder_preset=config.encoder_preset))
