"""Counting the calls a module makes to its functions, for tests that check which path ran."""

from __future__ import annotations

from types import ModuleType


def count_calls(monkeypatch, module: ModuleType, names: dict[str, str]) -> dict[str, int]:
    """Wraps module.NAME for each NAME -> KEY of `names` so that each call adds one to the
    returned dict under KEY; monkeypatch undoes it after the test."""
    count = dict.fromkeys(names.values(), 0)

    def counted(key, fn):
        def wrapper(*args):
            count[key] += 1
            return fn(*args)
        return wrapper

    for name, key in names.items():
        monkeypatch.setattr(module, name, counted(key, getattr(module, name)))
    return count
