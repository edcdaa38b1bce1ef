"""Run configuration: frozen dataclasses, named presets, and YAML load with validation.

A run is described by four parts: the networks (`ModelConfig`), the loss weights
(`LossWeights`), the data pipeline (`DataConfig`) and the optimisation (`TrainConfig`).
Presets give whole parts by name (`--model-size`, `--preset`); a YAML file and CLI flags
override single fields. Unknown keys and out-of-range values are errors, never ignored.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from recyclegan.errors import RecycleganError


class ConfigError(RecycleganError):
    """A configuration value or file the user has to fix."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


@dataclass(frozen=True)
class ModelConfig:
    """Widths and depths of the six networks (two each of generator, predictor, discriminator)."""

    gen_channels: int = 64
    gen_blocks: int = 6
    pred_channels: int = 64
    pred_max_depth: int = 8
    """The U-Net goes as deep as the image size allows, up to this many downsamplings."""
    pred_depth: int | None = None
    """Resolved from the image size when the run starts; recorded so a run rebuilds exactly."""
    disc_channels: int = 64
    disc_layers: int = 3

    def __post_init__(self) -> None:
        for name in ("gen_channels", "pred_channels", "disc_channels"):
            _require(getattr(self, name) >= 1, f"model.{name} must be at least 1")
        _require(self.gen_blocks >= 0, "model.gen_blocks must be 0 or more")
        _require(1 <= self.pred_max_depth <= 10, "model.pred_max_depth must be between 1 and 10")
        _require(
            self.pred_depth is None or 1 <= self.pred_depth <= self.pred_max_depth,
            "model.pred_depth must be between 1 and model.pred_max_depth",
        )
        _require(1 <= self.disc_layers <= 6, "model.disc_layers must be between 1 and 6")

    def predictor_depth_for(self, image_size: int) -> int:
        """Deepest U-Net (at most `pred_max_depth`) whose downsamplings divide `image_size`."""
        if self.pred_depth is not None:
            return self.pred_depth
        depth = 0
        while depth < self.pred_max_depth and image_size % (2 ** (depth + 1)) == 0:
            depth += 1
        return depth

    def check_image_size(self, image_size: int) -> None:
        """Raise a clear error for a frame size the networks cannot take."""
        _require(
            image_size % 4 == 0,
            f"image size {image_size} is not a multiple of 4, which the generator's two "
            "downsamplings need; prepare the dataset with --size 32, 64, 128, 256, ...",
        )
        min_disc = 2 ** self.disc_layers * 3
        _require(
            image_size >= min_disc,
            f"image size {image_size} is too small for a {self.disc_layers}-layer PatchGAN "
            f"discriminator (needs at least {min_disc}); prepare the dataset with a larger --size",
        )
        depth = self.predictor_depth_for(image_size)
        _require(
            depth >= 1 and image_size % (2**depth) == 0,
            f"image size {image_size} does not fit a U-Net predictor of depth {depth} "
            f"(needs a multiple of {2 ** max(depth, 1)})",
        )


MODEL_SIZES: dict[str, ModelConfig] = {
    # The networks of the paper: ResNet-6 generator, U-Net-256 predictor, 70x70 PatchGAN.
    "paper": ModelConfig(),
    # Narrower and shallower so that CPU training at 64-128 px is practical.
    "small": ModelConfig(gen_channels=32, gen_blocks=4, pred_channels=32, pred_max_depth=6,
                         disc_channels=32, disc_layers=3),
    # What tests use: seconds per step at 32-64 px on a CPU.
    "tiny": ModelConfig(gen_channels=8, gen_blocks=1, pred_channels=8, pred_max_depth=4,
                        disc_channels=8, disc_layers=2),
}


@dataclass(frozen=True)
class LossWeights:
    """Weight of each loss term; a weight of 0 switches the term (and its compute) off."""

    adversarial: float = 1.0
    recurrent: float = 10.0
    recycle: float = 10.0
    cycle: float = 0.0
    identity: float = 0.0
    reconstruction: Literal["l1", "l2"] = "l1"
    """Distance for the recurrent, recycle, cycle and identity terms (the paper writes l2)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name != "reconstruction":
                value = getattr(self, f.name)
                _require(math.isfinite(value) and value >= 0,
                         f"losses.{f.name} must be a finite number >= 0, got {value}")
        _require(self.reconstruction in ("l1", "l2"),
                 f"losses.reconstruction must be 'l1' or 'l2', got {self.reconstruction!r}")
        _require(self.adversarial > 0, "losses.adversarial must be > 0: without it nothing "
                 "makes the translation look like the other domain")

    @property
    def uses_predictor(self) -> bool:
        """Temporal predictors are built and trained only when a term needs them."""
        return self.recurrent > 0 or self.recycle > 0


PRESETS: dict[str, LossWeights] = {
    "recycle": LossWeights(),
    "recycle+cycle": LossWeights(cycle=10.0),
    "cycle": LossWeights(recurrent=0.0, recycle=0.0, cycle=10.0),
}


@dataclass(frozen=True)
class DataConfig:
    flip: bool = True
    """Random horizontal flips of whole windows."""
    stride: int | None = None
    """Frames between the three frames of a window; None takes each dataset's own stride."""
    num_workers: int = 0
    image_size: int | None = None
    """Side of the square frames; taken from the datasets when a run starts, then recorded."""

    def __post_init__(self) -> None:
        _require(self.stride is None or self.stride >= 1, "data.stride must be at least 1")
        _require(self.image_size is None or self.image_size >= 1,
                 "data.image_size must be at least 1")
        _require(self.num_workers >= 0, "data.num_workers must be 0 or more")


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 20000
    batch_size: int = 1
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    lr_decay_start: int | None = None
    """Step at which the learning rate starts its linear decay to 0 at `steps`; None = steps/2."""
    pool_size: int = 50
    seed: int = 0
    device: str = "auto"
    log_every: int = 10
    sample_every: int = 500
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    precision: str = "auto"
    """bf16 (autocast) or fp32; auto = bf16 on CUDA, fp32 on the CPU."""
    channels_last: bool | None = False
    """NHWC activations and weights; None = on CUDA only. Off by default: on an H200 it made
    eager bf16 training slightly slower (benchmarks/BENCHMARKS.md)."""
    compile: bool = False
    """torch.compile each network (slow first steps, faster after)."""
    on_nan: str = "stop"
    """A step with a NaN or infinite loss or gradient is never applied; then "stop" ends the
    run with a message naming the term, "skip" goes on (the skipped steps are counted)."""

    def __post_init__(self) -> None:
        _require(self.steps >= 1, "train.steps must be at least 1")
        _require(self.batch_size >= 1, "train.batch_size must be at least 1")
        _require(math.isfinite(self.lr) and self.lr > 0, "train.lr must be > 0")
        _require(0 <= self.beta1 < 1 and 0 <= self.beta2 < 1, "train.beta1/beta2 must be in [0, 1)")
        _require(self.lr_decay_start is None or self.lr_decay_start >= 0,
                 "train.lr_decay_start must be 0 or more")
        _require(self.pool_size >= 0, "train.pool_size must be 0 or more")
        _require(self.seed >= 0, "train.seed must be 0 or more")
        _require(self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:"),
                 f"train.device must be auto, cpu or cuda, got {self.device!r}")
        for name in ("log_every", "sample_every", "checkpoint_every", "keep_checkpoints"):
            _require(getattr(self, name) >= 1, f"train.{name} must be at least 1")
        _require(self.precision in PRECISIONS,
                 f"train.precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        _require(self.on_nan in ("stop", "skip"),
                 f"train.on_nan must be stop or skip, got {self.on_nan!r}")
        _require(self.channels_last in (None, True, False),
                 "train.channels_last must be true, false or null (auto)")

    @property
    def decay_start(self) -> int:
        return self.steps // 2 if self.lr_decay_start is None else self.lr_decay_start

    def lr_at(self, step: int) -> float:
        """Learning rate for the step about to run: constant, then linear decay to 0 at `steps`."""
        start = self.decay_start
        if step < start or self.steps <= start:
            return self.lr
        return self.lr * max(0.0, 1.0 - (step - start) / (self.steps - start))


PRECISIONS = ("auto", "bf16", "fp32")


@dataclass(frozen=True)
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    losses: LossWeights = field(default_factory=LossWeights)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    model_size: str = "paper"
    preset: str = "recycle"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_SECTIONS = {"model": ModelConfig, "losses": LossWeights, "data": DataConfig, "train": TrainConfig}


def _as_float(value: Any, name: str) -> float:
    # YAML reads 2e-4 (no dot) as a string, so numeric strings are accepted here.
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"'{name}' must be a number, got {value!r}") from None


def _override(obj: Any, section: str, values: Any) -> Any:
    _require(isinstance(values, dict), f"'{section}' must be a mapping of names to values")
    known = {f.name: f for f in fields(obj)}
    changes = {}
    for key, value in values.items():
        _require(key in known, f"unknown setting '{section}.{key}'; known: {', '.join(known)}")
        current = getattr(obj, key)
        if isinstance(current, bool):
            _require(isinstance(value, bool), f"'{section}.{key}' must be true or false")
        elif isinstance(current, float) and not isinstance(value, bool):
            value = _as_float(value, f"{section}.{key}")
        elif current is not None and value is not None and type(value) is not type(current):
            raise ConfigError(f"'{section}.{key}' must be a {type(current).__name__}, "
                              f"got {value!r}")
        changes[key] = value
    try:
        return replace(obj, **changes)
    except TypeError as exc:  # e.g. a None where a number is needed
        raise ConfigError(f"bad value in '{section}': {exc}") from None


def build_config(
    model_size: str = "paper",
    preset: str = "recycle",
    overrides: dict[str, Any] | None = None,
) -> RunConfig:
    """Start from the named model size and loss preset, then apply section overrides."""
    overrides = dict(overrides or {})
    model_size = overrides.pop("model_size", model_size)
    preset = overrides.pop("preset", preset)
    _require(model_size in MODEL_SIZES,
             f"unknown model size {model_size!r}; choose one of {', '.join(MODEL_SIZES)}")
    _require(preset in PRESETS, f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    parts: dict[str, Any] = {
        "model": MODEL_SIZES[model_size], "losses": PRESETS[preset],
        "data": DataConfig(), "train": TrainConfig(),
    }
    for key, values in overrides.items():
        _require(key in _SECTIONS, f"unknown config section '{key}'; known: "
                 f"model_size, preset, {', '.join(_SECTIONS)}")
        parts[key] = _override(parts[key], key, values)
    return RunConfig(model_size=model_size, preset=preset, **parts)


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if data is None:
        return {}
    _require(isinstance(data, dict), f"{path}: a config file must be a mapping of sections")
    return data


def config_from_dict(data: dict[str, Any]) -> RunConfig:
    """Rebuild a saved, fully resolved config (RUN/config.yaml)."""
    return build_config(overrides=data)


def write_yaml(config: RunConfig, path: str | Path) -> None:
    from recyclegan.fileio import atomic_write_text

    atomic_write_text(Path(path), yaml.safe_dump(config.to_dict(), sort_keys=False))


def merge_overrides(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Section-wise update of a config mapping (later values win)."""
    merged = {key: dict(value) if isinstance(value, dict) else value
              for key, value in base.items()}
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key].update(value)
        else:
            merged[key] = value
    return merged


def changed_fields(old: RunConfig, new: RunConfig) -> list[str]:
    """Dotted names of the settings that differ between two configs."""
    changed = []
    for section in ("model_size", "preset", *_SECTIONS):
        a, b = getattr(old, section), getattr(new, section)
        if section in _SECTIONS:
            changed += [f"{section}.{f.name}" for f in fields(a)
                        if getattr(a, f.name) != getattr(b, f.name)]
        elif a != b:
            changed.append(section)
    return changed
