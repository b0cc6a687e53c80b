"""Exact z-buffer rasterization with differentiable perspective-correct barycentrics.

Which triangle is nearest at a pixel centre is a discrete decision, so it is made without autograd
in one vectorised pass (candidate pixel/triangle pairs from bounding boxes, edge-function inside
test, per-pixel minimum of a packed depth|triangle key). The barycentrics of the covered pixels are
then recomputed from the projected vertices under autograd, which is cheap and lets gradients reach
vertex positions. Contour gradients come from `silhouettes.antialias`.

Screen space: x to the right and y down in pixels, pixel (x, y) has its centre at (x + .5, y + .5).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

# Pixel centres this close outside a triangle still count as inside, so that rounding can never
# open a crack between two triangles that share an edge (the depth test picks one of them).
_INSIDE_TOLERANCE = 1e-6
_NO_HIT = torch.iinfo(torch.int64).max


@dataclass(frozen=True)
class Fragments:
    """Per-pixel visibility plus differentiable barycentrics of the N covered pixels."""

    triangle_id: Tensor  # (B, H, W) int64 face index, -1 where no triangle covers the centre
    depth: Tensor  # (B, H, W) distance along the view axis (detached), inf on background
    pixels: Tensor  # (N,) flat indices b * H * W + y * W + x of covered pixels, ascending
    view: Tensor  # (N,) view index b of each covered pixel
    face: Tensor  # (N,) face index of each covered pixel
    barycentrics: Tensor  # (N, 3) perspective-correct, differentiable
    screen: Tensor  # (B, V, 2) vertex positions in pixels, differentiable
    front_facing: Tensor  # (B, F) bool: counter-clockwise on screen (seen from outside)

    @property
    def alpha(self) -> Tensor:
        """(B, H, W) hard coverage, 1 where a triangle covers the pixel centre."""
        return (self.triangle_id >= 0).to(self.screen.dtype)


def to_screen(clip: Tensor, height: int, width: int) -> Tensor:
    """Clip-space (B, V, 4) to pixel coordinates (B, V, 2) (perspective divide + viewport)."""
    ndc = clip[..., :2] / clip[..., 3:]
    return torch.stack([(ndc[..., 0] + 1) * (width / 2), (1 - ndc[..., 1]) * (height / 2)], -1)


def screen_barycentrics(corners: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """Screen-space barycentrics (..., 3) of points (x, y) in triangles `corners` (..., 3, 2)."""
    origin, gradients = _barycentric_gradients(corners)
    l1, l2 = _barycentrics_12(gradients.unbind(-1), x - origin[..., 0], y - origin[..., 1])
    return torch.stack([1 - l1 - l2, l1, l2], dim=-1)


def _barycentric_gradients(corners: Tensor) -> tuple[Tensor, Tensor]:
    """First corner (..., 2) and d(l1, l2)/d(x, y) as (..., 4) for triangles (..., 3, 2).

    Barycentrics are evaluated relative to the first corner so that float32 keeps its precision
    far from the image origin.
    """
    origin = corners[..., 0, :]
    edge1 = corners[..., 1, :] - origin
    edge2 = corners[..., 2, :] - origin
    gradients = torch.stack([edge2[..., 1], -edge2[..., 0], -edge1[..., 1], edge1[..., 0]], -1)
    return origin, gradients / signed_areas(corners)[..., None]


def _barycentrics_12(gradients: Sequence[Tensor], dx: Tensor, dy: Tensor) -> tuple[Tensor, Tensor]:
    """Barycentrics of the second and third corners at offsets (dx, dy) from the first."""
    l1_x, l1_y, l2_x, l2_y = gradients
    return l1_x * dx + l1_y * dy, l2_x * dx + l2_y * dy


def signed_areas(corners: Tensor) -> Tensor:
    """Twice the signed screen area (...) of triangles (..., 3, 2); negative = front-facing.

    Screen y points down, so a triangle that is counter-clockwise seen from outside in world
    space (y up) winds clockwise on screen.
    """
    edge1 = corners[..., 1, :] - corners[..., 0, :]
    edge2 = corners[..., 2, :] - corners[..., 0, :]
    return edge1[..., 0] * edge2[..., 1] - edge1[..., 1] * edge2[..., 0]


def rasterize(clip: Tensor, faces: Tensor, height: int, width: int,
              cull_backfaces: bool = True) -> Fragments:
    """Rasterize triangles `faces` (F, 3) of clip-space vertices (B, V, 4) into B images.

    Triangles with a vertex at or behind the camera plane (w <= 0) are dropped, not clipped.
    With `cull_backfaces`, only front-facing triangles can be seen, which halves the work on a
    closed mesh; otherwise back faces are visible too (e.g. through the neck opening).
    """
    if clip.ndim != 3 or clip.shape[-1] != 4:
        raise ValueError(f"clip vertices must be (B, V, 4), got {tuple(clip.shape)}")
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"faces must be (F, 3), got {tuple(faces.shape)}")
    faces = faces.long()
    screen = to_screen(clip, height, width)
    w = clip[..., 3]
    triangle_id, depth, front_facing = _nearest_triangles(
        screen.detach(), w.detach(), faces, height, width, cull_backfaces)

    pixels = torch.nonzero(triangle_id.reshape(-1) >= 0).squeeze(1)
    face = triangle_id.reshape(-1)[pixels]
    view, x, y = pixel_centres(pixels, height, width, screen.dtype)
    corner_ids = view[:, None] * clip.shape[1] + faces[face]  # rows of (B * V)-long tables
    screen_bary = screen_barycentrics(gather_rows(screen.reshape(-1, 2), corner_ids), x, y)
    # Screen-space barycentrics interpolate 1/w linearly; dividing by w makes them perspective
    # correct.
    weighted = screen_bary / gather_rows(w.reshape(-1), corner_ids)
    barycentrics = weighted / weighted.sum(-1, keepdim=True)
    return Fragments(triangle_id, depth, pixels, view, face, barycentrics, screen, front_facing)


def gather_rows(table: Tensor, index: Tensor) -> Tensor:
    """`table[index]` for an index of any shape, through index_select.

    On CPU the backward of advanced indexing accumulates with atomic adds in an order that
    changes from run to run; index_select's backward does not, so a seed gives the same
    gradients every time.
    """
    return table.index_select(0, index.reshape(-1)).view(*index.shape, *table.shape[1:])


def pixel_centres(pixels: Tensor, height: int, width: int,
                  dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor]:
    """Flat pixel indices to (view index, centre x, centre y)."""
    view = pixels // (height * width)
    rest = pixels % (height * width)
    return view, (rest % width).to(dtype) + 0.5, (rest // width).to(dtype) + 0.5


@torch.no_grad()
def _nearest_triangles(screen: Tensor, w: Tensor, faces: Tensor, height: int, width: int,
                       cull_backfaces: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Triangle id and depth of the nearest triangle at every pixel centre, plus facing."""
    n_views = screen.shape[0]
    corners = screen[:, faces]  # (B, F, 3, 2)
    corner_w = w[:, faces]  # (B, F, 3)
    area = signed_areas(corners)
    front_facing = area < 0
    keep = (corner_w > 0).all(-1) & (area != 0)
    if cull_backfaces:
        keep &= front_facing

    # Pixel-centre bounding boxes; coordinates are clamped first so that far-away vertices
    # cannot overflow the integer conversion.
    low = (corners.amin(2).clamp(-1, max(height, width) + 1) - 0.5).ceil().long()
    high = (corners.amax(2).clamp(-1, max(height, width) + 1) - 0.5).floor().long()
    low = low.clamp(min=0)
    high = torch.minimum(high, torch.tensor([width - 1, height - 1], device=screen.device))
    size = (high - low + 1).clamp(min=0)
    count = size[..., 0] * size[..., 1] * keep

    # One row per (view, face) with pixels to test; rows are gathered per candidate pixel with
    # index_select, the fast gather on CPU.
    view, face = torch.nonzero(count).unbind(1)
    count = count[view, face]
    origin, gradients = _barycentric_gradients(corners[view, face])
    inverse_w = 1.0 / corner_w[view, face]
    floats = torch.cat([origin, gradients, inverse_w[:, :1], inverse_w[:, 1:] - inverse_w[:, :1]],
                       dim=1)
    start = torch.cumsum(count, 0) - count
    ints = torch.stack([*low[view, face].unbind(-1), size[view, face, 0], start, face,
                        view * (height * width)], dim=1)
    owner = torch.repeat_interleave(torch.arange(len(count), device=screen.device), count)
    x0, y0, *gradients, w0, w1, w2 = floats.index_select(0, owner).unbind(1)
    low_x, low_y, box_width, start, face, base = ints.index_select(0, owner).unbind(1)
    local = torch.arange(len(owner), device=screen.device) - start
    x = low_x + local % box_width
    y = low_y + local // box_width

    l1, l2 = _barycentrics_12(gradients, x.to(screen.dtype) + 0.5 - x0,
                              y.to(screen.dtype) + 0.5 - y0)
    inside = ((l1 >= -_INSIDE_TOLERANCE) & (l2 >= -_INSIDE_TOLERANCE)
              & (l1 + l2 <= 1 + _INSIDE_TOLERANCE))
    # Screen barycentrics interpolate 1/w linearly; positive float32 bit patterns sort like the
    # floats, so the per-pixel minimum of (depth bits << 32 | face) is the nearest triangle.
    depth = 1.0 / (w0 + l1 * w1 + l2 * w2)
    key = (depth.float().view(torch.int32).long() << 32) | face
    key = torch.where(inside, key, _NO_HIT)
    pixel = base + y * width + x

    best = torch.full((n_views * height * width,), _NO_HIT, dtype=torch.int64, device=screen.device)
    best.scatter_reduce_(0, pixel, key, reduce="amin")
    hit = best != _NO_HIT
    triangle_id = torch.where(hit, best & 0xFFFFFFFF, -1)
    best_depth = (best >> 32).int().view(torch.float32).to(screen.dtype)
    best_depth = torch.where(hit, best_depth, torch.inf)
    shape = (n_views, height, width)
    return triangle_id.view(shape), best_depth.view(shape), front_facing
