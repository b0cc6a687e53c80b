"""Distance fields of triangle meshes sampled on a regular grid, computed in a narrow band.

Marching cubes only reads the field on grid edges that cross the surface, so exact distances
are needed only within a voxel or two of it: each triangle is compared with the grid points
of its own bounding box grown by the band, never with the whole grid. Inside/outside comes
from ray crossings counted along grid columns (a winding number), which is exact for closed,
consistently wound surfaces and costs one pass over the triangles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

PAIRS_PER_CHUNK = 2_000_000  # (triangle, grid point) pairs evaluated at once: ~100 MB peak


@dataclass(frozen=True)
class Grid:
    """Sample points `origin + voxel * (i, j, k)` for i < shape[0], j < shape[1], k < shape[2]."""

    origin: np.ndarray  # (3,) float64
    voxel: float
    shape: tuple[int, ...]  # (nx, ny, nz); (nx, nz) for the columns of a grid

    def index_box(self, low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inclusive index ranges of the grid points inside the box [low, high] (clipped);
        an empty box has some `stop < start`."""
        start = np.ceil((low - self.origin) / self.voxel).astype(np.int64)
        stop = np.floor((high - self.origin) / self.voxel).astype(np.int64)
        return np.maximum(start, 0), np.minimum(stop, np.asarray(self.shape) - 1)

    def crop(self, low: np.ndarray, high: np.ndarray) -> tuple[tuple[slice, ...], Grid] | None:
        """The sub-grid of points inside the box, with the slices that cut it out of a full-grid
        array; None when the box misses the grid."""
        start, stop = self.index_box(low, high)
        if (stop < start).any():
            return None
        slices = tuple(slice(int(a), int(b) + 1) for a, b in zip(start, stop, strict=True))
        shape = tuple(int(b - a + 1) for a, b in zip(start, stop, strict=True))
        return slices, Grid(self.origin + start * self.voxel, self.voxel, shape)

    def axis(self, dim: int) -> np.ndarray:
        return self.origin[dim] + self.voxel * np.arange(self.shape[dim])


def signed_distance(vertices: np.ndarray, faces: np.ndarray, grid: Grid,
                    band: float) -> np.ndarray:
    """Signed distance (negative inside) to a closed, outward-wound surface, clamped to
    [-band, band]; exact within `band` of the surface."""
    inside = winding_numbers(vertices, faces, grid) > 0
    distance = unsigned_distance(vertices, faces, grid, band)
    return np.where(inside, -distance, distance)


def unsigned_distance(vertices: np.ndarray, faces: np.ndarray, grid: Grid,
                      band: float) -> np.ndarray:
    """Distance from each grid point to the nearest triangle, clamped to `band`."""
    flat = torch.full((int(np.prod(grid.shape)),), float(band), dtype=torch.float32)
    triangles = vertices[faces].astype(np.float64)  # (F, 3, 3)
    start, stop = grid.index_box(triangles.min(axis=1) - band, triangles.max(axis=1) + band)
    counts = np.prod(np.clip(stop - start + 1, 0, None), axis=1)
    for chunk in _chunks(counts, PAIRS_PER_CHUNK):
        points, triangle_index, linear = _pairs(grid, start[chunk], stop[chunk], counts[chunk])
        corners = triangles[chunk][triangle_index]
        distance = point_triangle_distance(
            torch.from_numpy((points - corners[:, 0]).astype(np.float32)),
            torch.from_numpy((corners[:, 1] - corners[:, 0]).astype(np.float32)),
            torch.from_numpy((corners[:, 2] - corners[:, 0]).astype(np.float32)),
        )
        flat.scatter_reduce_(0, torch.from_numpy(linear), distance, reduce="amin")
    return flat.clamp_(max=band).numpy().reshape(grid.shape)


def winding_numbers(vertices: np.ndarray, faces: np.ndarray, grid: Grid) -> np.ndarray:
    """(nx, ny, nz) int32 winding number of every grid point: the signed count of surface
    crossings on the ray from the point toward +Y (+1 where the surface faces +Y)."""
    triangles = vertices[faces].astype(np.float64)
    flat_xz = triangles[:, :, [0, 2]]
    edge1, edge2 = flat_xz[:, 1] - flat_xz[:, 0], flat_xz[:, 2] - flat_xz[:, 0]
    area = edge1[:, 0] * edge2[:, 1] - edge1[:, 1] * edge2[:, 0]  # = -2 * projected normal y
    keep = np.abs(area) > 1e-12
    triangles, flat_xz, area = triangles[keep], flat_xz[keep], area[keep]
    nx, ny, nz = grid.shape
    crossings = np.zeros(nx * ny * nz)
    low = np.array([flat_xz[..., 0].min(axis=1), flat_xz[..., 1].min(axis=1)]).T
    high = np.array([flat_xz[..., 0].max(axis=1), flat_xz[..., 1].max(axis=1)]).T
    column_grid = Grid(grid.origin[[0, 2]], grid.voxel, (nx, nz))
    start, stop = column_grid.index_box(low, high)
    counts = np.prod(np.clip(stop - start + 1, 0, None), axis=1)
    for chunk in _chunks(counts, PAIRS_PER_CHUNK):
        columns, index = _column_pairs(start[chunk], stop[chunk], counts[chunk])
        corners, corners_xz = triangles[chunk][index], flat_xz[chunk][index]
        point = column_grid.origin + grid.voxel * columns
        weights = _barycentric_2d(point, corners_xz, area[chunk][index])
        hit = (weights >= 0).all(axis=1)
        y = np.einsum("pk,pk->p", weights[hit], corners[hit, :, 1])
        # The crossing counts for every grid point strictly below it on the column.
        row = np.floor((y - grid.origin[1]) / grid.voxel).astype(np.int64)
        below_grid = row < 0
        row = np.minimum(row, ny - 1)
        sign = np.where(area[chunk][index][hit] < 0, 1, -1)  # +1: normal has +Y component
        i, k = columns[hit, 0], columns[hit, 1]
        linear = (i * ny + row) * nz + k
        crossings += np.bincount(linear[~below_grid], weights=sign[~below_grid],
                                 minlength=len(crossings))
    crossings = crossings.reshape(nx, ny, nz).astype(np.int32)
    return np.flip(np.cumsum(np.flip(crossings, axis=1), axis=1), axis=1)


def point_triangle_distance(p: torch.Tensor, ab: torch.Tensor, ac: torch.Tensor) -> torch.Tensor:
    """Distance from points to triangles, all given relative to the triangles' first corner a:
    p - a, b - a, c - a, each (N, 3). The distance to the plane when the point projects inside
    the triangle, else to the nearest edge; degenerate triangles fall back to their edges."""
    normal = torch.linalg.cross(ab, ac)
    normal_sq = (normal * normal).sum(dim=1)
    bc, pb = ac - ab, p - ab
    inside = ((torch.linalg.cross(ab, p) * normal).sum(dim=1) >= 0) \
        & ((torch.linalg.cross(bc, pb) * normal).sum(dim=1) >= 0) \
        & ((torch.linalg.cross(-ac, p - ac) * normal).sum(dim=1) >= 0) & (normal_sq > 1e-20)
    plane = (p * normal).sum(dim=1).square() / normal_sq.clamp(min=1e-20)
    edges = torch.minimum(torch.minimum(_segment_sq(p, ab), _segment_sq(pb, bc)),
                          _segment_sq(p, ac))
    return torch.where(inside, plane, edges).sqrt()


def _segment_sq(p: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """Squared distance from p to the segment from the origin along `direction`."""
    length_sq = (direction * direction).sum(dim=1).clamp(min=1e-20)
    t = ((p * direction).sum(dim=1) / length_sq).clamp(0.0, 1.0)
    return (p - t[:, None] * direction).square().sum(dim=1)


def _barycentric_2d(point: np.ndarray, corners: np.ndarray, area: np.ndarray) -> np.ndarray:
    """(P, 3) barycentric weights of 2D points in 2D triangles of signed doubled `area`."""
    weights = np.empty((len(point), 3))
    for corner in range(3):
        a, b = corners[:, (corner + 1) % 3], corners[:, (corner + 2) % 3]
        weights[:, corner] = ((b[:, 0] - a[:, 0]) * (point[:, 1] - a[:, 1])
                              - (b[:, 1] - a[:, 1]) * (point[:, 0] - a[:, 0])) / area
    return weights


def _chunks(counts: np.ndarray, limit: int):
    """Consecutive index ranges of items whose counts sum to about `limit` (at least one)."""
    ends = np.cumsum(counts)
    first = 0
    while first < len(counts):
        base = ends[first - 1] if first else 0
        last = max(int(np.searchsorted(ends, base + limit, side="right")), first + 1)
        yield slice(first, last)
        first = last


def _expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For items with `counts`, each pair's item index and its rank within the item."""
    owner = np.repeat(np.arange(len(counts)), counts)
    rank = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    return owner, rank


def _pairs(grid: Grid, start: np.ndarray, stop: np.ndarray, counts: np.ndarray):
    """Every (grid point, triangle) pair of the triangles' index boxes: point positions,
    triangle index and the point's linear index in the grid."""
    counts = np.clip(counts, 0, None)
    owner, rank = _expand(counts)
    size = np.clip(stop - start + 1, 0, None)[owner]
    k = rank % size[:, 2]
    j = (rank // size[:, 2]) % size[:, 1]
    i = rank // (size[:, 2] * size[:, 1])
    index = start[owner] + np.stack([i, j, k], axis=1)
    linear = (index[:, 0] * grid.shape[1] + index[:, 1]) * grid.shape[2] + index[:, 2]
    return grid.origin + grid.voxel * index, owner, linear


def _column_pairs(start: np.ndarray, stop: np.ndarray, counts: np.ndarray):
    """Every (column, triangle) pair of the triangles' 2D index boxes."""
    owner, rank = _expand(np.clip(counts, 0, None))
    size = np.clip(stop - start + 1, 0, None)[owner]
    columns = start[owner] + np.stack([rank // size[:, 1], rank % size[:, 1]], axis=1)
    return columns, owner
