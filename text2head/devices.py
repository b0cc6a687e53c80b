"""Which torch device a run uses, refused with a reason before any work when it cannot be used
(torch's own errors came as tracebacks, after the output folder was made)."""

from __future__ import annotations

import torch

AUTO = "auto"  # cuda when torch finds a CUDA device, else cpu


def resolve_device(name: str | torch.device) -> torch.device:
    """The device `name` names (cpu, cuda, cuda:N, or auto), or ValueError saying why not."""
    if name == AUTO:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {name!r}: use cpu, cuda, cuda:N or {AUTO}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r}: torch finds no CUDA device on this machine; "
                             f"use cpu or {AUTO}")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r}: this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s), numbered from 0")
    elif device.type != "cpu":
        raise ValueError(f"device {name!r}: text2head runs on cpu or cuda")
    return device
