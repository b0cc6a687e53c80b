"""The device a run uses is checked before any work, with a reason when it cannot be used."""

from __future__ import annotations

import pytest
import torch

from text2head import api
from text2head.devices import resolve_device

HAS_CUDA = torch.cuda.is_available()


def test_auto_is_cuda_where_torch_finds_it_else_cpu():
    assert resolve_device("auto") == torch.device("cuda" if HAS_CUDA else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize(("name", "message"), [
    ("tpu", "unknown device 'tpu': use cpu, cuda, cuda:N or auto"),
    ("cuda:x", "unknown device 'cuda:x'"),
    ("meta", "device 'meta': text2head runs on cpu or cuda"),
])
def test_devices_text2head_cannot_use_are_refused(name, message):
    with pytest.raises(ValueError, match=message):
        resolve_device(name)


@pytest.mark.skipif(HAS_CUDA, reason="this machine has CUDA")
def test_cuda_without_a_cuda_device_is_refused_before_the_output_folder(tmp_path):
    with pytest.raises(ValueError, match="torch finds no CUDA device on this machine"):
        api.prepare("a man", clip="random:tiny", device="cuda", out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(not HAS_CUDA, reason="needs CUDA")
def test_a_cuda_device_past_the_last_is_refused():
    with pytest.raises(ValueError, match="numbered from 0"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")
