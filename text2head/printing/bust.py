"""Parts of a head -> one watertight, printable bust standing on a round plinth.

The solid is the zero level set of one implicit field on a regular grid (millimetres at print
scale): the union of the closed parts' signed distances and of shells of `wall_mm` around the
open cards, cut by a plane just above the model's neck cap, with the neck continued straight
down to a round plinth. PyMCubes extracts the surface; what is not part of the largest body
(floating bits, inner voids) is removed on the grid before, so one closed surface comes out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import mcubes
import numpy as np
import trimesh
from scipy import ndimage

from text2head.printing.field import Grid, signed_distance, unsigned_distance
from text2head.printing.parts import Part, SortedParts, Surface, sort_parts

Progress = Callable[[float, str], None]
VOXELS_PER_HEIGHT = 200  # the default detail
MAX_VOXELS_PER_HEIGHT = 400  # 0.25 mm at 100 mm: about 45 M grid points, ~1 GB at peak
PLINTH_FRACTION = 0.08  # plinth thickness, of the bust height
COLLAR_FRACTION = 0.05  # neck below the cut at its lowest point, of the head's height
CUT_MARGIN_FRACTION = 0.015  # cut plane above the neck cap, of the head's height
BRIDGE_FRACTION = 0.08  # gaps under floating cards up to this (of the height) are filled
SLIT_MM = 2.0  # hollows behind openings narrower than this are filled
PRINT_FROM_MODEL = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])  # +Y up -> +Z up


@dataclass(frozen=True)
class PrintOptions:
    """Size and detail of a bust; every value in millimetres at print size."""

    height_mm: float = 100.0  # from the plinth's underside to the top of the head
    # Grid spacing: smaller is finer and slower (time grows about as voxel^-2.5). None: the
    # height / VOXELS_PER_HEIGHT (0.5 mm at 100 mm), the same detail and time at any size.
    voxel_mm: float | None = None
    wall_mm: float = 0.8  # thinnest wall of a thickened card (hair, brows)
    max_triangles: int = 400_000
    smoothing_iterations: int = 10

    def __post_init__(self) -> None:
        _check_number("height_mm", self.height_mm, 0.0, 1000.0)
        if self.voxel_mm is None:
            object.__setattr__(self, "voxel_mm", self.height_mm / VOXELS_PER_HEIGHT)
        _check_number("voxel_mm", self.voxel_mm, 0.0, self.height_mm / 20)
        if self.height_mm / self.voxel_mm > MAX_VOXELS_PER_HEIGHT:
            raise ValueError(
                f"voxel_mm={self.voxel_mm:g} is too fine for a {self.height_mm:g} mm bust: at "
                f"most {MAX_VOXELS_PER_HEIGHT} voxels across the height, i.e. voxel_mm >= "
                f"{self.height_mm / MAX_VOXELS_PER_HEIGHT:g}")
        _check_number("wall_mm", self.wall_mm, 0.0, self.height_mm / 10)
        if self.max_triangles < 1000:
            raise ValueError(f"max_triangles must be at least 1000, got {self.max_triangles}")
        if self.smoothing_iterations < 0:
            raise ValueError("smoothing_iterations must be >= 0")


@dataclass(frozen=True)
class Bust:
    """A printable solid: millimetres, +Z up, the plinth's underside on z = 0 and centred on
    the z axis, the face looking toward -Y (a slicer's front view)."""

    mesh: trimesh.Trimesh
    options: PrintOptions
    wall_mm: float  # the wall used: at least 1.5 voxels, so that cards never fall apart
    scale: float  # millimetres per model metre
    anchor: np.ndarray  # model point (metres) that maps to (0, 0, plinth thickness)
    included: list[str] = field(default_factory=list)  # part names printed
    dropped: list[str] = field(default_factory=list)  # part names left out (see parts.py)

    def to_print_frame(self, points: np.ndarray) -> np.ndarray:
        """Model points (metres, +Y up) in the bust's frame (millimetres, +Z up)."""
        plinth = PLINTH_FRACTION * self.options.height_mm
        return (np.asarray(points) - self.anchor) * self.scale @ PRINT_FROM_MODEL.T \
            + [0.0, 0.0, plinth]


@dataclass(frozen=True)
class _Cut:
    """The neck cut in model metres: a plane through `point` with downward unit `normal`,
    the level `floor` where the plinth starts, and the neck's section centre and radius."""

    point: np.ndarray
    normal: np.ndarray
    floor: float
    centre: np.ndarray  # (x, z)
    radius: float

    def height(self, x: np.ndarray, z: np.ndarray) -> np.ndarray:
        """y of the plane above (x, z)."""
        nx, ny, nz = self.normal
        return self.point[1] - (nx * (x - self.point[0]) + nz * (z - self.point[2])) / ny


def make_bust(parts: Sequence[Part], options: PrintOptions | None = None,
              progress: Progress | None = None) -> Bust:
    """One closed, outward-wound, single-body triangle mesh of the printable parts.

    `parts`: the head first (a closed surface; its lowest cap, if it has one, sets the neck
    cut), then any others: `TexturedMesh`es (their morph weights applied; see
    `parts.DROPPED_PARTS` for what is left out) or (vertices, faces) pairs, in metres, +Y up.
    `progress(fraction, text)` is called as the work advances.
    """
    options = options or PrintOptions()
    report = progress or (lambda fraction, text: None)
    report(0.0, "sorting parts")
    sorted_parts = sort_parts(parts)
    cut = _neck_cut(sorted_parts)
    wall = max(options.wall_mm, 1.5 * options.voxel_mm)
    scale, anchor = _scale(sorted_parts, cut, options, wall)
    closed = [_to_mm(surface, anchor, scale) for surface in sorted_parts.closed]
    open_ = [_to_mm(surface, anchor, scale) for surface in sorted_parts.open]
    cut_mm = _Cut(point=(cut.point - anchor) * scale, normal=cut.normal, floor=0.0,
                  centre=np.zeros(2), radius=cut.radius * scale)
    plinth = PLINTH_FRACTION * options.height_mm
    radius = _plinth_radius(closed, cut_mm.radius, options.height_mm)
    grid = _grid(closed + open_, radius, options, wall, plinth)

    report(0.1, "distance field of the head")
    head = _union_of_closed(closed, grid, 2.0 * options.voxel_mm, report)
    report(0.45, "thickening hair and other cards")
    solid = np.minimum(head, _shells(open_, grid, wall / 2, options.voxel_mm))
    report(0.6, "neck cut and plinth")
    solid = _cut_and_extend(solid, head, grid, cut_mm)
    solid = np.minimum(solid, _plinth(grid, radius, plinth))
    report(0.62, "filling hollows")
    solid = _fill_hollows(solid, 2.0 * options.voxel_mm, options.voxel_mm)
    report(0.64, "joining floating cards to the head")
    solid = _join_floating(solid, options.voxel_mm, BRIDGE_FRACTION * options.height_mm)
    report(0.67, "removing floating bits")
    solid = _keep_largest(solid, 2.0 * options.voxel_mm)
    report(0.7, "marching cubes")
    mesh = _surface(solid, grid)
    report(0.8, "smoothing")
    _smooth(mesh, options.smoothing_iterations, bottom=-plinth, tolerance=0.1 * options.voxel_mm)
    if len(mesh.faces) > options.max_triangles:
        report(0.9, "decimating")
        mesh = _decimate(mesh, options.max_triangles)
    mesh.apply_transform(_to_print_matrix(plinth))
    report(1.0, "done")
    return Bust(mesh=mesh, options=options, wall_mm=wall, scale=scale, anchor=anchor,
                included=sorted_parts.included, dropped=sorted_parts.dropped)


# ----- geometry of the cut and the scale ----------------------------------------------------------
def _neck_cut(parts: SortedParts) -> _Cut:
    """A plane just above the head's neck cap (fitted to the cap's vertices), or a level cut
    just above the head's lowest point when the head has no recognisable cap."""
    head = np.concatenate([s.vertices for s in parts.closed if s.part == parts.included[0]])
    head_height = np.ptp(head[:, 1])
    margin = CUT_MARGIN_FRACTION * head_height
    normal = np.array([0.0, -1.0, 0.0])
    caps = parts.head_caps
    if caps is not None and len(caps) >= 3:
        fitted = np.linalg.svd(caps - caps.mean(axis=0))[2][2]
        fitted = fitted if fitted[1] < 0 else -fitted
        if fitted[1] < -0.3:  # steeper than ~70 degrees would make a tall curtain: go level
            normal = fitted
    reference = caps if caps is not None else head[head[:, 1] <= head[:, 1].min() + margin]
    depth = (reference - reference.mean(axis=0)) @ normal  # positive: below the plane
    point = reference.mean(axis=0) + normal * (depth.min() - margin)
    ring = head[np.abs((head - point) @ normal) < 2 * margin]
    plane = _Cut(point, normal, 0.0, np.zeros(2), 0.0)
    lowest = plane.height(ring[:, 0], ring[:, 2]).min()
    centre = ring[:, [0, 2]].mean(axis=0)
    radius = np.linalg.norm(ring[:, [0, 2]] - centre, axis=1).max()
    return _Cut(point, normal, lowest - COLLAR_FRACTION * head_height, centre, radius)


def _scale(parts: SortedParts, cut: _Cut, options: PrintOptions,
           wall: float) -> tuple[float, np.ndarray]:
    """Millimetres per metre such that plinth + neck + head (+ half a wall when an open card is
    the highest point) is `height_mm`, and the model point that maps to the plinth's top."""
    top_closed = max(s.vertices[:, 1].max() for s in parts.closed)
    top_open = max((s.vertices[:, 1].max() for s in parts.open), default=-math.inf)
    top = max(top_closed, top_open)
    extra = wall / 2 if top_open > top_closed else 0.0
    available = options.height_mm * (1 - PLINTH_FRACTION) - extra
    scale = available / (top - cut.floor)
    anchor = np.array([cut.centre[0], cut.floor, cut.centre[1]])
    return scale, anchor


def _to_mm(surface: Surface, anchor: np.ndarray, scale: float) -> Surface:
    return Surface((surface.vertices - anchor) * scale, surface.faces, surface.part)


def _plinth_radius(closed: list[Surface], neck_radius: float, height: float) -> float:
    """Wide enough around the neck, and to hold the bust's centre of mass (that of the closed
    parts: cards weigh little) well inside its rim, so that the bust stands."""
    volume, moment = 0.0, np.zeros(3)
    for surface in closed:
        a, b, c = (surface.vertices[surface.faces[:, i]] for i in range(3))
        tetra = np.einsum("fi,fi->f", a, np.cross(b, c)) / 6  # signed, apex at the origin
        volume += tetra.sum()
        moment += (tetra[:, None] * (a + b + c) / 4).sum(axis=0)
    offset = np.linalg.norm((moment / volume)[[0, 2]])
    return float(min(max(1.25 * neck_radius, 0.28 * height, offset / 0.6), 0.5 * height))


def _grid(surfaces: list[Surface], radius: float, options: PrintOptions, wall: float,
          plinth: float) -> Grid:
    """A grid around everything above the plinth and the plinth, with empty margins, offset by
    an odd fraction of a voxel so that grid lines miss the vertices of axis-aligned input."""
    points = np.concatenate([s.vertices for s in surfaces])
    low = np.minimum(points.min(axis=0), [-radius, -plinth, -radius])
    high = np.maximum(points.max(axis=0), [radius, 0.0, radius])
    high[1] = min(high[1], options.height_mm)  # nothing is kept above the top anyway
    pad = wall / 2 + 3 * options.voxel_mm
    origin = low - pad - 0.318 * options.voxel_mm
    shape = np.ceil((high + pad - origin) / options.voxel_mm).astype(int) + 1
    return Grid(origin, options.voxel_mm, tuple(int(n) for n in shape))


# ----- the field ---------------------------------------------------------------------------------
def _union_of_closed(surfaces: list[Surface], grid: Grid, band: float,
                     report: Progress) -> np.ndarray:
    """Signed distance to the union of the closed surfaces (each on its own sub-grid)."""
    field_ = np.full(grid.shape, band, dtype=np.float32)
    for number, surface in enumerate(surfaces):
        crop = grid.crop(surface.vertices.min(axis=0) - band, surface.vertices.max(axis=0) + band)
        if crop is not None:
            slices, sub = crop
            distance = signed_distance(surface.vertices, surface.faces, sub, band)
            np.minimum(field_[slices], distance, out=field_[slices])
        report(0.1 + 0.35 * (number + 1) / len(surfaces), "distance field of the head")
    return field_


def _shells(surfaces: list[Surface], grid: Grid, half_wall: float, voxel: float) -> np.ndarray:
    """Signed field of shells `half_wall` thick on each side of the open surfaces."""
    band = half_wall + 2.0 * voxel
    field_ = np.full(grid.shape, band - half_wall, dtype=np.float32)
    if not surfaces:
        return field_
    offsets = np.cumsum([0] + [len(s.vertices) for s in surfaces])
    vertices = np.concatenate([s.vertices for s in surfaces])
    faces = np.concatenate([s.faces + offset for s, offset in zip(surfaces, offsets,
                                                                   strict=False)])
    crop = grid.crop(vertices.min(axis=0) - band, vertices.max(axis=0) + band)
    if crop is not None:
        slices, sub = crop
        field_[slices] = unsigned_distance(vertices, faces, sub, band) - half_wall
    return field_


def _cut_and_extend(solid: np.ndarray, head: np.ndarray, grid: Grid, cut: _Cut) -> np.ndarray:
    """Keep what lies above the cut plane (and above the plinth), and continue the head's
    section at the plane straight down to the plinth, so the neck stands on it."""
    x, y, z = (grid.axis(d) for d in range(3))
    plane = cut.height(x[:, None], z[None, :])  # (nx, nz)
    section = _sample_columns(head, grid, plane)
    keep_above = np.maximum(plane, cut.floor)[:, None, :] - y[None, :, None]
    below_plane = y[None, :, None] - plane[:, None, :]
    into_plinth = (cut.floor - grid.voxel) - y[None, :, None]
    neck = np.maximum(np.maximum(section[:, None, :], below_plane), into_plinth)
    return np.minimum(np.maximum(solid, keep_above), neck).astype(np.float32)


def _sample_columns(values: np.ndarray, grid: Grid, heights: np.ndarray) -> np.ndarray:
    """(nx, nz) values of a grid field at height heights[i, k] on each column, linearly
    interpolated; the band value (outside) where the height leaves the grid."""
    position = (heights - grid.origin[1]) / grid.voxel
    below = np.floor(position).astype(np.int64)
    inside = (below >= 0) & (below < grid.shape[1] - 1)
    below = np.clip(below, 0, grid.shape[1] - 2)
    t = position - below
    i, k = np.indices(heights.shape)
    sampled = values[i, below, k] * (1 - t) + values[i, below + 1, k] * t
    return np.where(inside, sampled, values.max())


def _plinth(grid: Grid, radius: float, thickness: float) -> np.ndarray:
    """A round plinth on the axis, its top at y = 0, with a chamfered top edge."""
    x, y, z = (grid.axis(d) for d in range(3))
    chamfer = 0.25 * thickness
    r = np.hypot(x[:, None], z[None, :])[:, None, :]
    yy = y[None, :, None]
    slab = np.maximum(np.maximum(r - radius, -thickness - yy), yy)
    return np.maximum(slab, (r - radius + yy + chamfer) / math.sqrt(2)).astype(np.float32)


def _join_floating(solid: np.ndarray, voxel: float, gap: float) -> np.ndarray:
    """Fill the space between pieces that float free of the main body (a hair layer over the
    scalp) and whatever lies within `gap` of them, by a morphological closing (dilate, then
    erode, by gap / 2) applied only around those pieces, so the rest keeps its detail.

    The closing runs on the box around them padded with empty space: a distance transform
    sees no background beyond the array's faces, so where the dilation reached the grid's
    faces (its empty margin is thinner than gap / 2: a big afro) the erosion left it there,
    raising the top above the height and opening the surface at the grid's face."""
    inside = solid < 0
    labels, count = ndimage.label(inside)
    if count < 2:
        return solid
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    floating = inside & (labels != sizes.argmax())
    radius = gap / 2
    box = ndimage.find_objects(floating.astype(np.int8))[0]
    margin = int(math.ceil(2 * gap / voxel)) + 1
    box = tuple(slice(max(b.start - margin, 0), b.stop + margin) for b in box)
    near = ndimage.distance_transform_edt(~floating[box], sampling=voxel) <= gap
    pad = int(math.ceil(radius / voxel)) + 1
    padded = np.pad(inside[box], pad)
    dilated = ndimage.distance_transform_edt(~padded, sampling=voxel) <= radius
    eroded = ndimage.distance_transform_edt(dilated, sampling=voxel)
    closing = radius - eroded[pad:-pad, pad:-pad, pad:-pad]
    solid[box] = np.where(near, np.minimum(solid[box], closing), solid[box])
    return solid


def _fill_hollows(solid: np.ndarray, band: float, voxel: float) -> np.ndarray:
    """Fill every hollow that is closed or opens to the outside only through a slit narrower
    than SLIT_MM (the mouth behind closed lips): a printer could neither clear nor support
    it. Grooves without a chamber behind them (ear folds, eyelid creases) stay. Voxels count
    as connected through faces, as in marching cubes."""
    outside = solid >= 0
    steps = max(1, round(SLIT_MM / 2 / voxel))
    core = ndimage.binary_erosion(outside, iterations=steps, border_value=1)
    labels, _ = ndimage.label(core)
    exterior = np.isin(labels, _border_labels(labels)) & core
    chambers = core & ~exterior
    if chambers.any():
        grown = ndimage.binary_dilation(chambers, iterations=steps)
        solid[grown & outside & ~ndimage.binary_dilation(exterior, iterations=steps)] = -band
    labels, count = ndimage.label(solid >= 0)
    if count > 1:
        solid[(labels != 0) & ~np.isin(labels, _border_labels(labels))] = -band
    return solid


def _keep_largest(solid: np.ndarray, band: float) -> np.ndarray:
    """Drop every solid piece but the largest (face-connected voxels)."""
    labels, count = ndimage.label(solid < 0)
    if count > 1:
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        solid[(labels != 0) & (labels != sizes.argmax())] = band
    return solid


def _border_labels(labels: np.ndarray) -> np.ndarray:
    """Labels found on the faces of the grid (0, the background, included)."""
    return np.unique(np.concatenate([labels[[0, -1]].ravel(), labels[:, [0, -1]].ravel(),
                                     labels[:, :, [0, -1]].ravel()]))


# ----- the mesh ----------------------------------------------------------------------------------
def _surface(solid: np.ndarray, grid: Grid) -> trimesh.Trimesh:
    """Marching cubes on the field (mcubes calls values above the level inside)."""
    values = -solid.astype(np.float64)
    # A sample on (or within rounding of) the level would put several vertices on one point.
    tiny = 1e-3 * grid.voxel
    values[np.abs(values) < tiny] = tiny
    vertices, faces = mcubes.marching_cubes(values, 0.0)
    # Keep marching cubes' topology as it is (one vertex per grid edge): merging close
    # vertices or dropping thin triangles could make edges shared by four faces, or holes.
    mesh = trimesh.Trimesh(grid.origin + grid.voxel * vertices, faces, process=False)
    if mesh.body_count > 1:  # voxels that touch along an edge only may still come apart
        mesh = max(mesh.split(only_watertight=False), key=lambda piece: abs(piece.volume))
    if mesh.volume < 0:
        mesh.invert()
    return mesh


def _smooth(mesh: trimesh.Trimesh, iterations: int, bottom: float, tolerance: float) -> None:
    """Taubin smoothing (removes the marching-cubes facets without shrinking), keeping the
    underside flat on the build plate."""
    if iterations == 0:
        return
    on_bottom = np.abs(mesh.vertices[:, 1] - bottom) < tolerance
    trimesh.smoothing.filter_taubin(mesh, lamb=0.5, nu=0.53, iterations=iterations)
    vertices = mesh.vertices.copy()
    vertices[on_bottom, 1] = bottom
    mesh.vertices = vertices


def _decimate(mesh: trimesh.Trimesh, faces: int) -> trimesh.Trimesh:
    """Quadric decimation to at most `faces` triangles (fast_simplification through trimesh)."""
    return mesh.simplify_quadric_decimation(face_count=faces)


def _to_print_matrix(plinth: float) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3] = PRINT_FROM_MODEL
    matrix[2, 3] = plinth
    return matrix


def _check_number(name: str, value: float, low: float, high: float) -> None:
    """Finite and in (low, high]; the message names the value and the range."""
    if not isinstance(value, int | float) or not math.isfinite(value) or not low < value <= high:
        raise ValueError(f"{name} must be a number greater than {low:g} and at most {high:g}, "
                         f"got {value!r}")
