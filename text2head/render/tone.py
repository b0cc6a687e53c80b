"""Colour encoding and the tone curve: shading happens in linear light, pictures are sRGB.

Textures and vertex colours are sRGB-encoded, as glTF's baseColor is, so they are decoded
before lighting. Shaded radiance is compressed with Khronos' PBR Neutral curve, the default of
the Babylon viewer behind Gradio's Model3D, so that the studio's previews and its 3D view agree,
and then encoded as sRGB. All three are differentiable.
"""

from __future__ import annotations

import torch
from torch import Tensor

# Khronos PBR Neutral: highlights above this are compressed, and desaturated by this much.
_START_COMPRESSION = 0.8 - 0.04
_DESATURATION = 0.15


def srgb_to_linear(srgb: Tensor) -> Tensor:
    """Decode sRGB values in [0, 1] to linear light."""
    srgb = srgb.clamp(0, 1)
    return torch.where(srgb <= 0.04045, srgb / 12.92,
                       ((srgb.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(linear: Tensor) -> Tensor:
    """Encode linear light in [0, 1] as sRGB."""
    linear = linear.clamp(0, 1)
    return torch.where(linear <= 0.0031308, 12.92 * linear,
                       1.055 * linear.clamp(min=0.0031308) ** (1 / 2.4) - 0.055)


def pbr_neutral(color: Tensor) -> Tensor:
    """Khronos PBR Neutral tone mapping of linear RGB (..., 3) into [0, 1].

    Colours below the knee keep their hue and lose only a small offset (0.04, less near
    black), so albedos read true; brighter ones roll off smoothly toward white.
    """
    color = color.clamp(min=0)
    x = color.amin(-1, keepdim=True)
    offset = torch.where(x < 0.08, x - 6.25 * x * x, torch.full_like(x, 0.04))
    color = color - offset
    peak = color.amax(-1, keepdim=True)
    knee = 1 - _START_COMPRESSION
    # The compressed branch only ever sees peaks above the knee: below it, its division would
    # blow up, and torch.where would turn that into NaN gradients though it is not chosen.
    high = peak.clamp(min=_START_COMPRESSION)
    new_peak = 1 - knee * knee / (high + knee - _START_COMPRESSION)
    compressed = color * (new_peak / high)
    blend = 1 - 1 / (_DESATURATION * (high - new_peak) + 1)
    compressed = compressed + blend * (new_peak - compressed)
    return torch.where(peak < _START_COMPRESSION, color, compressed)


def display(linear: Tensor) -> Tensor:
    """Linear radiance (..., 3) to displayable sRGB: tone curve, then encoding."""
    return linear_to_srgb(pbr_neutral(linear))
