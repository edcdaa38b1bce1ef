import json
import os

import pytest
import torch

from recyclegan.errors import RecycleganError
from recyclegan.fileio import sha256_file
from recyclegan.training.checkpoint import (
    latest_step,
    load_checkpoint,
    load_weights,
    save_checkpoint,
)


def weights():
    return {"gen_ab.w": torch.randn(3, 3), "disc_a.b": torch.zeros(2)}


def test_round_trip_and_latest(tmp_path):
    saved = weights()
    save_checkpoint(tmp_path, 5, saved, {"step": 5, "opt": {"lr": 0.1}, "t": torch.ones(2)})
    assert latest_step(tmp_path) == 5
    loaded = load_checkpoint(tmp_path)
    assert loaded.step == 5
    assert torch.equal(loaded.weights["gen_ab.w"], saved["gen_ab.w"])
    assert loaded.state["opt"] == {"lr": 0.1}
    assert not list(tmp_path.glob("*.partial*"))  # no temporary files left behind


def test_keeps_only_the_newest_pairs(tmp_path):
    for step in (1, 2, 3, 4):
        save_checkpoint(tmp_path, step, weights(), {"step": step}, keep=2)
    assert sorted(p.name for p in tmp_path.glob("step_*")) == [
        "step_00000003.safetensors", "step_00000003.state.pt",
        "step_00000004.safetensors", "step_00000004.state.pt"]
    assert load_checkpoint(tmp_path).step == 4


def test_missing_checkpoint(tmp_path):
    with pytest.raises(RecycleganError, match="no checkpoint yet"):
        load_checkpoint(tmp_path)


def reseal(directory):
    """Rewrite latest.json's checksums to fit the files as they are now: what someone who
    swaps a file on purpose would do, leaving the loaders' own checks to catch it."""
    record = json.loads((directory / "latest.json").read_text())
    record["sha256"] = {kind: sha256_file(directory / record[kind])
                        for kind in ("weights", "state")}
    (directory / "latest.json").write_text(json.dumps(record))


class RunsCode:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_a_state_file_carrying_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save_checkpoint(tmp_path, 1, weights(), {"step": 1})
    torch.save({"step": 1, "payload": RunsCode()}, tmp_path / "step_00000001.state.pt")
    with pytest.raises(RecycleganError, match="does not match its checksum"):
        load_checkpoint(tmp_path)
    reseal(tmp_path)
    with pytest.raises(RecycleganError, match="cannot read training state"):
        load_checkpoint(tmp_path)
    assert not (tmp_path / "pwned").exists()


def test_truncated_weights_are_refused(tmp_path):
    path = save_checkpoint(tmp_path, 1, weights(), {"step": 1})
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(RecycleganError, match="does not match its checksum"):
        load_checkpoint(tmp_path)
    reseal(tmp_path)
    with pytest.raises(RecycleganError, match="cannot read weights"):
        load_checkpoint(tmp_path)


def test_a_flipped_bit_in_the_weights_is_caught(tmp_path):
    path = save_checkpoint(tmp_path, 1, weights(), {"step": 1})
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x10  # inside a tensor: the file still parses, the numbers changed
    path.write_bytes(bytes(data))
    with pytest.raises(RecycleganError, match="does not match its checksum"):
        load_weights(tmp_path)


def test_state_must_match_the_record(tmp_path):
    save_checkpoint(tmp_path, 1, weights(), {"step": 1})
    record = json.loads((tmp_path / "latest.json").read_text())
    (tmp_path / "latest.json").write_text(json.dumps({**record, "step": 2}))
    with pytest.raises(RecycleganError, match="training state does not match"):
        load_checkpoint(tmp_path)


def test_saving_clears_temporary_files_a_killed_run_left(tmp_path):
    directory = tmp_path / "checkpoints"
    directory.mkdir()
    ours = directory / ".step_00000002.safetensors.abc123.partial.safetensors"
    safetensors_own = directory / ".tmpUjQ8Ys"  # safetensors' temporary file, killed mid-write
    for stale in (ours, safetensors_own):
        stale.write_bytes(b"half a file")
    save_checkpoint(directory, 3, {"w": torch.zeros(2)}, {"step": 3})
    assert not ours.exists() and not safetensors_own.exists()
    assert (directory / "step_00000003.safetensors").is_file()
