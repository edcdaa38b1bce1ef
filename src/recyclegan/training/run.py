"""`recyclegan train`: set up (or resume) a run folder, then loop over training steps.

RUN/ holds config.yaml (the fully resolved config), checkpoints/, samples/ (PNG strips) and
tensorboard/ (scalars).
"""

from __future__ import annotations

import contextlib
import math
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from torch.utils.data import DataLoader

from recyclegan.background import BackgroundIterator
from recyclegan.config import (
    RunConfig,
    build_config,
    changed_fields,
    config_from_dict,
    merge_overrides,
    read_yaml,
    write_yaml,
)
from recyclegan.data.dataset import WindowDataset, WindowSampler
from recyclegan.devices import resolve_device, torchrun_rank, tune_process
from recyclegan.distributed import Distributed, from_environment
from recyclegan.errors import Interrupted, RecycleganError
from recyclegan.models import Networks, build_networks
from recyclegan.training.checkpoint import latest_step, load_checkpoint, save_checkpoint
from recyclegan.training.monitor import Monitor, MonitorWriteError
from recyclegan.training.progress import TrainProgress
from recyclegan.training.rng import seed_everything
from recyclegan.training.stop import StopRequests
from recyclegan.training.trainer import Trainer

CONFIG_NAME = "config.yaml"
PREFETCH = 3  # batches read ahead of the step that runs
# Settings a resumed run may change; anything else would make it a different run.
RESUMABLE = {"train.steps", "train.lr_decay_start", "train.device", "train.log_every",
             "train.sample_every", "train.checkpoint_every", "train.keep_checkpoints",
             "train.precision", "train.channels_last", "train.compile", "train.on_nan",
             "data.num_workers"}


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    losses: dict[str, float]
    checkpoint: Path
    seconds: float
    """Time spent in training steps by this call (set-up, samples and checkpoints excluded)."""
    is_main: bool = True
    """False on the ranks other than 0 under torchrun, which leave reporting to rank 0."""


def _check_run_dir(run_dir: Path, resume: bool, overwrite: bool) -> bool:
    """Validate RUN for a new or resumed run; True when an old run must be replaced."""
    if resume:
        if not (run_dir / CONFIG_NAME).is_file():
            raise RecycleganError(f"{run_dir}: not a training run (no {CONFIG_NAME}); "
                                  "drop --resume to start a new one")
        return False
    if run_dir.exists() and not run_dir.is_dir():
        raise RecycleganError(f"{run_dir} exists and is not a folder")
    if not (run_dir.is_dir() and any(run_dir.iterdir())):
        return False
    if not overwrite:
        raise RecycleganError(f"{run_dir} exists and is not empty; pass --resume to continue "
                              "that run or --overwrite to replace it")
    if not (run_dir / CONFIG_NAME).is_file():
        raise RecycleganError(f"{run_dir} is not empty and is not a recyclegan run; "
                              "refusing to delete it, choose another -o")
    return True


def _run_config(run_dir: Path, overrides: dict[str, Any], resume: bool) -> RunConfig:
    if not resume:
        return build_config(overrides=overrides)
    saved = config_from_dict(read_yaml(run_dir / CONFIG_NAME))
    config = config_from_dict(merge_overrides(saved.to_dict(), overrides))
    changed = [name for name in changed_fields(saved, config) if name not in RESUMABLE]
    if changed:
        raise RecycleganError(f"--resume keeps the run's settings, but these differ from its "
                              f"{CONFIG_NAME}: {', '.join(changed)}")
    return config


def _load_datasets(path_a: Path, path_b: Path, config: RunConfig):
    data_a = WindowDataset(path_a, stride=config.data.stride)
    data_b = WindowDataset(path_b, stride=config.data.stride)
    if data_a.size != data_b.size:
        raise RecycleganError(f"datasets have different frame sizes ({path_a}: {data_a.size} px, "
                              f"{path_b}: {data_b.size} px); prepare both with the same --size")
    saved_size = config.data.image_size
    if saved_size is not None and saved_size != data_a.size:
        raise RecycleganError(f"the run was trained on {saved_size} px frames but the datasets "
                              f"have {data_a.size} px")
    return data_a, data_b


def _loader(dataset: WindowDataset, config: RunConfig, seed: int, start_step: int,
            pin: bool, dist: Distributed) -> DataLoader:
    sampler = WindowSampler(len(dataset), config.train.batch_size, seed=seed,
                            start_step=start_step, flip=config.data.flip, rank=dist.rank,
                            world_size=dist.world_size)
    workers = config.data.num_workers
    return DataLoader(dataset, batch_sampler=sampler, num_workers=workers, pin_memory=pin,
                      persistent_workers=workers > 0)


def train_run(dataset_a: Path, dataset_b: Path, run_dir: Path, overrides: dict[str, Any], *,
              resume: bool = False, overwrite: bool = False,
              progress: bool = True) -> TrainResult:
    """Train (or continue) the run in `run_dir` on two prepared datasets.

    Under torchrun every rank calls this; rank 0 alone writes the run folder.
    """
    run_dir = Path(run_dir)
    for path in (dataset_a, dataset_b):
        if Path(path).resolve() == run_dir.resolve():
            raise RecycleganError(f"-o {run_dir} is one of the datasets; choose another folder")
    replace_old = _check_run_dir(run_dir, resume, overwrite)
    config = _run_config(run_dir, overrides, resume)
    data_a, data_b = _load_datasets(Path(dataset_a), Path(dataset_b), config)
    size = data_a.size
    model_cfg = replace(config.model, pred_depth=config.model.predictor_depth_for(size))
    model_cfg.check_image_size(size)
    config = replace(config, model=model_cfg, data=replace(config.data, image_size=size))
    _, world_size, _ = torchrun_rank()
    if config.train.batch_size % world_size:
        raise RecycleganError(f"--batch-size {config.train.batch_size} is the global batch and "
                              f"must split evenly over {world_size} processes")
    resolve_device(config.train.device)
    # Everything above only read files; from here on ranks act together.
    dist = from_environment(config.train.device)
    try:
        return _train(config, dist, data_a, data_b, run_dir, resume, replace_old, progress)
    finally:
        dist.close()


def _train(config: RunConfig, dist: Distributed, data_a: WindowDataset, data_b: WindowDataset,
           run_dir: Path, resume: bool, replace_old: bool, progress: bool) -> TrainResult:
    device = resolve_device(dist.device(config.train.device))
    size = data_a.size
    if dist.is_main:
        if replace_old:
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)

    tune_process(device)
    seed_everything(config.train.seed)
    networks = build_networks(config.model, with_predictors=config.losses.uses_predictor)
    ckpt_dir = run_dir / "checkpoints"
    checkpoint = dist.agree(lambda: load_checkpoint(ckpt_dir) if resume else None)
    # After the checkpoint: DDP broadcasts rank 0's weights as it wraps the networks.
    if checkpoint is not None:
        _load_weights(networks, checkpoint.weights, ckpt_dir)
    trainer = Trainer(networks, config.losses, config.train, device, dist)
    if checkpoint is not None:
        dist.agree(lambda: _load_state(trainer, checkpoint.state, ckpt_dir))
    total = config.train.steps
    if trainer.step >= total:
        raise RecycleganError(f"the run is already at step {trainer.step} of {total}; "
                              "pass a larger --steps to train further")
    if dist.is_main:
        _write_config(config, run_dir, resume)  # only now: a refused resume leaves it be
    progress = progress and dist.is_main
    if progress:
        Console(stderr=True).print(
            f"{'resuming' if resume else 'training'} {run_dir} on {device}: "
            f"{config.model_size} networks, {config.preset} preset, {size}x{size} px, "
            f"{len(data_a)} + {len(data_b)} windows, steps {trainer.step} to {total}"
            + (f", {dist.world_size} processes" if dist.enabled else ""),
            highlight=False, soft_wrap=True)
    return _loop(trainer, config, data_a, data_b, run_dir, ckpt_dir, progress)


def _write_config(config: RunConfig, run_dir: Path, resume: bool) -> None:
    try:
        write_yaml(config, run_dir / CONFIG_NAME)
    except OSError as error:
        if resume:
            then = "the run is unchanged; free some disk space, then continue with --resume"
        else:
            with contextlib.suppress(OSError):
                run_dir.rmdir()  # the new run's folder, empty: the write left nothing
            then = "free some disk space and train again"
        raise RecycleganError(f"{run_dir / CONFIG_NAME}: cannot write it "
                              f"({error.strerror or error}); {then}") from None


def _monitor_failed(error: MonitorWriteError, ckpt_dir: Path) -> RecycleganError:
    """What a failed event or sample write leaves, and how to go on."""
    step = latest_step(ckpt_dir)
    kept = (f"the checkpoint of step {step} is intact; free some space, then continue with "
            "--resume" if step is not None else "no checkpoint was saved yet; free some space "
            "and train again with --overwrite")
    return RecycleganError(f"{error}; {kept}")


def _load_weights(networks: Networks, weights: dict[str, torch.Tensor], ckpt_dir: Path) -> None:
    try:
        networks.load_state_dict(weights, strict=True)
    except RuntimeError:
        raise RecycleganError(f"{ckpt_dir}: the checkpoint does not match the run's "
                              f"{CONFIG_NAME}") from None


def _load_state(trainer: Trainer, state: dict[str, Any], ckpt_dir: Path) -> None:
    try:
        trainer.load_state_dict(state)
    except (RuntimeError, KeyError, ValueError, TypeError):
        raise RecycleganError(f"{ckpt_dir}: the checkpoint does not match the run's "
                              f"{CONFIG_NAME}") from None


class NumericalFaults:
    """Acts on the steps whose losses or gradients were not finite (the trainer has already
    left their updates out): "stop" ends the run naming the terms, "skip" counts them."""

    def __init__(self, policy: str, dist: Distributed) -> None:
        self.policy, self.dist = policy, dist
        self.skipped = 0
        self._pending: tuple[int, dict[str, torch.Tensor]] | None = None

    def check_previous(self, step: int, logged: dict[str, torch.Tensor],
                       saved_step: int) -> None:
        """Judge the step before `step`, then hold `logged` (step `step`'s) for next time."""
        pending, self._pending = self._pending, (step, logged) if logged else None
        if pending is None:
            return
        bad_step, values = pending
        local = bool(values["nonfinite/generators"]) or bool(values["nonfinite/discriminators"])
        if not self.dist.any(local):
            return
        if self.policy == "skip":
            self.skipped += 1
            return
        names = [name for name, value in values.items()
                 if not name.startswith("nonfinite/") and not math.isfinite(float(value))]
        if len(names) > 1 and "loss/g_total" in names:  # the sum of the terms named
            names.remove("loss/g_total")
        what = ", ".join(names) if names else "a gradient (the losses were finite)"
        raise RecycleganError(
            f"step {bad_step}: {what} became NaN or infinite; that update was not applied. "
            f"The checkpoint of step {saved_step} is good: continue with --resume (a lower "
            "--lr may help), or train with --on-nan skip to skip such steps")


def _reads_ahead(device: torch.device) -> bool:
    """On a GPU a thread reads (and pins) the next batches while the device runs the step.
    On the CPU that thread competes with PyTorch's own threads for the cores (0.69 against
    0.49 s/step measured on 2 cores), so batches are read inline there."""
    return device.type == "cuda"


def _loop(trainer: Trainer, config: RunConfig, data_a: WindowDataset, data_b: WindowDataset,
          run_dir: Path, ckpt_dir: Path, progress: bool) -> TrainResult:
    cfg, dist = config.train, trainer.dist
    pin = trainer.device.type == "cuda"
    loader_a = _loader(data_a, config, cfg.seed, trainer.step, pin, dist)
    loader_b = _loader(data_b, config, cfg.seed + 1, trainer.step, pin, dist)
    pairs = zip(loader_a, loader_b, strict=True)
    batches = (BackgroundIterator(pairs, PREFETCH, name="recyclegan-data")
               if _reads_ahead(trainer.device) else contextlib.nullcontext(pairs))
    sample_a, sample_b = data_a[(0, False)], data_b[(0, False)]
    try:
        monitor = Monitor(run_dir) if dist.is_main else None
    except MonitorWriteError as error:
        raise _monitor_failed(error, ckpt_dir) from None
    losses: dict[str, float] = {}

    saved_step = trainer.step

    def checkpoint() -> None:
        nonlocal saved_step
        if dist.is_main:
            save_checkpoint(ckpt_dir, trainer.step, trainer.networks.state_dict(),
                                    trainer.state_dict(), keep=cfg.keep_checkpoints)
        saved_step = trainer.step

    stop, in_step, finished = StopRequests(), False, False
    faults = NumericalFaults(cfg.on_nan, dist)
    started, aside = time.monotonic(), 0.0  # `aside`: time spent on samples and checkpoints
    try:
        with (stop, batches as source,
              TrainProgress(trainer.step, cfg.steps, enabled=progress) as bar):
            upcoming = iter(source)
            while trainer.step < cfg.steps:
                if dist.any(bool(stop.requested)):  # every rank stops at the same step
                    raise KeyboardInterrupt
                batch_a, batch_b = next(upcoming)
                in_step = True
                logged = trainer.train_step(batch_a, batch_b)
                in_step = False
                step = trainer.step
                # The previous step's verdict: by now the device has finished that step, so
                # reading it does not stall the one just queued.
                faults.check_previous(step, logged, saved_step)
                if step % cfg.log_every == 0 or step == cfg.steps:
                    losses = dist.mean(logged)
                    losses["lr"] = cfg.lr_at(step - 1)
                    losses["train/skipped_steps"] = faults.skipped
                    if monitor is not None:
                        monitor.scalars(step, losses)
                    bar.show_losses(losses)
                mark = time.monotonic()
                if monitor is not None and (step % cfg.sample_every == 0 or step == cfg.steps):
                    monitor.strip(step, trainer.sample_images(sample_a, sample_b))
                if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                    checkpoint()
                aside += time.monotonic() - mark
                bar.advance()
        finished = True
    except MonitorWriteError as error:
        raise _monitor_failed(error, ckpt_dir) from None
    except KeyboardInterrupt:
        # Ctrl-C and SIGTERM stop between steps, where the state is whole and is saved. An
        # interrupt inside a step (a second Ctrl-C) may leave it half-updated: not saved.
        if not in_step and trainer.step != saved_step:
            checkpoint()
        raise Interrupted(f"stopped at step {trainer.step if not in_step else saved_step}; "
                          f"continue from the checkpoint of step {saved_step} with --resume"
                          ) from None
    finally:
        if monitor is not None:
            try:
                monitor.close()
            except MonitorWriteError as error:
                if finished:  # else the error on its way out says more
                    raise _monitor_failed(error, ckpt_dir) from None
    faults.check_previous(trainer.step + 1, {}, saved_step)  # the last step's verdict
    dist.barrier()  # the last checkpoint is on disk before any rank returns
    return TrainResult(run_dir=run_dir, step=trainer.step, losses=losses,
                       checkpoint=ckpt_dir / f"step_{saved_step:08d}.safetensors",
                       seconds=time.monotonic() - started - aside, is_main=dist.is_main)
