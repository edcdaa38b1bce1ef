"""Training-step throughput of `Trainer.train_step` on random uint8 windows already on the
device (data loading excluded), its counted FLOPs and peak memory."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace

import torch
from torch.utils.flop_counter import FlopCounterMode

from recyclegan.bench.common import Variant, sync
from recyclegan.config import MODEL_SIZES, PRESETS, TrainConfig
from recyclegan.models import build_networks
from recyclegan.training.trainer import Trainer


@dataclass(frozen=True)
class TrainingSetup:
    """What every measured step shares: device, frame size, networks and loss preset."""

    device: torch.device
    size: int
    model_size: str = "paper"
    preset: str = "recycle"


@dataclass(frozen=True)
class TrainingResult:
    """One variant at one batch size. A triplet is one window of three frames per domain,
    so a step at batch B trains on B triplets."""

    variant: str
    batch: int
    s_per_step: float
    triplets_per_s: float
    flops: int | None
    """Counted on one step of this trainer; None when compiled (counted on eager ones)."""
    peak_gib: float | None
    """Peak GPU memory over warm-up and timed steps; None on the CPU."""
    warmup_s: float
    syncs: str
    """On CUDA: "none" when a step makes no host synchronisation, else what made one."""
    loss: float
    flops_per_triplet: float | None = None
    flop_rate: float | None = None
    """Achieved FLOP/s: FLOPs per triplet times triplets/s."""
    matmul_fraction: float | None = None
    """`flop_rate` over the measured bf16 matmul rate of the card."""


def matmul_rate(device: torch.device, size: int = 8192, repeats: int = 20) -> float:
    """Achieved bf16 matmul FLOP/s on this device: the ceiling the fractions refer to."""
    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    b = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync(device)
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def make_trainer(setup: TrainingSetup, variant: Variant, batch_size: int) -> Trainer:
    """Freshly seeded networks of `setup` with the optimisers and pools of a real run."""
    model = MODEL_SIZES[setup.model_size]
    model = replace(model, pred_depth=model.predictor_depth_for(setup.size))
    weights = PRESETS[setup.preset]
    torch.manual_seed(0)
    networks = build_networks(model, with_predictors=weights.uses_predictor)
    cfg = TrainConfig(steps=10**6, batch_size=batch_size, precision=variant.precision,
                      channels_last=variant.channels_last, compile=variant.compile)
    return Trainer(networks, weights, cfg, setup.device)


def random_batches(setup: TrainingSetup, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random uint8 windows (B, 3 frames, 3, H, W) for each domain, on the device."""
    shape = (batch_size, 3, 3, setup.size, setup.size)
    batch_a = torch.randint(0, 256, shape, dtype=torch.uint8, device=setup.device)
    batch_b = torch.randint(0, 256, shape, dtype=torch.uint8, device=setup.device)
    return batch_a, batch_b


def count_flops(trainer: Trainer, batch_a: torch.Tensor, batch_b: torch.Tensor) -> int:
    """FLOPs of one training step (forward and backward of every network), as torch counts
    them (matmuls and convolutions; elementwise work is not counted)."""
    counter = FlopCounterMode(display=False)
    with counter:
        trainer.train_step(batch_a, batch_b)
    return counter.get_total_flops()


def _host_syncs(trainer: Trainer, batch_a: torch.Tensor, batch_b: torch.Tensor) -> str:
    """Run one step with CUDA's sync debug mode raising on any host synchronisation."""
    torch.cuda.set_sync_debug_mode("error")
    try:
        trainer.train_step(batch_a, batch_b)
        return "none"
    except RuntimeError as exc:
        return f"yes ({str(exc).splitlines()[0][:60]})"
    finally:
        torch.cuda.set_sync_debug_mode("default")


def measure_training(setup: TrainingSetup, variant: Variant, batch_size: int, steps: int,
                     warmup: int) -> TrainingResult:
    """Seconds per step over `steps` steps after `warmup` untimed ones (compilation, cuDNN's
    algorithm search); then, on an eager trainer, the FLOPs of one more step."""
    device = setup.device
    trainer = make_trainer(setup, variant, batch_size)
    batch_a, batch_b = random_batches(setup, batch_size)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    compile_start = time.perf_counter()
    for _ in range(warmup):
        trainer.train_step(batch_a, batch_b)
    sync(device)
    warmup_s = time.perf_counter() - compile_start
    syncs = _host_syncs(trainer, batch_a, batch_b) if device.type == "cuda" else "n/a"
    start = time.perf_counter()
    for _ in range(steps):
        logged = trainer.train_step(batch_a, batch_b)
    float(logged["loss/g_total"])  # waits for the last step
    sync(device)
    elapsed = (time.perf_counter() - start) / steps
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    flops = None if variant.compile else count_flops(trainer, batch_a, batch_b)
    return TrainingResult(
        variant=variant.name, batch=batch_size, s_per_step=elapsed,
        triplets_per_s=batch_size / elapsed, flops=flops, peak_gib=peak, warmup_s=warmup_s,
        syncs=syncs, loss=float(logged["loss/g_total"]),
        flops_per_triplet=None if flops is None else flops / batch_size)


def training_grid(setup: TrainingSetup, variants: Iterable[Variant],
                  batch_sizes: Iterable[int], steps: int, warmup: int,
                  peak_rate: float | None = None,
                  announce: Callable[[Variant, int], None] | None = None
                  ) -> Iterator[TrainingResult]:
    """Each variant at each batch size, in order, with the achieved FLOP rate and its
    fraction of `peak_rate`. A compiled variant takes the FLOPs per triplet of an eager one
    measured earlier at the same batch size (none: n/a). `announce` hears each variant and
    batch size before it is measured."""
    batch_sizes = list(batch_sizes)
    flops_per_triplet: dict[int, float] = {}
    for variant in variants:
        for batch_size in batch_sizes:
            if announce is not None:
                announce(variant, batch_size)
            row = measure_training(setup, variant, batch_size, steps, warmup)
            if row.flops_per_triplet is not None:
                flops_per_triplet[batch_size] = row.flops_per_triplet
            per_triplet = flops_per_triplet.get(batch_size)
            achieved = per_triplet * row.triplets_per_s if per_triplet else None
            yield replace(row, flops_per_triplet=per_triplet, flop_rate=achieved,
                          matmul_fraction=achieved / peak_rate if achieved and peak_rate
                          else None)
            if setup.device.type == "cuda":
                torch.cuda.empty_cache()
