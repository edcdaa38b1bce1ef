"""Checkpoints: network weights in safetensors, training state in a weights-only torch file.

Layout in RUN/checkpoints/:
    step_00001000.safetensors   every network's tensors, named `gen_ab.net.0.weight`, ...
    step_00001000.state.pt      step, optimisers, image pools, RNG states (tensors and plain
                                Python values only, loaded with weights_only=True)
    latest.json                 the newest complete pair and the sha256 of both files;
                                written last, atomically; the checksums are checked on load

A crash at any moment leaves latest.json pointing at a complete pair.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from recyclegan.errors import RecycleganError
from recyclegan.fileio import atomic_write, atomic_write_text, sha256_file

LATEST = "latest.json"


@dataclass
class Checkpoint:
    step: int
    weights: dict[str, torch.Tensor]
    state: dict[str, Any]


def _names(step: int) -> tuple[str, str]:
    stem = f"step_{step:08d}"
    return f"{stem}.safetensors", f"{stem}.state.pt"


def save_checkpoint(directory: Path, step: int, weights: dict[str, torch.Tensor],
                    state: dict[str, Any], keep: int = 3) -> Path:
    """Write weights and state for `step`, point latest.json at them, prune to `keep` pairs.

    If writing fails (a full disk, say), the half-written pair is deleted and latest.json
    still names the previous checkpoint; RecycleganError says so.
    """
    weights_name, state_name = _names(step)
    tensors = {name: t.detach().cpu().contiguous() for name, t in weights.items()}
    try:
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write(directory / weights_name,
                     lambda tmp: save_file(tensors, str(tmp), metadata={"step": str(step)}))
        atomic_write(directory / state_name, lambda tmp: torch.save(state, tmp))
        checksums = {"weights": sha256_file(directory / weights_name),
                     "state": sha256_file(directory / state_name)}
        atomic_write_text(directory / LATEST, json.dumps(
            {"step": step, "weights": weights_name, "state": state_name, "sha256": checksums},
            indent=2) + "\n")
    # safetensors reports I/O failures as SafetensorError and torch.save as RuntimeError
    except (OSError, SafetensorError, RuntimeError) as error:
        raise _save_failed(directory, step, error) from None
    _prune(directory, keep)
    return directory / weights_name


def _save_failed(directory: Path, step: int, error: BaseException) -> RecycleganError:
    """Delete what was written of `step`'s pair and describe the failure."""
    previous = latest_step(directory)
    if previous != step:
        for name in _names(step):
            (directory / name).unlink(missing_ok=True)
    kept = (f"the checkpoint of step {previous} is intact; free some space, then continue "
            "with --resume" if previous is not None else "free some space and start again")
    cause = getattr(error, "strerror", None) or _first_line(error)
    return RecycleganError(f"{directory}: cannot save the checkpoint of step {step} "
                           f"({cause}); {kept}")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _prune(directory: Path, keep: int) -> None:
    """Keep the newest `keep` pairs, and remove temporary files a killed run left (a run has
    one writer, and it has finished writing when it prunes): ours, and the `.tmpXXXXXX` that
    safetensors (0.8) writes beside its target before renaming it."""
    pairs = sorted(directory.glob("step_*.safetensors"))
    for weights_path in pairs[:-keep]:
        weights_path.unlink(missing_ok=True)
        (directory / weights_path.name.replace(".safetensors", ".state.pt")).unlink(
            missing_ok=True)
    for partial in [*directory.glob(".*.partial*"), *directory.glob(".tmp??????")]:
        partial.unlink(missing_ok=True)


def latest_step(directory: Path) -> int | None:
    try:
        return int(json.loads((directory / LATEST).read_text())["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _read_latest(directory: Path, check: tuple[str, ...] = ("weights", "state")
                 ) -> tuple[int, Path, Path]:
    """The step and files latest.json names, after checking the checksums of those in
    `check` ("weights", "state")."""
    latest = directory / LATEST
    if not latest.is_file():
        raise RecycleganError(f"{directory}: no checkpoint yet (no {LATEST}); train first")
    try:
        record = json.loads(latest.read_text())
        step, weights_name, state_name = record["step"], record["weights"], record["state"]
        checksums = {"weights": str(record["sha256"]["weights"]),
                     "state": str(record["sha256"]["state"])}
    except (OSError, ValueError, KeyError, TypeError):
        raise RecycleganError(f"{latest}: unreadable checkpoint record") from None
    paths = {"weights": directory / weights_name, "state": directory / state_name}
    for kind in check:
        path = paths[kind]
        if not path.is_file():
            raise RecycleganError(f"{path} is missing (named by {LATEST})")
        if sha256_file(path) != checksums[kind]:
            raise RecycleganError(f"{path} does not match its checksum in {LATEST}: the file "
                                  "was changed or damaged")
    return int(step), paths["weights"], paths["state"]


def load_weights(directory: Path, prefix: str = "",
                 map_location: str | torch.device = "cpu") -> tuple[int, dict[str, torch.Tensor]]:
    """The newest checkpoint's step and the tensors whose names start with `prefix`.

    Reads only those tensors, so loading one generator does not read the predictors.
    """
    step, weights_path, _ = _read_latest(directory, check=("weights",))
    return step, _read_tensors(weights_path, prefix, map_location)


def _read_tensors(weights_path: Path, prefix: str, map_location: str | torch.device
                  ) -> dict[str, torch.Tensor]:
    try:
        with safe_open(str(weights_path), framework="pt", device=str(map_location)) as handle:
            return {name: handle.get_tensor(name) for name in handle.keys()
                    if name.startswith(prefix)}
    except (OSError, SafetensorError) as exc:
        raise RecycleganError(f"{weights_path}: cannot read weights ({exc})") from None


def load_checkpoint(directory: Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Load the pair that latest.json names, checksums checked. Never unpickles code
    (weights_only=True)."""
    step, weights_path, state_path = _read_latest(directory)
    weights = _read_tensors(weights_path, "", map_location)
    try:
        state = torch.load(state_path, map_location=map_location, weights_only=True)
    except Exception as exc:  # any failure here means an unusable file
        raise RecycleganError(
            f"{state_path}: cannot read training state ({_first_line(exc)})") from None
    if not isinstance(state, dict) or state.get("step") != step:
        raise RecycleganError(f"{state_path}: training state does not match {LATEST}")
    return Checkpoint(step=step, weights=weights, state=state)
