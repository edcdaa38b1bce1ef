import copy

import numpy as np
import pytest
import torch
from torch import nn

from recyclegan.config import MODEL_SIZES
from recyclegan.errors import RecycleganError
from recyclegan.inference import translate
from recyclegan.inference.stabilize import build_stabilizer
from recyclegan.inference.translate import Retargeter
from recyclegan.models import build_generator
from recyclegan.training.run import train_run
from tiny import make_dataset, tiny_overrides


class Invert(nn.Module):
    """A stand-in generator whose output is known: the negative image."""

    def forward(self, x):
        assert x.shape[-2] % 4 == 0 and x.shape[-1] % 4 == 0
        return -x


def frames(count, height=24, width=40, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(count)]


def test_default_translates_the_training_crop():
    retargeter = Retargeter(Invert(), image_size=16, batch_size=3)
    inputs = frames(7)
    outputs = list(retargeter.translate_frames(iter(inputs)))
    assert len(outputs) == 7
    for frame, out in zip(inputs, outputs, strict=True):
        assert out.shape == (16, 16, 3) and out.dtype == np.uint8
        expected = 255 - retargeter.prepare(frame).astype(np.int16)
        assert np.abs(out.astype(np.int16) - expected).max() <= 1


def test_keep_resolution_pads_and_crops_back():
    retargeter = Retargeter(Invert(), image_size=16, batch_size=2, keep_resolution=True)
    inputs = frames(3, height=21, width=30)  # neither a multiple of 4
    outputs = list(retargeter.translate_frames(inputs))
    for frame, out in zip(inputs, outputs, strict=True):
        assert out.shape == frame.shape
        assert np.abs(out.astype(np.int16) - (255 - frame.astype(np.int16))).max() <= 1


def test_keys_ride_along_and_size_changes_close_the_batch():
    retargeter = Retargeter(Invert(), image_size=16, batch_size=4, keep_resolution=True)
    items = [(i, f) for i, f in enumerate(frames(2, 16, 16) + frames(3, 20, 12))]
    out = list(retargeter.translate_items(items))
    assert [key for key, _, _ in out] == [0, 1, 2, 3, 4]
    assert [t.shape[:2] for _, _, t in out] == [(16, 16)] * 2 + [(20, 12)] * 3


def test_finish_sees_prepared_and_translated_frames_on_the_device():
    retargeter = Retargeter(Invert(), image_size=16, batch_size=3)
    seen = []

    def finish(prepared, translated):
        seen.append(len(prepared))
        assert prepared.dtype == translated.dtype == torch.uint8
        assert prepared.shape == translated.shape and prepared.shape[1:] == (16, 16, 3)
        return prepared.int() + translated.int()  # inverted: about 255 everywhere

    inputs = frames(7)
    out = list(retargeter.translate_items(((i, f) for i, f in enumerate(inputs)), finish))
    assert seen == [3, 3, 1] and [key for key, _, _ in out] == list(range(7))
    for frame, (_, prepared, finished) in zip(inputs, out, strict=True):
        assert np.array_equal(prepared, retargeter.prepare(frame))
        assert np.abs(finished - 255).max() <= 1
    retargeter.stabilizer = build_stabilizer("flow", 0.5)
    with pytest.raises(ValueError, match="stabiliser"):
        next(retargeter.translate_items([(0, inputs[0])], finish))


def test_batching_does_not_change_the_result(tmp_path):
    data_a, data_b = make_dataset(tmp_path, "a"), make_dataset(tmp_path, "b")
    train_run(data_a, data_b, tmp_path / "run", tiny_overrides(1), progress=False)
    inputs = frames(5, 40, 48)
    one = list(Retargeter.from_run(tmp_path / "run", device="cpu",
                                   batch_size=1).translate_frames(inputs))
    many = list(Retargeter.from_run(tmp_path / "run", device="cpu",
                                    batch_size=4).translate_frames(inputs))
    for a, b in zip(one, many, strict=True):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    other = list(Retargeter.from_run(tmp_path / "run", direction="b2a",
                                     device="cpu").translate_frames(inputs))
    assert any(not np.array_equal(a, b) for a, b in zip(one, other, strict=True))


def test_bad_frames_and_options():
    with pytest.raises(RecycleganError, match="batch-size"):
        Retargeter(Invert(), image_size=16, batch_size=0)
    retargeter = Retargeter(Invert(), image_size=16)
    with pytest.raises(RecycleganError, match="HxWx3 uint8"):
        list(retargeter.translate_frames([np.zeros((8, 8), np.uint8)]))
    with pytest.raises(RecycleganError, match="no such run folder"):
        Retargeter.from_run("/nonexistent/run", device="cpu")
    assert torch.device("cpu") == retargeter.device


@pytest.fixture(scope="module")
def generator():
    """A tiny generator with random weights: outputs spread over most of 0..255."""
    torch.manual_seed(0)
    return build_generator(MODEL_SIZES["tiny"])


def translated(generator, inputs, **options):
    """Each Retargeter gets its own copy: conversion and compilation happen in place."""
    retargeter = Retargeter(copy.deepcopy(generator), image_size=32, **options)
    return np.stack(list(retargeter.translate_frames(inputs))).astype(np.int16)


def test_bf16_is_close_to_fp32(generator):
    inputs = frames(6, 32, 32)
    fp32 = translated(generator, inputs, precision="fp32")
    assert np.array_equal(fp32, translated(generator, inputs))  # auto is fp32 on the CPU
    bf16 = translated(generator, inputs, precision="bf16")
    difference = np.abs(fp32 - bf16)
    assert 0 < difference.mean() < 3 and difference.max() <= 8  # bf16 did run, and is close
    with pytest.raises(RecycleganError, match="precision"):
        Retargeter(Invert(), image_size=16, precision="fp16")


def test_channels_last_matches_contiguous(generator):
    retargeter = Retargeter(copy.deepcopy(generator), image_size=32, channels_last=True)
    weight = next(p for p in retargeter.generator.parameters() if p.ndim == 4)
    assert weight.is_contiguous(memory_format=torch.channels_last)
    inputs = frames(5, 40, 48)
    nhwc = np.stack(list(retargeter.translate_frames(inputs))).astype(np.int16)
    nchw = translated(generator, inputs, channels_last=False)
    assert np.abs(nhwc - nchw).max() <= 1


def test_compiled_equals_eager_and_pads_the_last_batch(generator, monkeypatch):
    graphs = []

    def eager_counting(graph, example_inputs):  # the "eager" backend, counting graphs
        graphs.append(graph)
        return graph.forward

    torch._dynamo.reset()
    monkeypatch.setattr(translate, "COMPILE_BACKEND", eager_counting)
    inputs = frames(10, 32, 32)  # batches of 4, 4 and 2
    compiled = translated(generator, inputs, batch_size=4, compile=True)
    assert len(graphs) == 1  # the last batch was padded to 4: no second graph
    assert compiled.shape[0] == 10
    assert np.array_equal(compiled, translated(generator, inputs, batch_size=4))
    torch._dynamo.reset()


class _Exhausted(nn.Module):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise self.error


@pytest.mark.parametrize("error", [
    torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB"),
    RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate "
                 "memory: you tried to allocate 99 bytes"),
])
def test_running_out_of_memory_says_what_to_do(error):
    retargeter = Retargeter(_Exhausted(error), image_size=32, keep_resolution=True)
    with pytest.raises(RecycleganError, match="do not fit in the memory of cpu; pass a smaller "
                       "--batch-size, or drop --keep-resolution"):
        retargeter.translate_batch([np.zeros((40, 64, 3), np.uint8)])


def test_other_runtime_errors_are_not_taken_for_memory():
    retargeter = Retargeter(_Exhausted(RuntimeError("shape mismatch")), image_size=32)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        retargeter.translate_batch([np.zeros((32, 32, 3), np.uint8)])
