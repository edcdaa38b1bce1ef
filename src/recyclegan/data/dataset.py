"""Training windows (frames t, t+stride, t+2*stride) read from a prepared dataset."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from recyclegan.data.manifest import load_manifest
from recyclegan.errors import RecycleganError

WindowKey = tuple[int, bool]


class WindowDataset(Dataset):
    """Every window of three frames (t, t+stride, t+2*stride) inside one clip.

    Windows never cross a clip boundary, so never a scene cut. Items are keyed by
    `(window_index, flip)`, as produced by `WindowSampler`, and are uint8 tensors of shape
    (3 frames, 3 channels, size, size). Clips are memory-mapped on first use in each process.
    """

    def __init__(self, root: str | Path, stride: int | None = None) -> None:
        self.root = Path(root)
        manifest = load_manifest(self.root)
        self.size: int = manifest["size"]
        self.stride: int = manifest["stride"] if stride is None else stride
        if self.stride < 1:
            raise RecycleganError(f"stride must be at least 1, got {self.stride}")
        self._files = [self.root / clip["file"] for clip in manifest["clips"]]
        span = 2 * self.stride
        counts = [max(0, clip["frames"] - span) for clip in manifest["clips"]]
        # _offsets[c] is the index of clip c's first window.
        self._offsets = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])
        self.num_windows = int(self._offsets[-1])
        if self.num_windows == 0:
            raise RecycleganError(
                f"{self.root}: no clip has the {span + 1} frames a window needs at stride "
                f"{self.stride}; use a smaller stride or prepare longer clips"
            )
        self._clips: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return self.num_windows

    def __getstate__(self) -> dict:
        # Memory maps must not be pickled into worker processes (they would be copied whole).
        return {**self.__dict__, "_clips": {}}

    def locate(self, index: int) -> tuple[int, int]:
        """(clip number, first frame) of window `index`."""
        if not 0 <= index < self.num_windows:
            raise IndexError(f"window {index} out of range for {self.num_windows} windows")
        clip = int(np.searchsorted(self._offsets, index, side="right")) - 1
        return clip, index - int(self._offsets[clip])

    def __getitem__(self, key: WindowKey | int) -> torch.Tensor:
        index, flip = key if isinstance(key, tuple) else (key, False)
        clip, start = self.locate(int(index))
        frames = self._clip(clip)[start : start + 2 * self.stride + 1 : self.stride]
        if flip:
            frames = frames[:, :, ::-1]
        return torch.from_numpy(np.ascontiguousarray(frames.transpose(0, 3, 1, 2)))

    def _clip(self, clip: int) -> np.ndarray:
        if clip not in self._clips:
            self._clips[clip] = np.load(self._files[clip], mmap_mode="r")
        return self._clips[clip]


class WindowSampler:
    """Infinite, deterministic batch sampler of `(window_index, flip)` keys for one domain.

    Under data parallelism `batch_size` is the global batch and each of `world_size` ranks
    takes its consecutive share, so N ranks together see what one process would.

    Stateless: the sample at global position p = step * batch_size + i belongs to epoch
    p // num_windows at offset p % num_windows, and each epoch's permutation and flip bits
    come from a generator seeded by (seed, epoch). Starting at `start_step` therefore yields
    exactly the batches an uninterrupted run would have seen from that step on.
    """

    def __init__(
        self, num_windows: int, batch_size: int, seed: int, start_step: int = 0, flip: bool = True,
        rank: int = 0, world_size: int = 1,
    ) -> None:
        if num_windows < 1 or batch_size < 1 or seed < 0 or start_step < 0:
            raise ValueError(
                "need num_windows >= 1, batch_size >= 1, seed >= 0, start_step >= 0; got "
                f"{num_windows}, {batch_size}, {seed}, {start_step}"
            )
        if not 0 <= rank < world_size or batch_size % world_size:
            raise ValueError(f"rank {rank} of {world_size} cannot take an equal share of a "
                             f"batch of {batch_size}")
        self.num_windows, self.batch_size, self.seed = num_windows, batch_size, seed
        self.start_step, self.flip = start_step, flip
        self.share = batch_size // world_size
        self.rank = rank
        self._cached: tuple[int, list[int], list[bool]] | None = None

    def _epoch(self, epoch: int) -> tuple[list[int], list[bool]]:
        if self._cached is None or self._cached[0] != epoch:
            state = np.random.SeedSequence([self.seed, epoch]).generate_state(1, np.uint64)[0]
            generator = torch.Generator().manual_seed(int(state) >> 1)
            order = torch.randperm(self.num_windows, generator=generator).tolist()
            flips = torch.randint(0, 2, (self.num_windows,), generator=generator).bool().tolist()
            self._cached = (epoch, order, flips if self.flip else [False] * self.num_windows)
        return self._cached[1], self._cached[2]

    def batch(self, step: int) -> list[WindowKey]:
        """This rank's keys of (global) batch number `step`: its equal share, in rank order."""
        keys = []
        first = step * self.batch_size + self.rank * self.share
        for position in range(first, first + self.share):
            epoch, offset = divmod(position, self.num_windows)
            order, flips = self._epoch(epoch)
            keys.append((order[offset], flips[offset]))
        return keys

    def __iter__(self) -> Iterator[list[WindowKey]]:
        step = self.start_step
        while True:
            yield self.batch(step)
            step += 1
