"""Frames in, translated frames out: the streaming core of retargeting.

Frames are prepared as in training (short side resized, centre square at the run's size) or,
with `keep_resolution`, translated whole: the generator is fully convolutional, so the
frame is only reflection-padded to a multiple of 4 and the padding cropped off again.
Memory holds one batch, however long the stream.

The fast path (the defaults on CUDA): bf16 autocast, channels_last (NHWC) tensors, and
pinned host memory for non-blocking copies to the GPU; `compile=True` adds torch.compile,
with each batch padded to the full batch size so that a single graph serves the whole stream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from recyclegan.data.frames import center_square
from recyclegan.devices import autocast_dtype, memory_format, resolve_device, tune_process
from recyclegan.errors import RecycleganError
from recyclegan.inference.load import load_generator, weights_hash
from recyclegan.inference.stabilize import Stabilizer, build_stabilizer

if TYPE_CHECKING:  # both import this module
    from recyclegan.inference.faces import FaceOptions
    from recyclegan.inference.retarget import Marking, RetargetReport

_MULTIPLE = 4  # the generator's two stride-2 downsamplings
_SMALLEST = 2 * _MULTIPLE
COMPILE_BACKEND = "inductor"  # torch.compile's backend; tests swap in "eager"
T = TypeVar("T")
# (prepared, translated) -> what to copy to the host instead of the translation; both are
# (N, H, W, 3) uint8 tensors on the model's device (see inference.output_stage).
Finish = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class Retargeter:
    """Translate frames with one trained generator.

    >>> retargeter = Retargeter.from_run("runs/alice2bob", direction="a2b")
    >>> for frame in retargeter.translate_frames(frames):   # HxWx3 uint8 RGB arrays
    ...     ...
    """

    def __init__(self, generator: nn.Module, image_size: int,
                 device: str | torch.device = "cpu", batch_size: int = 8,
                 keep_resolution: bool = False, run_dir: Path | None = None,
                 direction: str = "a2b", stabilizer: Stabilizer | None = None,
                 precision: str = "auto", channels_last: bool | None = None,
                 compile: bool = False) -> None:
        """`precision`: auto (bf16 on CUDA, fp32 on CPU), bf16 or fp32. `channels_last`:
        None = on CUDA only. `compile`: torch.compile the generator (which is moved, converted
        and compiled in place). This also tunes the process for the device: tune_process."""
        if batch_size < 1:
            raise RecycleganError(f"--batch-size must be at least 1, got {batch_size}")
        self.device = resolve_device(device)
        tune_process(self.device)
        self.autocast_dtype = autocast_dtype(precision, self.device)
        self.memory_format = memory_format(channels_last, self.device)
        self.generator = generator.to(self.device, memory_format=self.memory_format).eval()
        self.compiled = compile
        if compile:
            self.generator.compile(backend=COMPILE_BACKEND, dynamic=False)
        self.image_size, self.batch_size = image_size, batch_size
        self.keep_resolution = keep_resolution
        self.run_dir, self.direction = run_dir, direction
        self.stabilizer = stabilizer
        self._run_hash: str | None = None

    @property
    def run_hash(self) -> str:
        """The generator's weights hash (see inference.load.weights_hash), which outputs
        carry in their watermark and tags."""
        if self._run_hash is None:
            self._run_hash = weights_hash(self.generator)
        return self._run_hash

    @classmethod
    def from_run(cls, run_dir: str | Path, direction: str = "a2b",
                 device: str | torch.device = "auto", batch_size: int = 8,
                 keep_resolution: bool = False, stabilize: str = "none",
                 stabilize_strength: float = 0.5, precision: str = "auto",
                 channels_last: bool | None = None, compile: bool = False) -> Retargeter:
        """The newest checkpoint of `run_dir`, translating A to B (a2b) or B to A (b2a).

        `stabilize="flow"` smooths each clip over time; see inference.stabilize. For
        `precision`, `channels_last` and `compile` see the constructor.
        """
        device = resolve_device(device)
        stabilizer = build_stabilizer(stabilize, stabilize_strength)
        loaded = load_generator(Path(run_dir), direction, device)
        return cls(loaded.generator, loaded.image_size, device, batch_size, keep_resolution,
                   Path(run_dir), direction, stabilizer, precision, channels_last, compile)

    def retarget_file(self, src: str | Path, dst: str | Path, *, side_by_side: bool = False,
                      crf: int = 18, strict: bool = False, overwrite: bool = False,
                      progress: bool = False, hardware_encoder: bool | None = None,
                      encoder_preset: str = "medium", faces: FaceOptions | None = None,
                      marking: Marking | None = None) -> RetargetReport:
        """Translate a video file (or folder of frames) into `dst`; see inference.retarget
        (`faces`, to translate only the face: inference.faces; `marking`: the watermark and
        signing, default the watermark alone)."""
        from recyclegan.inference.retarget import Marking, retarget_file  # it imports this

        return retarget_file(self, Path(src), Path(dst), side_by_side=side_by_side, crf=crf,
                             strict=strict, overwrite=overwrite, progress=progress,
                             hardware_encoder=hardware_encoder,
                             encoder_preset=encoder_preset, faces=faces,
                             marking=marking or Marking())

    def prepare(self, frame: np.ndarray) -> np.ndarray:
        """The frame as the generator sees it: the training crop, or the whole frame.

        Preparing a prepared frame returns it unchanged, so frames may be prepared ahead (in
        a decoding thread, say) before `translate_items` sees them."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise RecycleganError(f"expected an HxWx3 uint8 RGB frame, got {frame.dtype} "
                                  f"{frame.shape}")
        return frame if self.keep_resolution else center_square(frame, self.image_size)

    @torch.inference_mode()
    def translate_batch(self, frames: list[np.ndarray], finish: Finish | None = None
                        ) -> list[np.ndarray]:
        """Translate prepared frames of one size; returns uint8 frames of that size, or
        with `finish`, what it makes of each frame on the device."""
        count = len(frames)
        padding = self.batch_size - count if self.compiled else 0  # one graph for all batches
        batch = self._to_device(frames + [frames[-1]] * padding)
        x = batch.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
        height, width = x.shape[-2:]
        # Sides under _SMALLEST would shrink to one pixel, which instance norm refuses.
        pad_h = max(-height % _MULTIPLE, _SMALLEST - height)
        pad_w = max(-width % _MULTIPLE, _SMALLEST - width)
        if pad_h or pad_w:
            mode = "reflect" if min(height, width) > max(pad_h, pad_w) else "replicate"
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        x = x.contiguous(memory_format=self.memory_format)
        try:
            with torch.autocast(self.device.type, dtype=self.autocast_dtype,
                                enabled=self.autocast_dtype is not None):
                y = self.generator(x)
        except RuntimeError as error:  # torch.OutOfMemoryError is one; the CPU's is plain
            if not isinstance(error, torch.OutOfMemoryError) and "allocate" not in str(error):
                raise
            raise RecycleganError(
                f"{len(frames)} frames of {width}x{height} do not fit in the memory of "
                f"{self.device}; pass a smaller --batch-size"
                + (", or drop --keep-resolution" if self.keep_resolution else "")) from None
        y = y[:count, :, :height, :width].float()
        out = y.add_(1.0).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8)
        out = out.permute(0, 2, 3, 1)
        if finish is not None:
            out = finish(batch[:count], out)
        return list(out.contiguous().cpu().numpy())

    def _to_device(self, frames: list[np.ndarray]) -> torch.Tensor:
        """The frames stacked into one NHWC uint8 tensor on the device; on CUDA through
        pinned memory, so the copy does not hold up the host."""
        if self.device.type != "cuda":
            return torch.from_numpy(np.stack(frames)).to(self.device)
        staged = torch.empty((len(frames), *frames[0].shape), dtype=torch.uint8,
                             pin_memory=True)
        np.stack(frames, out=staged.numpy())
        return staged.to(self.device, non_blocking=True)

    def translate_frames(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Translate a stream of HxWx3 uint8 RGB frames, in order, a batch at a time."""
        for _, _, translated in self.translate_items((None, frame) for frame in frames):
            yield translated

    def translate_items(self, items: Iterable[tuple[T, np.ndarray]],
                        finish: Finish | None = None
                        ) -> Iterator[tuple[T, np.ndarray, np.ndarray]]:
        """(key, frame) pairs in, (key, prepared frame, translation) out, in order.

        The key rides along untouched (a timestamp, say); a change of frame size (possible
        with keep_resolution and folders of images) closes the batch early. One call is one
        clip: a stabiliser starts afresh. `finish` replaces each translation by what it
        makes of it on the device (see Finish); a stabiliser needs the translations
        themselves, so the two do not go together.
        """
        if finish is not None and self.stabilizer is not None:
            raise ValueError("a stabiliser works on translated RGB frames; pass no finish")
        translated = self._translate_items(items, finish)
        if self.stabilizer is None:
            yield from translated
            return
        self.stabilizer.reset()
        for key, prepared, out in translated:
            yield key, prepared, self.stabilizer(prepared, out)

    def _translate_items(self, items: Iterable[tuple[T, np.ndarray]], finish: Finish | None
                         ) -> Iterator[tuple[T, np.ndarray, np.ndarray]]:
        keys: list[T] = []
        pending: list[np.ndarray] = []

        def translated() -> Iterator[tuple[T, np.ndarray, np.ndarray]]:
            return zip(keys, pending, self.translate_batch(pending, finish), strict=True)

        for key, frame in items:
            prepared = self.prepare(frame)
            if pending and prepared.shape != pending[0].shape:
                yield from translated()
                keys, pending = [], []
            keys.append(key)
            pending.append(prepared)
            if len(pending) == self.batch_size:
                yield from translated()
                keys, pending = [], []
        if pending:
            yield from translated()
