"""Procedural strand textures: MakeHuman's hair textures are not available, so strands are
drawn here, deterministically from a seed.

Cards are textured with strands running along v, roots at the top of the image (v = 1,
measured on the MakeHuman hair assets: the surface moves up as v grows). Each strand tapers
from root to tip, waves slightly, ends at its own length and has its own brightness; the
alpha channel is the strand coverage, used as an alpha cut-out so that cards read as hair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StrandStyle:
    """How a family of strands looks in one texture tile."""

    strands_per_texel: float  # strands across the tile per texel of its width
    width_texels: float  # strand width at the root, in texels
    tip_taper: float  # width at the tip relative to the root
    wave_texels: float  # amplitude of the sideways wave
    shortest: float  # strands end between this fraction of the tile height and the full tile


HAIR_STRANDS = StrandStyle(1.0, 2.2, 0.4, 1.5, 0.8)
FINE_STRANDS = StrandStyle(0.6, 1.2, 0.25, 0.6, 0.55)  # brows and lashes: short, fine hairs


def strand_tile(size: int, style: StrandStyle, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(luminance, alpha), each (size, size) float32 in [0, 1]; row 0 is the root end."""
    rng = np.random.default_rng(seed)
    count = max(1, round(style.strands_per_texel * size))
    centre = rng.uniform(0, size, count)
    phase = rng.uniform(0, 2 * np.pi, count)
    frequency = rng.uniform(1.0, 3.0, count)
    length = rng.uniform(style.shortest, 1.0, count)
    brightness = rng.uniform(0.75, 1.1, count)

    along = (np.arange(size) + 0.5) / size  # 0 at the root row, 1 at the bottom
    x = centre[:, None] + style.wave_texels * np.sin(2 * np.pi * frequency[:, None] * along
                                                     + phase[:, None])
    taper = 1 - (1 - style.tip_taper) * np.clip(along[None] / length[:, None], 0, 1)
    half_width = 0.5 * style.width_texels * taper * (along[None] <= length[:, None])

    alpha = np.zeros((size, size), np.float32)
    shade = np.zeros((size, size), np.float32)
    rows = np.broadcast_to(np.arange(size), x.shape)
    # Root-to-tip: darker near the scalp, lighter toward the tips.
    gradient = 0.8 + 0.25 * along[None]
    reach = int(np.ceil(style.width_texels / 2 + 1))
    for step in range(-reach, reach + 1):
        column = np.floor(x).astype(int) + step
        cover = np.clip(half_width + 0.5 - np.abs(column + 0.5 - x), 0, 1).astype(np.float32)
        column %= size  # strands wrap around the tile's sides
        np.maximum.at(alpha, (rows.ravel(), column.ravel()), cover.ravel())
        np.maximum.at(shade, (rows.ravel(), column.ravel()),
                      (cover * brightness[:, None] * gradient).ravel().astype(np.float32))
    luminance = np.where(alpha > 0, shade / np.maximum(alpha, 1e-6), 0.9)
    return np.clip(luminance, 0, 1).astype(np.float32), alpha


def fibre_noise(size: int, seed: int) -> np.ndarray:
    """(size, size) float32 in [0, 1): short, randomly oriented fibres for beards and stubble.

    Blurred white noise keeps features a couple of texels wide, so that a threshold gives
    fibre-like specks rather than single-texel salt.
    """
    rng = np.random.default_rng(seed)
    noise = rng.random((size, size))
    blurred = sum(np.roll(noise, shift, (0, 1)) for shift in ((0, 0), (1, 0), (0, 1), (1, 1)))
    order = blurred.ravel().argsort(kind="stable")
    ranks = np.empty(size * size)
    ranks[order] = np.arange(size * size) / (size * size)  # uniform on [0, 1)
    return ranks.reshape(size, size).astype(np.float32)
