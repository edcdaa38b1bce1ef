"""Rebuild one trained generator from a run folder (config.yaml + newest checkpoint)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from recyclegan.config import RunConfig, config_from_dict, read_yaml
from recyclegan.errors import RecycleganError
from recyclegan.models import ResnetGenerator, UnetPredictor, build_generator, build_predictor
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
        return run_image_size(self.config)


def run_image_size(config: RunConfig) -> int:
    if config.data.image_size is None:
        raise RecycleganError("the run's config.yaml records no data.image_size")
    return config.data.image_size


def load_run_config(run_dir: Path) -> RunConfig:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RecycleganError(f"{run_dir}: no such run folder")
    if not (run_dir / "config.yaml").is_file():
        raise RecycleganError(f"{run_dir} is not a training run (no config.yaml)")
    return config_from_dict(read_yaml(run_dir / "config.yaml"))


def _load_network(run_dir: Path, name: str, network: torch.nn.Module,
                  device: str | torch.device) -> int:
    """Fill `network` with the newest checkpoint's `name` tensors; returns the step."""
    step, weights = load_weights(Path(run_dir) / "checkpoints", prefix=f"{name}.")
    try:
        network.load_state_dict({key[len(name) + 1:]: value for key, value in weights.items()},
                                strict=True)
    except RuntimeError:
        raise RecycleganError(f"{run_dir}: the checkpoint's {name} does not match the "
                              "networks that config.yaml describes") from None
    network.to(device).eval().requires_grad_(False)
    return step


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise RecycleganError(f"direction must be one of {', '.join(DIRECTIONS)}, "
                              f"got {direction!r}")


def load_generator(run_dir: Path, direction: str = "a2b",
                   device: str | torch.device = "cpu") -> LoadedGenerator:
    """The generator of `direction` with the newest checkpoint's weights, in eval mode."""
    _check_direction(direction)
    config = load_run_config(Path(run_dir))
    generator = build_generator(config.model)
    step = _load_network(run_dir, DIRECTIONS[direction], generator, device)
    return LoadedGenerator(generator=generator, config=config, step=step, direction=direction)


def load_output_predictor(run_dir: Path, direction: str = "a2b",
                          device: str | torch.device = "cpu") -> UnetPredictor | None:
    """The temporal predictor of `direction`'s output domain (pred_b for a2b), or None when
    the run trained none (preset cycle)."""
    _check_direction(direction)
    config = load_run_config(Path(run_dir))
    if not config.losses.uses_predictor:
        return None
    size = run_image_size(config)
    model = replace(config.model, pred_depth=config.model.predictor_depth_for(size))
    predictor = build_predictor(model)
    _load_network(run_dir, "pred_b" if direction == "a2b" else "pred_a", predictor, device)
    return predictor


def weights_hash(network: nn.Module) -> str:
    """Hex SHA-256 of a network's weights (names, types, shapes and values, in name order).

    It names the trained generator, and so the run and checkpoint, that made an output:
    outputs carry it in their tags and its start in their watermark."""
    digest = hashlib.sha256()
    for name, tensor in sorted(network.state_dict().items()):
        values = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{name}:{values.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(values.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
