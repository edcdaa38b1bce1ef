"""Process settings per device: glibc malloc kept from handing freed tensors back to the kernel
on the CPU, cuDNN autotuning on CUDA."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest
import torch

from recyclegan.devices import M_MMAP_MAX, MALLOC_SETTINGS, keep_freed_memory


class FakeLibc:
    def __init__(self, result: int = 1) -> None:
        self.calls: list[tuple[int, int]] = []
        self.result = result

    def mallopt(self, parameter: int, value: int) -> int:
        self.calls.append((parameter, value))
        return self.result


def test_sets_every_malloc_parameter(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, _, _ in MALLOC_SETTINGS:
        monkeypatch.delenv(variable, raising=False)
    libc = FakeLibc()
    assert keep_freed_memory(libc)
    assert libc.calls == [(parameter, value) for _, parameter, value in MALLOC_SETTINGS]
    assert (M_MMAP_MAX, 0) in libc.calls


def test_leaves_the_users_own_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, _, _ in MALLOC_SETTINGS:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("MALLOC_MMAP_MAX_", "65536")
    libc = FakeLibc()
    assert keep_freed_memory(libc)
    assert M_MMAP_MAX not in [parameter for parameter, _ in libc.calls]
    assert len(libc.calls) == len(MALLOC_SETTINGS) - 1


def test_reports_a_refused_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, _, _ in MALLOC_SETTINGS:
        monkeypatch.delenv(variable, raising=False)
    assert not keep_freed_memory(FakeLibc(result=0))


# Allocates, fills and frees a 64 MiB tensor 30 times, and prints the minor page faults.
FAULTS = """
import resource, sys, torch
from recyclegan.devices import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(30):
    block = torch.empty(16 << 20, dtype=torch.float32)
    block.fill_(1.0)
    del block
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="the malloc settings are glibc's")
def test_freed_tensors_are_reused_without_page_faults() -> None:
    env_free = {variable for variable, _, _ in MALLOC_SETTINGS}

    def faults(mode: str) -> int:
        env = {key: value for key, value in os.environ.items() if key not in env_free}
        done = subprocess.run([sys.executable, "-c", FAULTS, mode], capture_output=True,
                              text=True, check=True, env=env)
        return int(done.stdout.split()[-1])

    pages = (64 << 20) // 4096
    assert faults("default") > 25 * pages  # glibc maps and unmaps every 64 MiB block
    # Kept: a few blocks land in fresh heap while small allocations settle around them
    # (six with glibc 2.36), then every block reuses memory already faulted in.
    assert faults("keep") < 10 * pages


def test_tune_process_autotunes_cudnn_on_cuda_and_tunes_the_cpu_on_the_cpu(monkeypatch):
    from recyclegan import devices

    calls = []
    monkeypatch.setattr(devices, "tune_cpu_process", lambda: calls.append("cpu"))
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    devices.tune_process(torch.device("cpu"))
    assert calls == ["cpu"] and not torch.backends.cudnn.benchmark
    devices.tune_process(torch.device("cuda"))  # only a flag: no GPU needed to set it
    assert calls == ["cpu"] and torch.backends.cudnn.benchmark
