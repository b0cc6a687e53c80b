"""Light rigs: directional lights in the camera's frame plus spherical-harmonic ambient light.

The studio rig is a portrait three-point set-up: a soft key 35 degrees beside and above the
camera, a fill from the other side at under half of it, a rim light from behind that separates
hair, ears and jaw from the background, and a sky-over-floor ambient. The optimizer's random
rigs vary around it, so CLIP never learns one rig, yet every view stays a plausible photograph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn.functional import normalize

# Ramamoorthi & Hanrahan (2001): irradiance from 9 spherical-harmonic radiance coefficients.
_C1, _C2, _C3, _C4, _C5 = 0.429043, 0.511664, 0.743125, 0.886227, 0.247708
# Radiance coefficients of a gradient a + b * y: L00 = 4 pi Y00 a, L1,-1 = 4 pi / 3 Y1 b.
_L00_OF_MEAN = 4 * math.pi * 0.282095
_L1_OF_SLOPE = 4 * math.pi / 3 * 0.488603

# Studio rig (camera frame: x right, y up, z toward the viewer), linear light.
KEY = (35.0, 35.0, 1.25)  # azimuth, elevation in degrees, intensity
FILL = (-50.0, 10.0, 0.55)
RIM = (-160.0, 40.0, 0.9)
WARM_KEY = (1.0, 0.96, 0.90)
COOL_FILL = (0.92, 0.96, 1.0)
SKY = (0.24, 0.25, 0.27)
FLOOR = (0.09, 0.075, 0.06)


def direction(azimuth: Tensor, elevation: Tensor) -> Tensor:
    """Unit directions (..., 3) in the camera frame from degrees; azimuth 0 is the camera."""
    azimuth, elevation = torch.deg2rad(azimuth), torch.deg2rad(elevation)
    return torch.stack([torch.cos(elevation) * torch.sin(azimuth), torch.sin(elevation),
                        torch.cos(elevation) * torch.cos(azimuth)], dim=-1)


def gradient_ambient(sky: Tensor, floor: Tensor) -> Tensor:
    """(B, 9, 3) SH radiance of light fading linearly from `sky` straight above to `floor`
    straight below, (B, 3) each, in the world frame (+y up)."""
    coefficients = sky.new_zeros(len(sky), 9, 3)
    coefficients[:, 0] = _L00_OF_MEAN * (sky + floor) / 2
    coefficients[:, 1] = _L1_OF_SLOPE * (sky - floor) / 2  # the y band
    return coefficients


def sh_irradiance(coefficients: Tensor, normal: Tensor) -> Tensor:
    """Irradiance / pi (N, 3) at unit world normals (N, 3) from (N, 9, 3) coefficients, ordered
    L00, L1-1, L10, L11, L2-2, L2-1, L20, L21, L22 (y, z, x for the first band).

    The nine basis values are built per normal from its three coordinates and weighted in one
    batched product: per-coefficient products of (N, 3) colours cost several times more."""
    x, y, z = normal.unbind(1)
    basis = torch.stack([torch.full_like(x, _C4), 2 * _C2 * y, 2 * _C2 * z, 2 * _C2 * x,
                         2 * _C1 * x * y, 2 * _C1 * y * z, _C3 * z * z - _C5, 2 * _C1 * x * z,
                         _C1 * (x * x - y * y)], dim=1)
    irradiance = (basis[:, None] @ coefficients)[:, 0]
    return irradiance.clamp(min=0) / math.pi


@dataclass(frozen=True)
class Lights:
    """L directional lights plus ambient light and a specular scale, one set per view.

    Directions point toward the lights in the camera frame (x right, y up, z toward the viewer),
    so a rig keeps lighting the visible side of the head whichever way the camera orbits; the
    first light is the key (it makes the eyes' catchlights). Colours are linear RGB. Ambient is
    spherical-harmonic radiance in the world frame, so the sky stays above the head.
    """

    directions: Tensor  # (B, L, 3); need not be unit length
    colors: Tensor  # (B, L, 3) linear RGB
    ambient: Tensor  # (B, 9, 3) SH radiance coefficients, see `sh_irradiance`
    specular: Tensor  # (B,) scale of the specular lobes (1 = physically plausible skin)

    def __len__(self) -> int:
        return len(self.directions)

    def to(self, device: torch.device | str | None = None,
           dtype: torch.dtype | None = None) -> Lights:
        return Lights(self.directions.to(device, dtype), self.colors.to(device, dtype),
                      self.ambient.to(device, dtype), self.specular.to(device, dtype))

    @classmethod
    def studio(cls, n: int = 1, device: torch.device | str | None = None,
               dtype: torch.dtype = torch.float32) -> Lights:
        """The portrait rig of previews, turntables and exports' thumbnails."""
        rig = torch.tensor([KEY, FILL, RIM], dtype=dtype)
        directions = direction(rig[:, 0], rig[:, 1])
        tints = torch.tensor([WARM_KEY, COOL_FILL, (1.0, 1.0, 1.0)], dtype=dtype)
        colors = rig[:, 2:] * tints
        ambient = gradient_ambient(torch.tensor([SKY], dtype=dtype),
                                   torch.tensor([FLOOR], dtype=dtype))
        lights = cls(directions.expand(n, -1, -1), colors.expand(n, -1, -1),
                     ambient.expand(n, -1, -1), torch.ones(n, dtype=dtype))
        return lights.to(device)

    @classmethod
    def default(cls, n: int = 1, device: torch.device | str | None = None,
                dtype: torch.dtype = torch.float32) -> Lights:
        """The studio rig."""
        return cls.studio(n, device, dtype)

    @classmethod
    def random(cls, generator: torch.Generator, n: int,
               device: torch.device | str | None = None) -> Lights:
        """Rigs around the studio one: the key on either side, higher or lower, harder or
        softer fill, stronger or weaker rim, warmer or cooler light, brighter or darker sky."""

        def uniform(low: float, high: float, *shape: int) -> Tensor:
            return low + (high - low) * torch.rand(*shape, generator=generator)

        side = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
        key_azimuth = side * uniform(15, 60, n)
        azimuth = torch.stack([key_azimuth, -side * uniform(30, 70, n),
                               side * uniform(140, 180, n)], dim=1)
        elevation = torch.stack([uniform(15, 55, n), uniform(-5, 25, n), uniform(20, 55, n)], 1)
        key = KEY[2] * uniform(0.75, 1.25, n)
        intensity = torch.stack([key, key / uniform(2, 5, n), key * uniform(0.3, 0.9, n)], 1)
        warmth = uniform(-0.06, 0.06, n, 1)  # colour temperature, about +-500 K
        tint = torch.cat([1 + warmth, torch.ones(n, 1), 1 - warmth], dim=1)
        colors = intensity[..., None] * tint[:, None]
        sky = torch.tensor(SKY) * uniform(0.6, 1.4, n, 1)
        floor = torch.tensor(FLOOR) * uniform(0.6, 1.4, n, 1)
        lights = cls(direction(azimuth, elevation), colors, gradient_ambient(sky, floor),
                     uniform(0.5, 1.5, n))
        return lights.to(device)


def world_directions(lights: Lights, camera_rotation: Tensor) -> Tensor:
    """(B, L, 3) unit directions toward the lights in the world frame."""
    return normalize(lights.directions, dim=-1) @ camera_rotation
