"""Inference throughput: the generator alone on random frames already on the device, and
`Retargeter.retarget_file` end to end (H.264 in, H.264 out, the code of `recyclegan retarget`).

Weights are random: speed does not depend on them.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from recyclegan.bench.common import Variant, sync
from recyclegan.data.frames import center_square
from recyclegan.data.video_io import DEFAULT_ENCODER_PRESET, VideoReader, write_video
from recyclegan.errors import RecycleganError
from recyclegan.inference.translate import Retargeter

GENERATOR_WARMUP = 3  # untimed batches: compilation, cuDNN's algorithm search


@dataclass(frozen=True)
class InferenceResult:
    path: str
    """"generator only" or "retarget, mp4 in and out, N frames"."""
    variant: str
    batch: int
    frames_per_s: float
    encoder: str = ""
    """The H.264 encoder of the end-to-end path and its speed preset ("libx264 medium")."""
    frames: int | None = None
    """Frames the end-to-end path wrote; None for the generator alone."""


def make_retargeter(generator: nn.Module, size: int, device: torch.device, variant: Variant,
                    batch_size: int) -> Retargeter:
    """A retargeter with its own copy of `generator`; torch.compile's caches start empty."""
    torch._dynamo.reset()
    return Retargeter(copy.deepcopy(generator), size, device, batch_size=batch_size,
                      precision=variant.precision, channels_last=variant.channels_last,
                      compile=variant.compile)


def generator_only(retargeter: Retargeter, steps: int, variant: str) -> InferenceResult:
    """Frames/s of the retargeter's generator, with its precision and memory format, over
    `steps` batches after GENERATOR_WARMUP untimed ones."""
    device, batch, size = retargeter.device, retargeter.batch_size, retargeter.image_size
    x = (torch.rand(batch, 3, size, size, device=device) * 2 - 1).contiguous(
        memory_format=retargeter.memory_format)
    dtype = retargeter.autocast_dtype
    with torch.inference_mode(), torch.autocast(device.type, dtype=dtype,
                                                enabled=dtype is not None):
        for _ in range(GENERATOR_WARMUP):
            retargeter.generator(x)
        sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            retargeter.generator(x)
        sync(device)
    rate = batch * steps / (time.perf_counter() - start)
    return InferenceResult("generator only", variant, batch, rate)


def write_clip(path: Path, size: int, frames: int, source: Path | None = None) -> Path:
    """The clip end to end translates: by default random noise scrolling sideways (every
    frame differs, and encoding is costly); with `source`, that video's frames as training
    prepares them (centre squares at `size`), played forwards then backwards until there
    are `frames` (real footage encodes several times faster than noise)."""
    if source is None:
        base = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
        images: Iterable[np.ndarray] = (np.roll(base, i, axis=1) for i in range(frames))
    else:
        with VideoReader(source) as reader:
            squares = [center_square(frame.image, size) for frame in reader]
        if not squares:
            raise RecycleganError(f"{source}: no decodable video frame")
        loop = squares + squares[-2:0:-1]  # no frame twice at the turns
        images = (loop[i % len(loop)] for i in range(frames))
    write_video(path, images, fps=25)
    return path


def end_to_end(retargeter: Retargeter, warm_up: Path, src: Path, dst: Path, frames: int,
               variant: str, hardware: bool | None = None,
               encoder_preset: str = DEFAULT_ENCODER_PRESET) -> InferenceResult:
    """Frames/s of `retarget_file` from `src` (of `frames` frames) to `dst`, timed after an
    untimed one on the short clip `warm_up`. `hardware`, `encoder_preset`: see
    `retarget_file`."""
    options = {"overwrite": True, "hardware_encoder": hardware, "encoder_preset": encoder_preset}
    retargeter.retarget_file(warm_up, dst, **options)
    start = time.perf_counter()
    report = retargeter.retarget_file(src, dst, **options)
    elapsed = time.perf_counter() - start
    if report.frames != frames:
        raise RuntimeError(f"retarget wrote {report.frames} frames of the {frames} in {src}")
    return InferenceResult(f"retarget, mp4 in and out, {frames} frames", variant,
                           retargeter.batch_size, frames / elapsed,
                           f"{report.encoder} {encoder_preset}", report.frames)
