"""Skin that reads as a person's: colour zones, blotches, age wrinkles and pores, in UV.

Everything is a function of where a texel lies on the template head (`FaceFrame`), so it is
continuous across UV seams and keeps its size in millimetres at any texture size:
- colour: a multiplicative modulation exp(zones @ log-gains) of the base skin colour
  (Gurney's zones: golden forehead, reddish cheeks/nose/ears, a bluish-grey-green mouth and
  jaw that is stronger for masculine heads; low-frequency blotches; cavity in wrinkles), so
  gradients reach the skin parameters, gender and age unchanged in kind;
- relief: a tangent-space detail normal map (glTF encoding) of forehead lines, crow's feet
  and nasolabial folds scaled by age, and a Worley pore bump.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from text2head.heads.texture_resize import resize_map
from text2head.heads.uv_surface import rasterize_corners

# log-gains of the colour zones on the sRGB skin colour (about +-5-8 %).
FOREHEAD_GAIN = (1.04, 1.01, 0.93)
RED_GAIN = (1.05, 0.93, 0.93)
JAW_GAIN = (0.93, 0.98, 1.03)
BLOTCH_RED_GAIN = (1.03, 0.99, 0.99)
BLOTCH_LIGHT_GAIN = (1.025, 1.025, 1.025)
CAVITY_GAIN = (0.80, 0.76, 0.76)  # albedo in the deepest crease of an old face
BLOTCH_SEED, PORE_SEED = 21, 22
# Relief in metres: (depth, width) of each wrinkle family at age 1.
FOREHEAD_LINES = (0.35e-3, 1.0e-3)
CROWS_FEET = (0.25e-3, 0.8e-3)
NASOLABIAL = (1.2e-3, 3.0e-3)
FOREHEAD_SPACING = 9e-3
PORE_SLOPE = 0.12  # slope of a pore's wall on the nose and cheeks
PORE_CELL = 1.0e-3  # Worley cell; never below PORE_MIN_TEXELS (sub-texel pores alias)
PORE_MIN_TEXELS = 2.5
ZONE_SIZE = 256  # colour zones are smooth: computed at most at this size


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def wrinkle_weight(age: Tensor) -> Tensor:
    """(B,) how wrinkled a face of that age is: none for children, little for young adults
    (age 2/3), fully at 1. Smooth, so the optimizer can move age through it."""
    t = ((age - 0.55) / 0.45).clamp(0, 1)
    return t * t * (3 - 2 * t)


@dataclass(frozen=True)
class FaceFrame:
    """Template landmarks (metres, project frame: +y up, +z out of the face), for the +x half;
    the face is symmetric, so zones use |x|."""

    eye: np.ndarray  # eyeball centre
    outer_canthus: np.ndarray
    mouth_corner: np.ndarray
    nose_tip: np.ndarray

    @classmethod
    def of_template(cls, template: np.ndarray, component: np.ndarray,
                    lips: np.ndarray) -> FaceFrame:
        """From the template (V, 3), component ids (0 = skin, 2 and 3 = eyes) and the
        per-vertex lips mask (V,)."""
        eye_points = template[component == 2].copy()
        eye_points[:, 0] = np.abs(eye_points[:, 0])
        eye = eye_points.mean(axis=0)
        canthus = np.array([eye_points[:, 0].max(), eye[1], eye[2] - 0.006])
        lip_points = template[(lips > 0.5) & (component == 0)]
        corner = lip_points[np.abs(lip_points[:, 0]).argmax()].copy()
        corner[0] = abs(corner[0])
        skin = template[component == 0]
        return cls(eye, canthus, corner, skin[skin[:, 2].argmax()])


class SkinDetail:
    """Zone, blotch, wrinkle and pore maps of the template, cached per texture size."""

    def __init__(self, corner_uvs: np.ndarray, corner_positions: np.ndarray,
                 corner_skin: np.ndarray, frame: FaceFrame, masks: dict[str, Tensor]):
        self.corner_uvs = corner_uvs
        self.corner_values = np.concatenate([corner_positions, corner_skin[..., None]], -1)
        self.frame = frame
        self.masks = masks
        self._maps: dict[int, dict[str, np.ndarray]] = {}
        self._texel: dict[int, float] = {}
        self._tensors: dict[tuple, tuple[Tensor, ...]] = {}

    # ----- public terms -----------------------------------------------------------------
    def colour_modulation(self, gender: Tensor, age: Tensor, size: int) -> Tensor:
        """(B, 3, size, size) factor on the sRGB skin colour, 1 off the skin."""
        zones = self._tensor(size, gender, "zones")  # (K, size * size)
        logs = gender.new_tensor(np.log([FOREHEAD_GAIN, RED_GAIN, JAW_GAIN, BLOTCH_RED_GAIN,
                                         BLOTCH_LIGHT_GAIN, CAVITY_GAIN]))  # (K, 3)
        scale = torch.stack([torch.ones_like(gender), torch.ones_like(gender),
                             0.4 + 0.6 * (1 - gender), torch.ones_like(gender),
                             torch.ones_like(gender), wrinkle_weight(age)], dim=1)  # (B, K)
        weights = (scale[:, :, None] * logs).transpose(1, 2)  # (B, 3, K)
        return torch.exp(weights @ zones).reshape(-1, 3, size, size)

    def detail_normal_map(self, age: Tensor, size: int) -> Tensor:
        """(B, 3, size, size) tangent-space normals encoded the glTF way (xyz * 0.5 + 0.5,
        +z out of the surface, +x along +u, +y along +v): age-scaled wrinkles plus pores."""
        wrinkle_slope, pore_slope = self._tensor(size, age, "wrinkle_slope", "pore_slope")
        slope = wrinkle_weight(age)[:, None, None, None] * wrinkle_slope + pore_slope
        normal = torch.cat([-slope, torch.ones_like(slope[:, :1])], dim=1)
        return torch.nn.functional.normalize(normal, dim=1) * 0.5 + 0.5

    # ----- maps -------------------------------------------------------------------------
    def _tensor(self, size: int, like: Tensor, *names: str):
        key = (size, like.device, like.dtype)
        if key not in self._tensors:
            maps = self.maps(size)
            self._tensors[key] = {name: torch.from_numpy(maps[name]).to(like)
                                  for name in ("zones", "wrinkle_slope", "pore_slope")}
        found = self._tensors[key]
        return found[names[0]] if len(names) == 1 else tuple(found[n] for n in names)

    def texel_size(self, size: int) -> float:
        """Median width in metres of a skin texel at that texture size."""
        self.maps(size)
        return self._texel[size]

    def maps(self, size: int) -> dict[str, np.ndarray]:
        """Numpy maps at one size: 'zones' (K, size²), 'wrinkle_slope' and 'pore_slope'
        (2, size, size) as d height / d (u, v) in metres per metre."""
        if size not in self._maps:
            values, covered = rasterize_corners(self.corner_uvs, self.corner_values, size)
            position, skin = values[..., :3], covered & (values[..., 3] > 0.5)
            metres_per_texel = self._texel[size] = _texel_size(position, skin)
            mask = {name: resize_map(self.masks[name], size).numpy() for name in
                    ("lips", "ears", "inside_mouth", "eyelids", "cheeks")}
            smooth = self._smooth_zones(size, position, mask)
            relief, crease = self._wrinkles(position, metres_per_texel)
            zones = np.concatenate([smooth * (skin * (1 - mask["inside_mouth"])),
                                    (crease * skin)[None]])
            pores = _worley_pits(size, max(PORE_CELL / metres_per_texel, PORE_MIN_TEXELS))
            pore_weight = skin * (0.5 + 0.5 * self._red_zone(position, mask)
                                  - 0.3 * mask["eyelids"] - 0.4 * mask["lips"])
            self._maps[size] = {
                "smooth_zones": smooth,
                "zones": zones.reshape(len(zones), -1).astype(np.float32),
                "wrinkle_slope": (_slopes(relief, metres_per_texel) * skin).astype(np.float32),
                "pore_slope": (_slopes(pores, 1.0) * PORE_SLOPE * pore_weight).astype(
                    np.float32),
            }
        return self._maps[size]

    def _smooth_zones(self, size: int, position: np.ndarray,
                      mask: dict[str, np.ndarray]) -> np.ndarray:
        """`_zones` at this size; above ZONE_SIZE, upsampled from there (they are smooth, and
        their noise would cost seconds at export sizes)."""
        if size <= ZONE_SIZE:
            return self._zones(position, mask)
        low = self.maps(ZONE_SIZE)["smooth_zones"]
        return resize_map(torch.from_numpy(low), size).numpy()

    def _red_zone(self, p: np.ndarray, mask: dict[str, np.ndarray]) -> np.ndarray:
        f = self.frame
        x, y = np.abs(p[..., 0]), p[..., 1]
        cheek = _gauss(x - (f.eye[0] + 0.012), 0.017) * _gauss(y - (f.nose_tip[1] + 0.002),
                                                                0.017)
        nose = _gauss(x, 0.011) * _gauss(y - f.nose_tip[1], 0.014) * (p[..., 2] > f.eye[2])
        return np.clip(cheek + nose + mask["ears"], 0, 1)

    def t_zone(self, p: np.ndarray) -> np.ndarray:
        """(...) in [0, 1]: the oily T-zone (mid forehead, nose, chin) at positions (..., 3)."""
        f = self.frame
        x, y, z = np.abs(p[..., 0]), p[..., 1], p[..., 2]
        front = smoothstep(f.eye[2] - 0.05, f.eye[2] - 0.02, z)
        forehead = (_gauss(x, 0.03) * smoothstep(f.eye[1] + 0.01, f.eye[1] + 0.03, y)
                    * front)
        bridge_to_tip = smoothstep(f.eye[1] + 0.01, f.nose_tip[1] - 0.005, y)
        nose = _gauss(x, 0.009) * bridge_to_tip * (y > f.nose_tip[1] - 0.015) * front
        chin = (_gauss(x, 0.015) * smoothstep(f.mouth_corner[1] - 0.02, f.mouth_corner[1] - 0.03,
                                              y) * front)
        return np.clip(forehead + nose + chin, 0, 1)

    def _zones(self, p: np.ndarray, mask: dict[str, np.ndarray]) -> np.ndarray:
        """(5, H, W): forehead, red, jaw, and two blotch noises in [-1, 1]."""
        f = self.frame
        y, z = p[..., 1], p[..., 2]
        front = smoothstep(f.eye[2] - 0.07, f.eye[2] - 0.035, z)
        forehead = smoothstep(f.eye[1] + 0.012, f.eye[1] + 0.032, y) * front
        jaw = (smoothstep(f.nose_tip[1] - 0.008, f.nose_tip[1] - 0.028, y)
               * smoothstep(f.eye[2] - 0.10, f.eye[2] - 0.05, z) * (1 - mask["lips"]))
        blotches = _fourier_noise(p, 2, BLOTCH_SEED, wavelengths=(0.025, 0.07))
        return np.stack([forehead, self._red_zone(p, mask), jaw, *blotches])

    def _wrinkles(self, p: np.ndarray, texel: float) -> tuple[np.ndarray, np.ndarray]:
        """Height (H, W) in metres at age 1 (valleys negative) and the crease depth in [0, 1]
        the albedo darkens by. Widths are prefiltered to the texel, keeping each valley's
        cross-section area, so lines blur rather than alias at small sizes."""
        f = self.frame
        x, y, z = np.abs(p[..., 0]), p[..., 1], p[..., 2]
        front = smoothstep(f.eye[2] - 0.05, f.eye[2] - 0.02, z)

        def valley(distance: np.ndarray, depth_width: tuple[float, float]) -> np.ndarray:
            depth, width = depth_width
            wide = np.hypot(width, 0.7 * texel)
            return -depth * width / wide * np.exp(-((distance / wide) ** 2))

        # Forehead: horizontal lines arching up toward the temples.
        arch = y - f.eye[1] - 18.0 * x**2
        phase = arch / FOREHEAD_SPACING
        lines = valley(np.abs(phase - np.round(phase)) * FOREHEAD_SPACING, FOREHEAD_LINES)
        forehead = lines * smoothstep(0.02, 0.03, arch) * smoothstep(0.065, 0.05, arch) * \
            smoothstep(0.055, 0.035, x) * front
        # Crow's feet: a fan of lines from the outer eye corner, on its outer side.
        dx, dy = x - f.outer_canthus[0], y - f.outer_canthus[1]
        radius, angle = np.hypot(dx, dy), np.arctan2(dy, np.maximum(dx, 1e-6))
        fan = angle / np.radians(14.0)
        crows = valley(np.abs(fan - np.round(fan)) * np.radians(14.0) * radius, CROWS_FEET) * \
            smoothstep(0.003, 0.007, radius) * smoothstep(0.02, 0.012, radius) * \
            smoothstep(-0.001, 0.003, dx) * (np.abs(angle) < np.radians(50))
        # Nasolabial fold: from beside the nose wing to beside the mouth corner.
        start = np.array([f.nose_tip[0] + 0.02, f.nose_tip[1] + 0.002])
        end = np.array([f.mouth_corner[0] + 0.01, f.mouth_corner[1] - 0.008])
        along, distance = _segment(np.stack([x, y], -1), start, end)
        fold = valley(distance, NASOLABIAL) * smoothstep(-0.1, 0.15, along) * \
            smoothstep(1.1, 0.8, along) * front
        relief = forehead + crows + fold
        return relief, np.clip(-relief / NASOLABIAL[0], 0, 1) ** 0.7


def _gauss(d: np.ndarray, sigma: float) -> np.ndarray:
    return np.exp(-0.5 * (d / sigma) ** 2)


def _segment(points: np.ndarray, start: np.ndarray, end: np.ndarray):
    """Fraction along the segment (unclamped) and distance to it, per point (..., 2)."""
    direction = end - start
    along = ((points - start) @ direction) / (direction @ direction)
    closest = start + np.clip(along, 0, 1)[..., None] * direction
    return along, np.linalg.norm(points - closest, axis=-1)


def _texel_size(position: np.ndarray, skin: np.ndarray) -> float:
    """Median texel width on the skin in metres."""
    step = np.linalg.norm(position[:, 1:] - position[:, :-1], axis=-1)
    return float(np.median(step[skin[:, 1:] & skin[:, :-1]]))


def _slopes(height: np.ndarray, texel: float) -> np.ndarray:
    """(2, H, W) d height / du and d height / dv (v up, row 0 at the top), per texel width."""
    d_col = (np.roll(height, -1, 1) - np.roll(height, 1, 1)) / (2 * texel)
    d_row = (np.roll(height, -1, 0) - np.roll(height, 1, 0)) / (2 * texel)
    return np.stack([d_col, -d_row])


def _fourier_noise(p: np.ndarray, count: int, seed: int,
                   wavelengths: tuple[float, float], terms: int = 24) -> list[np.ndarray]:
    """`count` smooth noises of 3D position in about [-1, 1] (random Fourier features)."""
    rng = np.random.default_rng(seed)
    noises = []
    for _ in range(count):
        direction = rng.normal(size=(terms, 3))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        frequency = 2 * np.pi / rng.uniform(*wavelengths, terms)
        phase = rng.uniform(0, 2 * np.pi, terms)
        noise = np.cos(p @ (direction * frequency[:, None]).T + phase).sum(-1)
        noises.append(np.clip(noise / np.sqrt(terms / 2) / 2, -1, 1))
    return noises


def _worley_pits(size: int, cell: float) -> np.ndarray:
    """(size, size) Worley F1 pits in texel units: 0 between pores, a bowl of wall slope up
    to 1 within half a cell of each (jittered-grid) pore centre."""
    rng = np.random.default_rng(PORE_SEED)
    cells = int(np.ceil(size / cell))
    grid = np.stack(np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij"), -1)
    points = (grid + rng.random((cells, cells, 2))) * cell  # (row, col) of each pore
    texel = np.stack(np.mgrid[0:size, 0:size], -1) + 0.5
    home = (texel // cell).astype(int)
    nearest = np.full((size, size), np.inf)
    for step in ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 0), (0, 1), (1, -1), (1, 0), (1, 1)):
        neighbour = home + step
        wrapped = neighbour % cells  # the tile repeats, so pores wrap around its sides
        point = points[wrapped[..., 0], wrapped[..., 1]] + (neighbour - wrapped) * cell
        nearest = np.minimum(nearest, np.hypot(texel[..., 0] - point[..., 0],
                                               texel[..., 1] - point[..., 1]))
    radius = 0.5 * cell
    return -0.5 * radius * (1 - np.clip(nearest / radius, 0, 1)) ** 2
