"""ONNX export of a trained generator: onnxruntime agrees with PyTorch at any batch and size."""

import sys
from pathlib import Path

import onnx
import onnxruntime
import pytest
import torch

from recyclegan.errors import RecycleganError
from recyclegan.inference.export import export_onnx
from recyclegan.inference.load import load_generator
from recyclegan.training.run import train_run
from tiny import make_dataset, tiny_overrides

# Raised inside torch.export itself, not by our code.
pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    data_a, data_b = make_dataset(root, "a"), make_dataset(root, "b", seed=7)
    train_run(data_a, data_b, root / "run", tiny_overrides(2), progress=False)
    return root / "run"


@pytest.fixture(scope="module")
def exported_a2b(run_dir, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("onnx")
    return export_onnx(run_dir, "a2b", out_dir / "a2b.onnx")


def run_onnx(path, frames: torch.Tensor) -> torch.Tensor:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(["translated"], {"frames": frames.numpy()})[0])


def check_frames(batch: int, height: int, width: int) -> torch.Tensor:
    return torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(1)) * 2 - 1


def test_report_names_and_metadata(exported_a2b, run_dir):
    report = exported_a2b
    assert (report.input_name, report.output_name) == ("frames", "translated")
    assert report.opset >= 18
    assert report.max_abs_diff is not None
    print(f"max abs difference at export (2, 32, 32): {report.max_abs_diff:.2e}")
    assert report.max_abs_diff < 1e-4
    assert sorted(p.name for p in report.path.parent.iterdir()) == ["a2b.onnx"]
    model = onnx.load(str(report.path))
    meta = {prop.key: prop.value for prop in model.metadata_props}
    assert meta["tool"] == "recyclegan"
    assert (meta["direction"], meta["step"], meta["image_size"]) == ("a2b", "2", "32")
    assert meta["value_range"] == "[-1, 1]" and meta["size_multiple"] == "4"
    session = onnxruntime.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    (frames,), (translated,) = session.get_inputs(), session.get_outputs()
    assert frames.name == "frames" and translated.name == "translated"
    assert frames.shape[1] == 3 and all(isinstance(dim, str) for dim in frames.shape[::2])


@pytest.mark.parametrize("shape", [(1, 32, 32), (3, 48, 64)])
def test_onnx_matches_pytorch(exported_a2b, run_dir, shape):
    generator = load_generator(run_dir, "a2b").generator
    frames = check_frames(*shape)
    translated = run_onnx(exported_a2b.path, frames)
    with torch.no_grad():
        expected = generator(frames)
    assert translated.shape == expected.shape == frames.shape
    diff = (translated - expected).abs().max().item()
    print(f"max abs difference at {shape}: {diff:.2e}")
    assert diff < 1e-4


def test_b2a_differs_from_a2b(exported_a2b, run_dir, tmp_path):
    report = export_onnx(run_dir, "b2a", tmp_path / "b2a.onnx")
    meta = {prop.key: prop.value for prop in onnx.load(str(report.path)).metadata_props}
    assert meta["direction"] == "b2a"
    frames = check_frames(2, 32, 32)
    assert (run_onnx(report.path, frames) - run_onnx(exported_a2b.path, frames)).abs().max() > 1e-3


def test_existing_output_refused_then_replaced(run_dir, tmp_path):
    output = tmp_path / "model.onnx"
    output.write_bytes(b"old")
    with pytest.raises(RecycleganError, match="exists; pass --overwrite to replace it"):
        export_onnx(run_dir, "a2b", output)
    assert output.read_bytes() == b"old"
    export_onnx(run_dir, "a2b", output, overwrite=True)
    onnx.checker.check_model(str(output))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


def test_user_errors(run_dir, tmp_path):
    with pytest.raises(RecycleganError, match="no such run folder"):
        export_onnx(tmp_path / "missing", "a2b", tmp_path / "model.onnx")
    with pytest.raises(RecycleganError, match="direction must be one of"):
        export_onnx(run_dir, "sideways", tmp_path / "model.onnx")
    with pytest.raises(RecycleganError, match="opset must be between 18 and"):
        export_onnx(run_dir, "a2b", tmp_path / "model.onnx", opset=13)
    assert list(tmp_path.iterdir()) == []


def test_missing_packages_give_install_hint(run_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    hint = r"needs onnxscript: pip install 'recyclegan\[onnx\]'"
    with pytest.raises(RecycleganError, match=hint):
        export_onnx(run_dir, "a2b", tmp_path / "model.onnx")


def test_without_onnxruntime_there_is_no_check(run_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    report = export_onnx(run_dir, "a2b", tmp_path / "model.onnx", opset=18)
    assert report.max_abs_diff is None and report.opset == 18
    opsets = {entry.domain: entry.version for entry in onnx.load(str(report.path)).opset_import}
    assert opsets[""] == 18


def test_failed_write_leaves_no_temp_file(run_dir, tmp_path, monkeypatch):
    def broken_save(self, destination, **kwargs):
        Path(destination).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch.onnx.ONNXProgram, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        export_onnx(run_dir, "a2b", tmp_path / "model.onnx")
    assert list(tmp_path.iterdir()) == []



def test_cli_export(run_dir, tmp_path, capsys):
    from recyclegan.cli import main

    out = tmp_path / "gen_ba.onnx"
    assert main(["export", "-r", str(run_dir), "--direction", "b2a", "--onnx", str(out)]) == 0
    assert "max abs difference to PyTorch" in capsys.readouterr().out
    assert onnx.load(str(out)).metadata_props
    assert main(["export", "-r", str(run_dir), "--onnx", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--overwrite" in err[0]
