"""Procedural eyes in the UV texture: what makes an eye read as alive at 224 px.

The appearance model paints the iris, pupil and sclera as flat colours; this module gives a
fixed (3, H, W) gain on them, in polar coordinates about each iris centre:
- iris: radial fibres (noise along the angle), a lighter jagged collarette at r ~ 0.5, a dark
  limbal ring x (1 - 0.7 smoothstep(0.82, 1, r)), a warmer inner and cooler outer tone; the
  gain averages 1 over the iris, so the iris colour parameters still mean the mean colour;
- sclera: the parameter's colour next to the iris, darker and redder toward the corners;
- both: the upper lid's shadow over the top quarter.
Centres, radii and ellipse shapes come from the iris/pupil masks (the eyes are separate UV
islands); "up" on each island from how the eyeball's vertices rise with their UVs.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from torch import Tensor

from text2head.heads.texture_resize import resize_map

INNER_TONE = (1.22, 1.10, 0.82)  # around the pupil: warmer (the amber ring of many irises)
OUTER_TONE = (0.90, 0.95, 1.03)
CORNER_TONE = (0.86, 0.74, 0.71)  # sclera at the eye corners, relative to next to the iris
LID_SHADOW = 0.4  # albedo loss at the top of the iris under the upper lid
FIBRES_PER_TURN = 60
FIBRE_SEED = 31
GAIN_SIZE = 1024  # the iris is ~15 texels wide here: finer than the 512² masks


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


class EyeDetail:
    """The eyes' gain map, computed once at the mask size and resized per texture size."""

    def __init__(self, masks: dict[str, Tensor], vertex_uvs: np.ndarray,
                 vertex_heights: np.ndarray, eye_vertices: np.ndarray):
        iris, pupil, sclera = (torch.nn.functional.interpolate(
            masks[n][None, None], size=(GAIN_SIZE, GAIN_SIZE), mode="bilinear",
            align_corners=False)[0, 0].numpy().astype(np.float64)
            for n in ("iris", "pupil", "sclera"))
        self.polar = eye_polar(iris, pupil, vertex_uvs[eye_vertices],
                               vertex_heights[eye_vertices])
        self.gain = eye_gain(*self.polar, iris, sclera)  # (3, H, W)
        self._resized: dict[tuple, Tensor] = {}

    def gain_at(self, size: int, like: Tensor) -> Tensor:
        """(3, size, size) gain, 1 off the eyes."""
        key = (size, like.device, like.dtype)
        if key not in self._resized:
            self._resized[key] = resize_map(torch.from_numpy(self.gain), size, like)
        return self._resized[key]


def eye_polar(iris: np.ndarray, pupil: np.ndarray, uvs: np.ndarray, heights: np.ndarray):
    """Per texel: radius r (1 at the iris edge, in each iris's own ellipse), angle, height s
    above the iris centre (in iris radii, +up on the face), and the pupil radius (scalar).
    Texels of no eye get r = inf."""
    size = iris.shape[-1]
    labels, count = ndimage.label(iris > 0.5)
    rows, cols = np.mgrid[0:size, 0:size] + 0.5
    radius = np.full(iris.shape, np.inf)
    angle, height = np.zeros(iris.shape), np.zeros(iris.shape)
    texel_uvs = np.stack([uvs[:, 0] * size, (1 - uvs[:, 1]) * size], -1)  # (col, row)
    pupil_ratios = []
    for label in range(1, count + 1):
        weight = iris * (labels == label)
        total = weight.sum()
        centre = np.array([(weight * cols).sum(), (weight * rows).sum()]) / total
        offset = np.stack([cols - centre[0], rows - centre[1]], -1)
        covariance = np.einsum("hw,hwi,hwj->ij", weight, offset, offset) / total
        whitened = offset @ np.linalg.inv(np.linalg.cholesky(covariance)).T / 2
        r = np.linalg.norm(whitened, axis=-1)  # 1 at the edge of a uniform elliptic disc
        island = r < 8  # far beyond the lids' opening, well short of the other eye
        radius[island] = np.minimum(radius[island], r[island])
        # "Up": the direction in which this eyeball's nearby vertices rise fastest.
        near = np.linalg.norm(texel_uvs - centre, axis=1) < 3 * np.sqrt(np.trace(covariance))
        design = np.column_stack([texel_uvs[near] - centre, np.ones(near.sum())])
        rise = np.linalg.lstsq(design, heights[near], rcond=None)[0][:2]
        # offset = 2 L w, so the height rises along L^T rise in whitened coordinates.
        up = np.linalg.cholesky(covariance).T @ rise
        up = up / max(np.linalg.norm(up), 1e-12)
        height[island] = whitened[island] @ up
        angle[island] = np.arctan2(whitened[island] @ np.array([up[1], -up[0]]),
                                   whitened[island] @ up)
        pupil_ratios.append(np.sqrt((pupil * (labels == label)).sum() / total))
    return radius, angle, height, float(np.mean(pupil_ratios)) if pupil_ratios else 0.35


def eye_gain(radius: np.ndarray, angle: np.ndarray, height: np.ndarray, pupil_radius: float,
             iris: np.ndarray, sclera: np.ndarray) -> np.ndarray:
    """(3, H, W) sRGB gain of the iris and sclera colours (1 elsewhere)."""
    rng = np.random.default_rng(FIBRE_SEED)
    turn = (angle / (2 * np.pi)) % 1.0
    r = np.where(np.isfinite(radius), radius, 0.0)
    fibres = _periodic_noise(turn, r * 4, FIBRES_PER_TURN, rng)
    jag = _periodic_noise(turn, np.zeros_like(r), 12, rng)
    collarette_radius = pupil_radius + 0.35 * (1 - pupil_radius) + 0.06 * (jag - 0.5)
    t = np.clip((r - pupil_radius) / (1 - pupil_radius), 0, 1)
    tone = np.array(INNER_TONE)[:, None, None] + (
        np.array(OUTER_TONE) - np.array(INNER_TONE))[:, None, None] * smoothstep(0.3, 0.6, t)
    pattern = ((0.82 + 0.36 * fibres) * (1 + 0.15 * np.exp(-((r - collarette_radius)
                                                             / 0.05) ** 2))
               * (1 - 0.7 * smoothstep(0.82, 1.0, r)))
    iris_only = np.clip(iris, 0, 1) * (r > pupil_radius)
    iris_gain = tone * pattern
    iris_gain /= (iris_gain * iris_only).sum(axis=(1, 2), keepdims=True) / iris_only.sum()
    corners = smoothstep(1.2, 2.6, r)
    sclera_gain = 1 + (np.array(CORNER_TONE)[:, None, None] - 1) * corners
    lid = 1 - LID_SHADOW * smoothstep(0.35, 1.1, height)
    white = np.clip(sclera - iris, 0, 1)
    inside = np.clip(iris, 0, 1)
    gain = 1 + (iris_gain - 1) * inside + (sclera_gain - 1) * white
    on_eye = np.isfinite(radius) & (sclera > 0)
    return np.where(on_eye, gain * lid, 1.0).astype(np.float32)


def _periodic_noise(turn: np.ndarray, radial: np.ndarray, per_turn: int,
                    rng: np.random.Generator) -> np.ndarray:
    """Smooth value noise in [0, 1], periodic in `turn` (per_turn cells) and free in
    `radial` (one cell per unit)."""
    rows = int(np.ceil(radial.max())) + 2
    values = rng.random((rows, per_turn))
    a, b = turn * per_turn, radial
    a0, b0 = np.floor(a).astype(int), np.floor(b).astype(int)
    fa, fb = smoothstep(0, 1, a - a0), smoothstep(0, 1, b - b0)
    a1 = (a0 + 1) % per_turn
    a0 %= per_turn
    top = values[b0, a0] * (1 - fa) + values[b0, a1] * fa
    bottom = values[b0 + 1, a0] * (1 - fa) + values[b0 + 1, a1] * fa
    return top * (1 - fb) + bottom * fb
