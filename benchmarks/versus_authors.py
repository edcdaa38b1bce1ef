"""recyclegan beside the authors' Recycle-GAN code: same networks, same size, same machine, one run.

    python benchmarks/versus_authors.py --authors ~/src/Recycle-GAN --size 128
    python benchmarks/versus_authors.py --authors ~/src/Recycle-GAN --size 256 --device cuda

`--authors` is a checkout of github.com/aayushbansal/Recycle-GAN, which recyclegan does not
ship. Two of its files run as they are, but for one change that current PyTorch needs
(`loss.data[0]` on a 0-dim loss becomes `loss.item()`): models/networks.py and
models/recycle_gan_model.py. The helper modules they import (models/base_model.py,
util/image_pool.py, util/util.py) are replaced by small stand-ins defined here: the timed code
uses only BaseModel's fields, and with the authors' `--pool_size 0` an image pool that
hands its images straight back.

The configuration is the authors' scripts/run_Recycle_gan.sh: ResNet-6 generators, U-Net
predictors (unet_128 at 128 px, unet_256 at 256), 70x70 PatchGAN discriminators, instance
norm, no dropout, LSGAN, identity 0, pool size 0, batch 1, Adam (2e-4, beta1 0.5). recyclegan
trains its `paper` networks with the `recycle` preset at batch 1 in fp32 on the CPU (its
default there); on CUDA with `--precision` (default fp32, to match).

Each code runs in processes of its own, so that neither inherits the other's heap or process
settings. The training parts go a step at a time: each of `--rounds` rounds starts one fresh
process per code, warms each up by `--warmup` steps, then asks them for a step each in turn,
`--steps` times (the order reversed every other cycle). A drift in a shared machine's speed,
on a VM 10-25% within minutes, then hits neighbouring steps of both codes alike, and each
speed-up is the ratio of the two codes' steps within one cycle. Printed: a markdown table
with each code's median step per round and over rounds, then recyclegan's speed-up: the
median of each round's cycles, and of all cycles with their quartiles.
- training, seconds per step: the authors' `optimize_parameters()` in a process as they run
  it; on the CPU again, in a process tuned as `recyclegan train` tunes its own
  (`recyclegan.devices.tune_cpu_process`: denormals flushed, and glibc's malloc keeping freed
  memory, neither of which their code does); recyclegan's `Trainer.train_step`, in its tuned
  process.
- inference, frames per second, once: the authors' `test()` per frame (what their test.py
  runs for each frame, image saving left out, so their figure is an upper bound), as they
  run it; recyclegan's generator alone; recyclegan's `retarget` end to end on an H.264 clip
  (decoding, watermark and encoding included).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import types
import warnings
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

from recyclegan.bench.common import Variant, sync
from recyclegan.bench.inference import end_to_end, generator_only, make_retargeter, write_clip
from recyclegan.bench.training import TrainingSetup, make_trainer, random_batches
from recyclegan.config import MODEL_SIZES
from recyclegan.devices import tune_cpu_process
from recyclegan.models import build_generator

AUTHORS_FILES = ("models/networks.py", "models/recycle_gan_model.py")
PATCHES = ((".data[0]", ".item()"),)  # 0-dim tensors cannot be indexed since PyTorch 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--authors", type=Path, required=True,
                        help="a checkout of github.com/aayushbansal/Recycle-GAN")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=128, choices=(128, 256))
    parser.add_argument("--steps", type=int, default=4,
                        help="timed training steps per code and round, a step of each in turn")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--frames", type=int, default=24, help="frames timed for inference")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"),
                        help="recyclegan's precision (the authors' code has fp32 only)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="times the training parts start in fresh processes")
    parser.add_argument("--part", choices=list(PARTS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    missing = [name for name in AUTHORS_FILES if not (args.authors / name).is_file()]
    if missing:
        sys.exit(f"versus_authors.py: {args.authors} lacks {', '.join(missing)}; pass a "
                 "checkout of github.com/aayushbansal/Recycle-GAN as --authors")
    device = torch.device(args.device)
    if args.part in TRAINING_PARTS:  # a worker, timing steps on request
        _serve(*TRAINING_PARTS[args.part](args, device), device)
        return
    if args.part is not None:
        for key, value in PARTS[args.part](args, device).items():
            print(RESULT + json.dumps([key, value]), flush=True)
        return
    name = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else f"{platform.processor() or platform.machine()}, "
                 f"{torch.get_num_threads()} threads")
    print(f"# {name}; torch {torch.__version__}; {args.size}x{args.size}, batch 1; "
          f"training: {args.rounds} rounds of {args.warmup} warm-up and {args.steps} timed "
          "steps per code, a step of each in turn")
    parts = [part for part in TRAINING_PARTS if part != "authors-tuned" or device.type == "cpu"]
    steps: dict[str, list[list[float]]] = {}  # per code: per round, its timed steps
    for _ in range(args.rounds):
        for key, seconds in _interleaved(parts, args.warmup, args.steps).items():
            steps.setdefault(key, []).append(seconds)
    figures = {key: [statistics.median(seconds) for seconds in rounds]
               for key, rounds in steps.items()}
    for part in ("authors-test", "recyclegan-inference"):
        for key, value in _run_part(part).items():
            figures.setdefault(key, []).append(value)
    rounds = " | ".join(f"round {i + 1}" for i in range(args.rounds))
    print(f"| what | {rounds} | median |\n|{' --- |' * (args.rounds + 2)}")
    for key, values in figures.items():
        cells = " | ".join(f"{v:.3g}" for v in values) + " |" * (args.rounds - len(values))
        print(f"| {key} | {cells} | {statistics.median(values):.3g} |")
    ours = steps[f"recyclegan: training, s/step ({args.precision})"]
    for key in [key for key in steps if key.startswith("authors: training")]:
        print(f"- {key.removeprefix('authors: ')}: recyclegan is {speed_up(steps[key], ours)}")


def speed_up(theirs: list[list[float]], ours: list[list[float]]) -> str:
    """How much faster our steps are, from the ratio of the two codes' steps in each cycle:
    the median of every cycle, the quartiles, and the median of each round."""
    rounds = [[t / o for t, o in zip(their, our, strict=True)]
              for their, our in zip(theirs, ours, strict=True)]
    cycles = sorted(ratio for ratios in rounds for ratio in ratios)
    if len(cycles) > 1:
        low, _, high = statistics.quantiles(cycles, n=4)
    else:
        low = high = cycles[0]
    return (f"{statistics.median(cycles):.2f}x as fast (median of {len(cycles)} cycles; "
            f"quartiles {low:.2f}-{high:.2f}; per round: "
            f"{', '.join(f'{statistics.median(ratios):.2f}' for ratios in rounds)})")


RESULT = "versus_authors.py result: "


def _run_part(part: str) -> dict[str, float]:
    """Run one part in a fresh process (neither code inherits the other's heap or process
    settings) and collect what it measured."""
    done = subprocess.run(_part_command(part), stdout=subprocess.PIPE, text=True)
    if done.returncode:
        sys.exit(f"versus_authors.py: the {part} part failed (exit {done.returncode})")
    return dict(json.loads(line.removeprefix(RESULT)) for line in done.stdout.splitlines()
                if line.startswith(RESULT))


def _part_command(part: str) -> list[str]:
    """This script, with this run's arguments, running one part in a process of its own."""
    return [sys.executable, __file__, *sys.argv[1:], "--part", part]


class _Worker:
    """One code's training in a fresh process of its own, which runs a step when asked and
    answers with its time. Started one at a time: each has built its model before the next
    starts."""

    def __init__(self, part: str) -> None:
        self.part = part
        self.process = subprocess.Popen(
            _part_command(part), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.key = self._answer()

    def step(self) -> float:
        assert self.process.stdin is not None
        self.process.stdin.write("step\n")
        self.process.stdin.flush()
        return float(self._answer())

    def close(self) -> int:
        """End the process (it stops at the end of its input); its exit status."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        return self.process.wait()

    def _answer(self) -> Any:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith(RESULT):
                return json.loads(line.removeprefix(RESULT))
        sys.exit(f"versus_authors.py: the {self.part} part failed (exit {self.close()})")


def _interleaved(parts: list[str], warmup: int, steps: int) -> dict[str, list[float]]:
    """Each part's timed steps, one step of each part in turn; the order reverses every
    other cycle, so that a steady drift favours no part."""
    workers = [_Worker(part) for part in parts]
    try:
        for _ in range(warmup):
            for worker in workers:
                worker.step()
        seconds: dict[str, list[float]] = {worker.key: [] for worker in workers}
        for cycle in range(steps):
            for worker in workers if cycle % 2 == 0 else workers[::-1]:
                seconds[worker.key].append(worker.step())
    finally:
        exits = {worker.part: worker.close() for worker in workers}
    for part, status in exits.items():
        if status:
            sys.exit(f"versus_authors.py: the {part} part failed (exit {status})")
    return seconds


def _serve(key: str, step: Callable[[], None], device: torch.device) -> None:
    """A worker's side: announce the figure's name, then time one step per "step" line."""
    print(RESULT + json.dumps(key), flush=True)
    for line in sys.stdin:
        if line.strip() == "step":
            print(RESULT + json.dumps(_elapsed(step, 1, device)), flush=True)


def _authors(args: argparse.Namespace, device: torch.device) -> tuple[str, Callable[[], None]]:
    """Their code in a process as they run it: denormals not flushed, malloc untouched."""
    return ("authors: training, s/step (as they run it)",
            AuthorsModel(args.authors, args.size, device).step)


def _authors_test(args: argparse.Namespace, device: torch.device) -> dict[str, float]:
    theirs = AuthorsModel(args.authors, args.size, device)
    return {"authors: test() per frame, frames/s":
            args.frames / _elapsed(theirs.test_frame, args.frames, device)}


def _authors_tuned(args: argparse.Namespace,
                   device: torch.device) -> tuple[str, Callable[[], None]]:
    """Their code in a process tuned as `recyclegan train` tunes its own."""
    tune_cpu_process()
    return ("authors: training, s/step (in a process tuned as recyclegan's is)",
            AuthorsModel(args.authors, args.size, device).step)


def _ours_training(args: argparse.Namespace,
                   device: torch.device) -> tuple[str, Callable[[], None]]:
    if device.type == "cpu":
        tune_cpu_process()  # as `recyclegan train` does
    setup = TrainingSetup(device, args.size, "paper", "recycle")
    trainer = make_trainer(setup, Variant.parse(args.precision), 1)
    batch_a, batch_b = random_batches(setup, 1)
    return (f"recyclegan: training, s/step ({args.precision})",
            lambda: trainer.train_step(batch_a, batch_b))


def _ours_inference(args: argparse.Namespace, device: torch.device) -> dict[str, float]:
    torch.manual_seed(0)
    generator = build_generator(MODEL_SIZES["paper"])
    # The Retargeter tunes a CPU process as `recyclegan retarget` does.
    retargeter = make_retargeter(generator, args.size, device, Variant.parse(args.precision), 8)
    alone = generator_only(retargeter, steps=max(1, args.frames // 8), variant=args.precision)
    with tempfile.TemporaryDirectory() as folder:
        src = write_clip(Path(folder) / "in.mp4", args.size, args.frames)
        warm_up = write_clip(Path(folder) / "warm_up.mp4", args.size, 8)
        whole = end_to_end(retargeter, warm_up, src, Path(folder) / "out.mp4", args.frames,
                           args.precision)
    return {"recyclegan: generator alone, batch 8, frames/s": alone.frames_per_s,
            "recyclegan: retarget end to end (mp4 in and out), batch 8, frames/s":
            whole.frames_per_s}


TRAINING_PARTS = {"authors": _authors, "authors-tuned": _authors_tuned,
                  "recyclegan": _ours_training}
PARTS = {**TRAINING_PARTS, "authors-test": _authors_test,
         "recyclegan-inference": _ours_inference}


class AuthorsModel:
    """The authors' RecycleGANModel, built with their training script's options, fed
    random windows in [-1, 1]."""

    def __init__(self, checkout: Path, size: int, device: torch.device) -> None:
        module = _load_authors(checkout)
        opt = SimpleNamespace(
            batchSize=1, fineSize=size, input_nc=3, output_nc=3, ngf=64, ndf=64,
            which_model_netG="resnet_6blocks", which_model_netP=f"unet_{size}",
            which_model_netD="basic", n_layers_D=3, norm="instance", no_dropout=True,
            init_type="normal", no_lsgan=False, lr=0.0002, beta1=0.5, identity=0.0,
            pool_size=0, lambda_A=10.0, lambda_B=10.0, adversarial_loss_p=False,
            lr_policy="lambda", niter=100, niter_decay=100, epoch_count=1,
            which_direction="AtoB", isTrain=True, continue_train=False,
            gpu_ids=[device.index or 0] if device.type == "cuda" else [], npf=64,
        )
        torch.manual_seed(0)
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # their init.normal and Variable(volatile=...)
            self.model = module.RecycleGANModel()
            self.model.initialize(opt)
        shape = (1, 3, size, size)
        frames = {key: torch.rand(shape) * 2 - 1 for key in ("A0", "A1", "A2", "B0", "B1", "B2")}
        self.model.set_input({**frames, "A_paths": ["a"], "B_paths": ["b"]})

    def step(self) -> None:
        self.model.optimize_parameters()

    def test_frame(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model.test()


def _load_authors(checkout: Path) -> types.ModuleType:
    """Import the authors' two files as the package `models`, helpers stood in for."""
    for name in ("models", "util"):
        package = types.ModuleType(name)
        package.__path__ = []
        sys.modules[name] = package
    _stand_in("models.base_model", BaseModel=_BaseModel)
    _stand_in("util.image_pool", ImagePool=_ImagePool)
    _stand_in("util.util")
    loaded = None
    for relative in AUTHORS_FILES:
        name = "models." + Path(relative).stem
        source = (checkout / relative).read_text()
        for old, new in PATCHES:
            source = source.replace(old, new)
        spec = importlib.util.spec_from_loader(name, loader=None, origin=str(checkout / relative))
        loaded = importlib.util.module_from_spec(spec)
        loaded.__package__ = "models"
        sys.modules[name] = loaded
        setattr(sys.modules["models"], Path(relative).stem, loaded)
        exec(compile(source, str(checkout / relative), "exec"), loaded.__dict__)  # noqa: S102
    return loaded


def _stand_in(name: str, **members: object) -> None:
    module = types.ModuleType(name)
    module.__dict__.update(members)
    sys.modules[name] = module
    package, _, leaf = name.rpartition(".")
    setattr(sys.modules[package], leaf, module)


class _BaseModel:
    """The fields the authors' BaseModel.initialize sets that their training step reads."""

    def initialize(self, opt: SimpleNamespace) -> None:
        self.opt, self.gpu_ids, self.isTrain = opt, opt.gpu_ids, opt.isTrain
        self.Tensor = torch.cuda.FloatTensor if self.gpu_ids else torch.Tensor


class _ImagePool:
    """The authors' run script sets --pool_size 0, with which their pool returns its input."""

    def __init__(self, pool_size: int) -> None:
        if pool_size != 0:
            raise ValueError("this stand-in covers --pool_size 0 only, as the authors ran")

    def query(self, images: torch.Tensor) -> torch.Tensor:
        return images


def _elapsed(call: object, times: int, device: torch.device) -> float:
    sync(device)
    start = time.perf_counter()
    for _ in range(times):
        call()
    sync(device)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
