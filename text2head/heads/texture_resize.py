"""Resizing the head's fixed UV maps (region masks, the eyes' gain) to a texture size.

Done on the CPU, then moved to the caller's device: CUDA's antialiased bilinear kernel
refuses large downscales (the eyes' gain map to 64 px asked for 66,820 bytes of shared
memory of the 49,152 a block has, on an H200), and every caller caches the result per size.
"""

from __future__ import annotations

import torch
from torch import Tensor


def resize_map(maps: Tensor, size: int, like: Tensor | None = None) -> Tensor:
    """(..., H, W) maps resized to (..., size, size) with an antialiased bilinear filter, on
    `like`'s device and dtype (float32 on the CPU when `like` is None)."""
    batch = maps.detach().cpu().float().reshape(1, -1, *maps.shape[-2:])
    if tuple(batch.shape[-2:]) != (size, size):
        batch = torch.nn.functional.interpolate(batch, size=(size, size), mode="bilinear",
                                                antialias=True, align_corners=False)
    resized = batch.reshape(*maps.shape[:-2], size, size)
    return resized if like is None else resized.to(like)
