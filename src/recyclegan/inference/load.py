"""Rebuild one trained generator from a run folder (config.yaml + newest checkpoint)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from recyclegan.config import RunConfig, config_from_dict, read_yaml
from recyclegan.errors import RecycleganError
from recyclegan.models import ResnetGenerator, build_generator
from recyclegan.training.checkpoint import load_weights

# Which network translates in each direction.
DIRECTIONS = {"a2b": "gen_ab", "b2a": "gen_ba"}


@dataclass
class LoadedGenerator:
    generator: ResnetGenerator
    config: RunConfig
    step: int
    direction: str

    @property
    def image_size(self) -> int:
        """Side of the square frames the run was trained on."""
        size = self.config.data.image_size
        if size is None:
            raise RecycleganError("the run's config.yaml records no data.image_size")
        return size


def load_run_config(run_dir: Path) -> RunConfig:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RecycleganError(f"{run_dir}: no such run folder")
    if not (run_dir / "config.yaml").is_file():
        raise RecycleganError(f"{run_dir} is not a training run (no config.yaml)")
    return config_from_dict(read_yaml(run_dir / "config.yaml"))


def load_generator(run_dir: Path, direction: str = "a2b",
                   device: str | torch.device = "cpu") -> LoadedGenerator:
    """The generator of `direction` with the newest checkpoint's weights, in eval mode."""
    if direction not in DIRECTIONS:
        raise RecycleganError(f"direction must be one of {', '.join(DIRECTIONS)}, "
                              f"got {direction!r}")
    config = load_run_config(Path(run_dir))
    name = DIRECTIONS[direction]
    step, weights = load_weights(Path(run_dir) / "checkpoints", prefix=f"{name}.")
    generator = build_generator(config.model)
    try:
        generator.load_state_dict({key[len(name) + 1:]: value for key, value in weights.items()},
                                  strict=True)
    except RuntimeError:
        raise RecycleganError(f"{run_dir}: the checkpoint's {name} does not match the "
                              "networks that config.yaml describes") from None
    generator.to(device).eval().requires_grad_(False)
    return LoadedGenerator(generator=generator, config=config, step=step, direction=direction)
