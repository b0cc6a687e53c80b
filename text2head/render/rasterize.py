"""Exact z-buffer rasterization with differentiable perspective-correct barycentrics.

Which triangle is nearest at a pixel centre is a discrete decision, so it is made without autograd
in one vectorised pass (candidate pixel/triangle pairs from the span each triangle covers on each
pixel row, edge-function inside test, per-pixel minimum of a packed depth|triangle key). The
barycentrics of the covered pixels are then recomputed from the projected vertices under autograd,
which is cheap and lets gradients reach vertex positions. Contour gradients come from
`silhouettes.antialias`.

Layered faces (cards textured with strands: hair, brows, lashes, beard shells) are left out of
the z-buffer: `rasterize_layers` returns every pixel they cover in front of the nearest opaque
surface, sorted front to back, for compositing by their coverage (see `layers`).

Screen space: x to the right and y down in pixels, pixel (x, y) has its centre at (x + .5, y + .5).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import torch
from torch import Tensor

# Pixel centres this close outside a triangle still count as inside, so that rounding can never
# open a crack between two triangles that share an edge (the depth test picks one of them).
_INSIDE_TOLERANCE = 1e-6
_NO_HIT = torch.iinfo(torch.int64).max
# Row spans are widened by this much relative rounding slack (barycentric units, and pixels), far
# more than float32 rounding, so that they hold every pixel centre the inside test accepts.
_SPAN_SLACK = 1e-4
# Layer hits in one pixel closer than this (relative) are one surface seen twice.
_SAME_DEPTH = 1e-6
# Pushes a span bound out of any image (in pixels) while staying finite in float32.
_FAR = 1e30


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
    w: Tensor  # (B, V) detached clip-space w of the vertices, their distance along the view axis

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
    origin, gradients = barycentric_gradients(corners)
    l1, l2 = barycentrics_12(gradients.unbind(-1), x - origin[..., 0], y - origin[..., 1])
    return torch.stack([1 - l1 - l2, l1, l2], dim=-1)


def barycentric_gradients(corners: Tensor) -> tuple[Tensor, Tensor]:
    """First corner (..., 2) and d(l1, l2)/d(x, y) as (..., 4) for triangles (..., 3, 2).

    Barycentrics are evaluated relative to the first corner so that float32 keeps its precision
    far from the image origin.
    """
    origin = corners[..., 0, :]
    edge1 = corners[..., 1, :] - origin
    edge2 = corners[..., 2, :] - origin
    gradients = torch.stack([edge2[..., 1], -edge2[..., 0], -edge1[..., 1], edge1[..., 0]], -1)
    return origin, gradients / signed_areas(corners)[..., None]


def barycentrics_12(gradients: Sequence[Tensor], dx: Tensor, dy: Tensor) -> tuple[Tensor, Tensor]:
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
              cull_backfaces: bool = True, *, double_sided: Tensor | None = None,
              hidden: Tensor | None = None) -> Fragments:
    """Rasterize triangles `faces` (F, 3) of clip-space vertices (B, V, 4) into B images.

    Triangles with a vertex at or behind the camera plane (w <= 0) are dropped, not clipped.
    With `cull_backfaces`, only front-facing triangles can be seen, which halves the work on a
    closed mesh; otherwise back faces are visible too (e.g. through the neck opening). Faces in
    the (F,) bool mask `double_sided` are never culled; faces in `hidden` are not drawn (layered
    faces, see `rasterize_layers`).
    """
    _check_inputs(clip, faces, double_sided=double_sided, hidden=hidden)
    faces = faces.long()
    screen = to_screen(clip, height, width)
    w = clip[..., 3]
    corners = _corners(screen.detach(), w.detach(), faces)
    keep, front_facing = _drawn(*corners, cull_backfaces, double_sided)
    if hidden is not None:
        keep &= ~hidden
    candidates = _candidates(*corners, height, width, keep)
    triangle_id, depth = _nearest(candidates, len(clip), height, width)

    pixels = torch.nonzero(triangle_id.reshape(-1) >= 0).squeeze(1)
    face = triangle_id.reshape(-1)[pixels]
    view, x, y = pixel_centres(pixels, height, width, screen.dtype)
    barycentrics = perspective_barycentrics(screen, w, faces, view, face, x, y)
    return Fragments(triangle_id, depth, pixels, view, face, barycentrics, screen, front_facing,
                     w.detach())


@dataclass(frozen=True)
class Layers:
    """Every pixel that layered faces cover in front of the opaque surface, M rows sorted by
    pixel and, within a pixel, front to back (at most `max_layers` per pixel)."""

    pixels: Tensor  # (M,) flat pixel indices, ascending
    view: Tensor  # (M,)
    face: Tensor  # (M,)
    barycentrics: Tensor  # (M, 3) perspective-correct, differentiable
    first: Tensor  # (M,) bool: the nearest layer of its pixel

    def select(self, rows: Tensor) -> Layers:
        """The layers at `rows` (ascending), keeping which is the first of each pixel."""
        kept = Layers(*(getattr(self, f.name).index_select(0, rows) for f in fields(self)))
        return Layers(kept.pixels, kept.view, kept.face, kept.barycentrics,
                      _segment_starts(kept.pixels))


def rasterize_layers(fragments: Fragments, clip: Tensor, faces: Tensor, layered: Tensor,
                     max_layers: int = 8) -> Layers:
    """The pixels of `layered` faces (F,) bool (seen from both sides) nearer than the opaque
    surface of `fragments` (from `rasterize` with `hidden=layered`), front to back per pixel;
    behind the `max_layers` nearest, what little light still gets through is ignored."""
    _check_inputs(clip, faces, layered=layered)
    faces = faces.long()
    height, width = fragments.triangle_id.shape[1:]
    screen, w = fragments.screen, clip[..., 3]
    ids = torch.nonzero(layered).squeeze(1)
    corners = _corners(screen.detach(), w.detach(), faces.index_select(0, ids))
    keep, _ = _drawn(*corners, False, None)
    view, face, x, y, _, _, depth = _candidates(*corners, height, width, keep)
    pixel = view * (height * width) + y.long() * width + x.long()
    rows = torch.nonzero(depth < fragments.depth.reshape(-1).index_select(0, pixel)).squeeze(1)
    pixel, face, depth = (t.index_select(0, rows) for t in (pixel, face, depth))
    # Positive float32 bit patterns sort like the floats: one sort of pixel << 32 | depth bits
    # orders by pixel, then front to back, and both come back out of the sorted keys.
    key, order = torch.sort((pixel << 32) | depth.float().view(torch.int32).long(), stable=True)
    sorted_pixel = key >> 32
    sorted_depth = (key & 0xFFFFFFFF).int().view(torch.float32)
    # A pixel centre on an edge passes the inside test of both triangles sharing it (the
    # tolerance closes cracks): a card would be composited twice there. Both hits lie at the
    # same depth, so a hit at the depth of the one before it in its pixel is dropped.
    repeat = torch.zeros_like(sorted_pixel, dtype=torch.bool)
    repeat[1:] = ((sorted_pixel[1:] == sorted_pixel[:-1])
                  & (sorted_depth[1:] - sorted_depth[:-1] <= _SAME_DEPTH * sorted_depth[1:]))
    kept = torch.nonzero(~repeat).squeeze(1)
    kept = kept.index_select(0, torch.nonzero(
        _rank_in_segment(sorted_pixel.index_select(0, kept)) < max_layers).squeeze(1))
    pixel = sorted_pixel.index_select(0, kept)
    face = gather_rows(ids, face.index_select(0, order.index_select(0, kept)))
    view, x, y = pixel_centres(pixel, height, width, screen.dtype)
    barycentrics = perspective_barycentrics(screen, w, faces, view, face, x, y)
    return Layers(pixel, view, face, barycentrics, _segment_starts(pixel))


def perspective_barycentrics(screen: Tensor, w: Tensor, faces: Tensor, view: Tensor,
                             face: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """Differentiable perspective-correct barycentrics (N, 3) at points (x, y) of faces seen
    from views, from screen positions (B, V, 2) and clip w (B, V).

    The plane equations are set up once per (view, face) present and only evaluated per point:
    a face covers several points (hair cards many), and the autograd graph of the setup is as
    small as the faces are few."""
    n_vertices, n_faces = screen.shape[1], len(faces)
    pair, slot = unique_rows(view * n_faces + face, len(screen) * n_faces)
    corner_ids = (pair // n_faces)[:, None] * n_vertices + faces[pair % n_faces]
    origin, gradients = barycentric_gradients(gather_rows(screen.reshape(-1, 2), corner_ids))
    table = torch.cat([origin, gradients, gather_rows(w.reshape(-1), corner_ids)], dim=1)
    ox, oy, *row_gradients, w0, w1, w2 = gather_rows(table, slot).unbind(1)
    l1, l2 = barycentrics_12(row_gradients, x - ox, y - oy)
    # Screen-space barycentrics interpolate 1/w linearly; dividing by w makes them perspective
    # correct.
    weighted = torch.stack([(1 - l1 - l2) / w0, l1 / w1, l2 / w2], dim=-1)
    return weighted / weighted.sum(-1, keepdim=True)


def unique_rows(keys: Tensor, n_keys: int) -> tuple[Tensor, Tensor]:
    """The distinct values (P,) ascending of keys (N,) in [0, n_keys), and where each key is
    among them (N,); a mask over the key range is cheaper than sorting."""
    present = torch.zeros(n_keys, dtype=torch.bool, device=keys.device)
    present[keys] = True
    distinct = torch.nonzero(present).squeeze(1)
    slot = torch.zeros(n_keys, dtype=torch.long, device=keys.device)
    slot[distinct] = torch.arange(len(distinct), device=keys.device)
    return distinct, gather_rows(slot, keys)


def _check_inputs(clip: Tensor, faces: Tensor, **masks: Tensor | None) -> None:
    """Raise ValueError naming the first malformed argument."""
    if clip.ndim != 3 or clip.shape[-1] != 4:
        raise ValueError(f"clip vertices must be (B, V, 4), got {tuple(clip.shape)}")
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"faces must be (F, 3), got {tuple(faces.shape)}")
    for name, mask in masks.items():
        if mask is not None and (mask.shape != (len(faces),) or mask.dtype != torch.bool):
            raise ValueError(f"{name} must be a ({len(faces)},) bool mask, got "
                             f"{mask.dtype} {tuple(mask.shape)}")


def _segment_starts(sorted_keys: Tensor) -> Tensor:
    """(M,) bool: where a run of equal values in a sorted tensor begins."""
    starts = torch.ones_like(sorted_keys, dtype=torch.bool)
    starts[1:] = sorted_keys[1:] != sorted_keys[:-1]
    return starts


def _rank_in_segment(sorted_keys: Tensor) -> Tensor:
    """0, 1, ... within each run of equal values of a sorted tensor."""
    index = torch.arange(len(sorted_keys), device=sorted_keys.device)
    start = torch.where(_segment_starts(sorted_keys), index, 0)
    return index - torch.cummax(start, 0).values


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


def _spread(counts: Tensor) -> Tensor:
    """Index i repeated counts[i] times: which entry each of the sum(counts) items belongs to."""
    return torch.repeat_interleave(torch.arange(len(counts), device=counts.device), counts)


def _offsets(counts: Tensor, owner: Tensor) -> Tensor:
    """0, 1, ..., counts[i] - 1 for the items of each entry i, given owner = _spread(counts)."""
    starts = torch.cumsum(counts, 0) - counts
    return torch.arange(len(owner), device=owner.device) - gather_rows(starts, owner)


def _span_bounds(x0: Tensor, y0: Tensor, gradients: Sequence[Tensor], low_y: Tensor,
                 high_y: Tensor, height: int) -> Tensor:
    """(9, R) coefficients of x = A + beta * y, y the pixel row, bounding the pixels x whose
    centres can pass the inside test of each of R triangles (first corner (x0, y0), barycentric
    gradients): A of three lower bounds, A of three upper bounds, then the three beta.

    The edge functions are linear in x along a row, so each of the constraints l1 >= 0,
    l2 >= 0, l1 + l2 <= 1 bounds x from the side its slope a says; the other side gets a bound
    pushed out of reach by adding -+_FAR (bool masks and torch.where are slow on CPU). A
    (near-)horizontal edge, |a| tiny, yields a bound far outside the box on its harmless side
    wherever its row lies inside the triangle. Bounds are relaxed by rounding slack, much more
    than float32 rounding, so that a span holds every pixel centre the exact test accepts; that
    test still decides.
    """
    l1_x, l1_y, l2_x, l2_y = gradients
    reach = torch.maximum((low_y + 0.5 - y0).abs(), (high_y + 0.5 - y0).abs())
    relax = _SPAN_SLACK * (2 + 2 * (l1_y.abs() + l2_y.abs()) * reach)
    lower, upper, betas = [], [], []
    # Constraint a * dx >= p + q * dy, (dx, dy) = pixel centre - (x0, y0).
    for a, p, q in ((l1_x, -_INSIDE_TOLERANCE, -l1_y), (l2_x, -_INSIDE_TOLERANCE, -l2_y),
                    (-(l1_x + l2_x), -1 - _INSIDE_TOLERANCE, l1_y + l2_y)):
        a = a.abs().clamp(min=1e-12).copysign(a)
        beta = q / a
        offset = x0 - 0.5 + (p - relax + q * (0.5 - y0)) / a
        slack = _SPAN_SLACK * (1 + x0.abs() + offset.abs() + beta.abs() * (y0.abs() + height + 1))
        side = a.sign()  # +1: a lower bound, -1: an upper one
        lower.append(offset - slack + (side - 1) * _FAR)
        upper.append(offset + slack + (side + 1) * _FAR)
        betas.append(beta)
    return torch.stack(lower + upper + betas)


def _corners(screen: Tensor, w: Tensor, faces: Tensor) -> tuple[Tensor, Tensor]:
    """Screen positions (B, F, 3, 2) and clip w (B, F, 3) of every face's corners."""
    n_views, n_faces = screen.shape[0], len(faces)
    return (screen.index_select(1, faces.reshape(-1)).view(n_views, n_faces, 3, 2),
            w.index_select(1, faces.reshape(-1)).view(n_views, n_faces, 3))


def _drawn(corners: Tensor, corner_w: Tensor, cull_backfaces: bool,
           double_sided: Tensor | None) -> tuple[Tensor, Tensor]:
    """(B, F) bool of the triangles that can be seen, and (B, F) bool front facing."""
    area = signed_areas(corners)
    front_facing = area < 0
    keep = (corner_w > 0).all(-1) & (area != 0)
    if cull_backfaces:
        keep &= front_facing if double_sided is None else front_facing | double_sided
    return keep, front_facing


@torch.no_grad()
def _candidates(corners: Tensor, corner_w: Tensor, height: int, width: int,
                keep: Tensor) -> tuple[Tensor, ...]:
    """Every (view, face, pixel) whose pixel centre lies inside a kept triangle (B, F) bool:
    view, face, pixel column x and row y (integer-valued floats), the screen barycentrics l1,
    l2 of the second and third corners, and the depth, as (K,) tensors."""
    n_faces = corner_w.shape[1]
    entries = torch.nonzero(keep.view(-1)).squeeze(1)
    view, face = entries // n_faces, entries % n_faces
    # Per-entry values as contiguous columns: fast arithmetic, and a 1-D index_select (the
    # fastest gather on CPU) spreads them over spans and candidates.
    xs, ys = gather_rows(corners.view(-1, 3, 2), entries).permute(2, 1, 0).contiguous()
    inverse_w = (1.0 / gather_rows(corner_w.view(-1, 3), entries)).T.contiguous()
    w0, w1, w2 = inverse_w[0], inverse_w[1] - inverse_w[0], inverse_w[2] - inverse_w[0]
    # The arithmetic of `barycentric_gradients`, bit for bit: which pixels pass the inside test
    # must not depend on how the candidates are enumerated.
    e1x, e1y, e2x, e2y = xs[1] - xs[0], ys[1] - ys[0], xs[2] - xs[0], ys[2] - ys[0]
    double_area = e1x * e2y - e1y * e2x
    gradients = (e2y / double_area, -e2x / double_area, -e1y / double_area, e1x / double_area)

    # Pixel-centre bounding boxes; coordinates are clamped first so that far-away vertices
    # cannot overflow the integer conversion.
    limit = max(height, width) + 1
    low_x, low_y = ((c.amin(0).clamp(-1, limit) - 0.5).ceil().clamp(min=0) for c in (xs, ys))
    high_x = (xs.amax(0).clamp(-1, limit) - 0.5).floor().clamp(max=width - 1)
    high_y = (ys.amax(0).clamp(-1, limit) - 0.5).floor().clamp(max=height - 1)
    n_rows = (high_y - low_y + 1).long().clamp(min=0) * (high_x >= low_x)
    bounds = _span_bounds(xs[0], ys[0], gradients, low_y, high_y, height)

    # One span per (triangle, pixel row): the pixels between its lower and upper bounds, within
    # the box. fmax and fmin skip NaN, so a bound that overflowed (a degenerate sliver) is no
    # bound.
    triangle = _spread(n_rows)
    row = gather_rows(low_y, triangle) + _offsets(n_rows, triangle)
    at_row = [gather_rows(bounds[k], triangle) + gather_rows(bounds[6 + k % 3], triangle) * row
              for k in range(6)]
    first = torch.fmax(torch.fmax(at_row[0], at_row[1]), at_row[2])
    last = torch.fmin(torch.fmin(at_row[3], at_row[4]), at_row[5])
    box_low, box_high = gather_rows(low_x, triangle), gather_rows(high_x, triangle)
    first = torch.fmin(torch.fmax(first, box_low), box_high + 1).ceil()
    last = torch.fmax(torch.fmin(last, box_high), box_low - 1).floor()
    length = (last - first + 1).long().clamp(min=0)
    span_x0 = gather_rows(xs[0], triangle)
    dy = row + 0.5 - gather_rows(ys[0], triangle)
    a1, a2 = gather_rows(gradients[0], triangle), gather_rows(gradients[2], triangle)
    c1, c2 = gather_rows(gradients[1], triangle) * dy, gather_rows(gradients[3], triangle) * dy

    # Candidates: the pixels of each span, with the inside test l1 = l1_x * dx + l1_y * dy, ...
    span = _spread(length)
    x = gather_rows(first, span) + _offsets(length, span)
    dx = x + 0.5 - gather_rows(span_x0, span)
    l1 = gather_rows(a1, span) * dx + gather_rows(c1, span)
    l2 = gather_rows(a2, span) * dx + gather_rows(c2, span)
    inside = ((l1 >= -_INSIDE_TOLERANCE) & (l2 >= -_INSIDE_TOLERANCE)
              & (l1 + l2 <= 1 + _INSIDE_TOLERANCE))

    # Only covered candidates go on.
    hits = torch.nonzero(inside).squeeze(1)
    span = span.index_select(0, hits)
    l1, l2, x = l1.index_select(0, hits), l2.index_select(0, hits), x.index_select(0, hits)
    y = gather_rows(row, span)
    owner = gather_rows(triangle, span)  # ascending
    w0, w1, w2 = gather_rows(w0, owner), gather_rows(w1, owner), gather_rows(w2, owner)
    depth = 1.0 / (w0 + l1 * w1 + l2 * w2)  # screen barycentrics interpolate 1/w linearly
    return gather_rows(view, owner), gather_rows(face, owner), x, y, l1, l2, depth


@torch.no_grad()
def _nearest(candidates: tuple[Tensor, ...], n_views: int, height: int,
             width: int) -> tuple[Tensor, Tensor]:
    """Triangle id (B, H, W) and depth (B, H, W) of the nearest candidate at every pixel."""
    view, face, x, y, _, _, depth = candidates
    # Positive float32 bit patterns sort like the floats, so the per-pixel minimum of
    # (depth bits << 32 | face) is the nearest triangle.
    key = (depth.float().view(torch.int32).long() << 32) | face
    pixel = view * (height * width) + y.long() * width + x.long()
    best = torch.full((n_views * height * width,), _NO_HIT, dtype=torch.int64,
                      device=depth.device)
    best.scatter_reduce_(0, pixel, key, reduce="amin")
    hit = best != _NO_HIT
    triangle_id = torch.where(hit, best & 0xFFFFFFFF, -1)
    best_depth = (best >> 32).int().view(torch.float32).to(depth.dtype)
    best_depth = torch.where(hit, best_depth, torch.inf)
    shape = (n_views, height, width)
    return triangle_id.view(shape), best_depth.view(shape)
