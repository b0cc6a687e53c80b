"""Procedural strand textures: MakeHuman's hair textures are not available, so strands are
drawn here, deterministically from a seed.

Cards are textured with strands running along v, roots at the top of the image (v = 1,
measured on the MakeHuman hair assets: the surface moves up as v grows). Each strand tapers
from root to tip, waves slightly and ends at its own length; as groom cards carry them
(an id and a root-to-tip U per strand), each strand has its own brightness
(0.85 + 0.3 (id - 0.5)), dark roots (lerp(0.55, 1, U)) and an alpha that fades over the last
fifth of its length (1 - smoothstep(0.8, 1, U)). Alpha is antialiased coverage: fractional
where a strand edge crosses a texel, never single-texel salt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class StrandStyle:
    """How a family of strands looks in one texture tile."""

    strands_per_texel: float  # strands across the tile per texel of its width
    width_texels: float  # strand width at the root, in texels
    tip_taper: float  # width at the tip relative to the root
    wave_texels: float  # amplitude of the sideways wave
    shortest: float  # strands end between this fraction of the tile height and the full tile


HAIR_STRANDS = StrandStyle(1.0, 2.2, 0.4, 1.5, 0.8)
TIP_REACH = 1.1
FINE_STRANDS = StrandStyle(0.6, 1.2, 0.25, 0.6, 0.55)  # brows and lashes: short, fine hairs


def strand_tile(size: int, style: StrandStyle, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(luminance, alpha), each (size, size) float32 in [0, 1]; row 0 is the root end."""
    rng = np.random.default_rng(seed)
    count = max(1, round(style.strands_per_texel * size))
    centre = rng.uniform(0, size, count)
    phase = rng.uniform(0, 2 * np.pi, count)
    frequency = rng.uniform(1.0, 3.0, count)
    length = rng.uniform(style.shortest, 1.0, count)
    brightness = 1.0 + 0.3 * (rng.random(count) - 0.5)  # +-15 % by strand id

    along = (np.arange(size) + 0.5) / size  # 0 at the root row, 1 at the bottom
    x = centre[:, None] + style.wave_texels * np.sin(2 * np.pi * frequency[:, None] * along
                                                     + phase[:, None])
    # U: 0 at the root, 1 at this strand's tip; the faded tip runs a little past the
    # strand's length, so the tile's coverage stays about what it was with hard ends.
    u = along[None] / (TIP_REACH * length[:, None])
    taper = 1 - (1 - style.tip_taper) * np.clip(u, 0, 1)
    half_width = 0.5 * style.width_texels * taper
    fade = 1 - _smoothstep(0.8, 1.0, u)

    alpha = np.zeros((size, size), np.float32)
    shade = np.zeros((size, size), np.float32)
    rows = np.broadcast_to(np.arange(size), x.shape)
    shading = brightness[:, None] * (0.55 + 0.45 * np.clip(u, 0, 1))
    reach = int(np.ceil(style.width_texels / 2 + 1))
    for step in range(-reach, reach + 1):
        column = np.floor(x).astype(int) + step
        cover = (np.clip(half_width + 0.5 - np.abs(column + 0.5 - x), 0, 1) * fade).astype(
            np.float32)
        column %= size  # strands wrap around the tile's sides
        np.maximum.at(alpha, (rows.ravel(), column.ravel()), cover.ravel())
        np.maximum.at(shade, (rows.ravel(), column.ravel()),
                      (cover * shading).ravel().astype(np.float32))
    luminance = np.where(alpha > 0, shade / np.maximum(alpha, 1e-6), 0.9)
    return np.clip(luminance, 0, 1).astype(np.float32), alpha


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def fibre_noise(size: int, seed: int) -> np.ndarray:
    """(size, size) float32 uniform on [0, 1): short fibres for beards and stubble.

    White noise blurred into strokes a few texels long along u (the MakeHuman face island lies
    on its side, so u runs down the face, as beard hairs grow) and under a texel across, then
    ranked: a threshold at t keeps a fraction t of the texels, and a soft threshold gives
    strokes with soft edges rather than white-noise specks.
    """
    rng = np.random.default_rng(seed)
    along = max(1.5, 2.0 * size / 256)
    strokes = ndimage.gaussian_filter(rng.random((size, size)), sigma=(0.6, along),
                                      mode="wrap")
    order = strokes.ravel().argsort(kind="stable")
    ranks = np.empty(size * size)
    ranks[order] = np.arange(size * size) / (size * size)
    return ranks.reshape(size, size).astype(np.float32)
