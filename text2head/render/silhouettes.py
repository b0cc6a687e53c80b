"""Analytic antialiasing of silhouette edges, the source of contour gradients.

A hard z-buffer image does not change when a contour vertex moves a little, so it has no gradient
for it. Here each pair of neighbouring pixels whose centres straddle a silhouette edge (an edge
between a visible triangle and a triangle of opposite facing, or a mesh boundary) is blended by
where the edge crosses the segment between the two centres: with the crossing at fraction t from
the occluding pixel o toward the other pixel n, the occluder covers part (t - 1/2) of n's width
when t > 1/2, and leaves part (1/2 - t) of its own pixel uncovered when t < 1/2. The blend is
continuous in t and t is a differentiable function of the edge's projected vertices. The same idea
drives nvdiffrast's antialias operation; this is an independent, simpler take on it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import Tensor

from .rasterize import (
    Fragments,
    barycentric_gradients,
    barycentrics_12,
    gather_rows,
    pixel_centres,
    screen_barycentrics,
)

# Most contours are found within a few triangles; a walk that needs more gives up (no blend).
_MAX_WALK_STEPS = 32


def face_neighbors(faces: Tensor) -> Tensor:
    """(F, 3) index of the face across the edge opposite each corner, -1 on a boundary.

    On a non-manifold edge one of the other faces is chosen.
    """
    faces = faces.long()
    n_faces = len(faces)
    ends = torch.stack([faces[:, [1, 2]], faces[:, [2, 0]], faces[:, [0, 1]]], dim=1)  # (F, 3, 2)
    low, high = ends.min(-1).values, ends.max(-1).values
    key = (low * (int(faces.max()) + 1) + high).reshape(-1)
    order = torch.argsort(key)
    shared = key[order[1:]] == key[order[:-1]]
    first, second = order[:-1][shared], order[1:][shared]
    neighbors = torch.full((n_faces * 3,), -1, dtype=torch.long, device=faces.device)
    neighbors[first] = second // 3
    neighbors[second] = first // 3
    return neighbors.view(n_faces, 3)


def antialias(image: Tensor, fragments: Fragments, faces: Tensor, neighbors: Tensor) -> Tensor:
    """Blend silhouette pixels of `image` (B * H * W, C), pixels in row-major order per view."""
    occluder, other = _straddling_pairs(fragments, neighbors)
    height, width = fragments.triangle_id.shape[1:]
    view, *near_centre = pixel_centres(occluder, height, width, fragments.screen.dtype)
    _, *far_centre = pixel_centres(other, height, width, fragments.screen.dtype)
    segments = _Segments(view, occluder, other, *near_centre, *far_centre)
    triangle, edge = _silhouette_crossings(fragments, faces, neighbors, segments)
    keep = _across_edge(fragments, faces, segments, triangle, edge)
    rows = torch.nonzero(keep).squeeze(1)
    segments, triangle, edge = segments.select(rows), triangle[rows], edge[rows]
    n_vertices = fragments.screen.shape[1]
    corner_ids = segments.view[:, None] * n_vertices + faces[triangle]
    corners = gather_rows(fragments.screen.reshape(-1, 2), corner_ids)
    near, far = segments.barycentrics(corners)
    near, far = near.gather(1, edge[:, None])[:, 0], far.gather(1, edge[:, None])[:, 0]
    t = (near / (near - far)).clamp(0, 1)

    occluder, other = segments.occluder, segments.other
    difference = gather_rows(image, other) - gather_rows(image, occluder)
    image = image.index_add(0, occluder, difference * (0.5 - t).clamp(min=0)[:, None])
    return image.index_add(0, other, -difference * (t - 0.5).clamp(min=0)[:, None])


@dataclass(frozen=True)
class _Segments:
    """Segments between the centres of an occluder pixel and its neighbour, in pixels."""

    view: Tensor
    occluder: Tensor  # flat pixel indices
    other: Tensor
    near_x: Tensor  # occluder pixel centre
    near_y: Tensor
    far_x: Tensor  # neighbour pixel centre
    far_y: Tensor

    def select(self, rows: Tensor) -> _Segments:
        return _Segments(*(getattr(self, f.name).index_select(0, rows) for f in fields(self)))

    def barycentrics(self, corners: Tensor) -> tuple[Tensor, Tensor]:
        """Screen barycentrics (M, 3) of triangles (M, 3, 2) at both ends of each segment."""
        return (screen_barycentrics(corners, self.near_x, self.near_y),
                screen_barycentrics(corners, self.far_x, self.far_y))


@torch.no_grad()
def _silhouette_crossings(fragments: Fragments, faces: Tensor, neighbors: Tensor,
                          segments: _Segments) -> tuple[Tensor, Tensor]:
    """Walk from each occluder pixel centre toward the other centre across the surface.

    Triangles near a contour are often smaller than a pixel, so the silhouette edge between two
    centres rarely belongs to the occluder pixel's own triangle. The walk leaves each triangle
    through the edge the segment crosses first, continues into the neighbour while the facing
    stays the same, and stops at a silhouette edge (found) or when the segment ends on the
    surface (no contour between the centres). Returns per segment the triangle and its edge
    (index of the opposite corner), edge = -1 where no silhouette crossing was found.
    """
    triangle = fragments.triangle_id.reshape(-1)[segments.occluder]
    edge = torch.full_like(triangle, -1)
    n_faces = len(faces)
    front = fragments.front_facing.reshape(-1)
    flat_neighbors = neighbors.reshape(-1)
    # Per (view, face): first corner and barycentric gradients, the arithmetic of
    # `screen_barycentrics`, computed once instead of at every step.
    corners = fragments.screen.detach().index_select(1, faces.reshape(-1))
    origin, gradients = barycentric_gradients(corners.view(-1, 3, 2))
    table = torch.cat([origin, gradients], dim=1)
    active = torch.arange(len(triangle), device=triangle.device)
    walking = segments
    for _ in range(_MAX_WALK_STEPS):
        if not len(active):
            break
        current = triangle.index_select(0, active)
        rows = walking.view * n_faces + current
        x0, y0, *row_gradients = table.index_select(0, rows).unbind(1)
        near, far = (torch.stack([1 - l1 - l2, l1, l2], dim=-1) for l1, l2 in (
            barycentrics_12(row_gradients, walking.near_x - x0, walking.near_y - y0),
            barycentrics_12(row_gradients, walking.far_x - x0, walking.far_y - y0)))
        # Barycentric k falls linearly along the segment and leaves the triangle at zero.
        falling = far < near
        crossing = torch.where(falling, near / torch.where(falling, near - far, 1.0), torch.inf)
        t, exit_edge = crossing.min(-1)
        neighbor = flat_neighbors.index_select(0, current * 3 + exit_edge)
        across = walking.view * n_faces + neighbor.clamp(min=0)
        silhouette = (neighbor < 0) | (front.index_select(0, across) != front.index_select(0, rows))
        leaves = t < 1
        edge[active[leaves & silhouette]] = exit_edge[leaves & silhouette]
        walks_on = torch.nonzero(leaves & ~silhouette).squeeze(1)
        triangle[active[walks_on]] = neighbor[walks_on]
        active, walking = active[walks_on], walking.select(walks_on)
    return triangle, edge


@torch.no_grad()
def _across_edge(fragments: Fragments, faces: Tensor, segments: _Segments, triangle: Tensor,
                 edge: Tensor) -> Tensor:
    """Mask of the crossings whose segment runs across the edge rather than along it.

    Counting an edge in both pixel directions would blend it twice and double its gradient, so
    an edge is blended along rows when it is closer to vertical and along columns otherwise.
    """
    found = edge >= 0
    ends = torch.stack([(edge + 1) % 3, (edge + 2) % 3], dim=1).clamp(min=0)
    corner_ids = segments.view[:, None] * fragments.screen.shape[1] + faces[triangle]
    corners = gather_rows(fragments.screen.detach().reshape(-1, 2), corner_ids)  # (M, 3, 2)
    direction = torch.diff(corners.gather(1, ends[..., None].expand(-1, -1, 2)), dim=1)[:, 0]
    steep = direction[:, 1].abs() >= direction[:, 0].abs()
    along_row = segments.near_y == segments.far_y
    return found & (steep == along_row)


@torch.no_grad()
def _straddling_pairs(fragments: Fragments, neighbors: Tensor) -> tuple[Tensor, Tensor]:
    """Horizontally or vertically adjacent pixels that may straddle a contour, as flat indices
    (nearer pixel, farther pixel); background counts as infinitely far.

    Pixels showing two triangles that share an edge and face the same way are left out: no
    contour runs between them, and they are most pairs.
    """
    ids = fragments.triangle_id
    n_views, height, width = ids.shape
    flat_ids = ids.reshape(-1)
    firsts, seconds = [], []
    for step, (a, b) in ((1, (ids[:, :, :-1], ids[:, :, 1:])), (width, (ids[:, :-1], ids[:, 1:]))):
        view, y, x = torch.nonzero(a != b).unbind(1)
        firsts.append((view * height + y) * width + x)
        seconds.append(firsts[-1] + step)
    first, second = torch.cat(firsts), torch.cat(seconds)
    first_id, second_id = flat_ids.index_select(0, first), flat_ids.index_select(0, second)
    view = first // (height * width)
    n_faces = len(neighbors)
    front = fragments.front_facing.reshape(-1)
    first_face, second_face = first_id.clamp(min=0), second_id.clamp(min=0)
    smooth = ((first_id >= 0) & (second_id >= 0)
              & (gather_rows(neighbors, first_face) == second_id[:, None]).any(1)
              & (front.index_select(0, view * n_faces + first_face)
                 == front.index_select(0, view * n_faces + second_face)))
    first, second = first[~smooth], second[~smooth]
    depth = fragments.depth.reshape(-1)
    first_nearer = depth[first] <= depth[second]
    return torch.where(first_nearer, first, second), torch.where(first_nearer, second, first)
