"""The U-Net's small-map layers: nn.Conv2d and nn.ConvTranspose2d by unfold/fold and one
matrix product, values and gradients as the oneDNN path gives them."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import recyclegan.models.layers as layers
from recyclegan.models.layers import SmallMapConv2d, SmallMapConvTranspose2d
from recyclegan.models.predictor import UnetPredictor


def _values_and_grads(module: torch.nn.Module, x: torch.Tensor, grad_out: torch.Tensor):
    module.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_()
    y = module(x)
    y.backward(grad_out)
    return [y, x.grad, *(p.grad for p in module.parameters())]


@pytest.mark.parametrize(("size", "transposed"), [
    (2, False), (4, False), (8, False), (1, True), (2, True), (4, True), (8, True)])
def test_matches_the_onednn_path(size, transposed, monkeypatch):
    monkeypatch.setattr(layers, "SMALL_MAP_MIN_WEIGHT", 1)
    torch.manual_seed(size)
    layer = (SmallMapConvTranspose2d(12, 5, 4, stride=2, padding=1) if transposed
             else SmallMapConv2d(12, 5, 4, stride=2, padding=1))
    x = torch.randn(2, 12, size, size)
    out = layer(x)
    grad_out = torch.randn_like(out)
    unfolds = []
    monkeypatch.setattr(F, "unfold", lambda *a, _f=F.unfold, **k: unfolds.append(1) or _f(*a, **k))
    monkeypatch.setattr(F, "fold", lambda *a, _f=F.fold, **k: unfolds.append(1) or _f(*a, **k))
    fast = _values_and_grads(layer, x, grad_out)
    assert len(unfolds) == 1  # it took the unfold / fold path
    monkeypatch.setattr(layers, "SMALL_MAP_MAX_PIXELS", 0)
    direct = _values_and_grads(layer, x, grad_out)
    assert len(unfolds) == 1
    for got, expected in zip(fast, direct, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_large_maps_narrow_layers_float64_and_autocast_stay_direct(monkeypatch):
    calls = []
    monkeypatch.setattr(F, "unfold", lambda *a, _f=F.unfold, **k: calls.append(1) or _f(*a, **k))
    SmallMapConv2d(4, 4, 4, stride=2, padding=1)(torch.randn(1, 4, 8, 8))  # narrow
    monkeypatch.setattr(layers, "SMALL_MAP_MIN_WEIGHT", 1)
    layer = SmallMapConv2d(4, 4, 4, stride=2, padding=1)
    layer(torch.randn(1, 4, 16, 16))  # 256 pixels: over SMALL_MAP_MAX_PIXELS
    layer.double()(torch.randn(1, 4, 8, 8, dtype=torch.float64))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        layer.float()(torch.randn(1, 4, 8, 8))
    assert calls == []


def test_the_predictor_is_the_same_function_either_way(monkeypatch):
    monkeypatch.setattr(layers, "SMALL_MAP_MIN_WEIGHT", 1)
    torch.manual_seed(0)
    predictor = UnetPredictor(channels=8, depth=5)
    prev, current = torch.rand(2, 2, 3, 32, 32) * 2 - 1

    def run():
        predictor.zero_grad(set_to_none=True)
        y = predictor(prev, current)
        y.square().mean().backward()
        return [y, *(p.grad for p in predictor.parameters())]

    fast = run()
    monkeypatch.setattr(layers, "SMALL_MAP_MAX_PIXELS", 0)
    for got, expected in zip(fast, run(), strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("transposed", [False, True])
def test_a_channels_last_input_gives_a_channels_last_output(transposed, monkeypatch):
    monkeypatch.setattr(layers, "SMALL_MAP_MIN_WEIGHT", 1)
    torch.manual_seed(1)
    layer = (SmallMapConvTranspose2d(6, 4, 4, stride=2, padding=1) if transposed
             else SmallMapConv2d(6, 4, 4, stride=2, padding=1))
    x = torch.randn(2, 6, 4, 4)
    y = layer(x.contiguous(memory_format=torch.channels_last))
    assert y.is_contiguous(memory_format=torch.channels_last) and not y.is_contiguous()
    torch.testing.assert_close(y, layer(x))
