"""Soft cards: coverage that survives minification, composited front to back.

Strands on hair cards, brows and lashes are narrower than a pixel at preview and CLIP sizes; an
alpha test turns them into dots (speckled hair, dotted brows). Instead, each card texture's
coverage and coverage-weighted colour are box-filtered into a mip pyramid (a box filter keeps
the mean coverage at every level), every layer fragment reads it trilinearly at the level of
its face's screen footprint, and the fragments of a pixel are composited front to back over
the opaque image with exclusive transmittance: exact order, and differentiable in colour,
coverage and (through the texture coordinates) the card's vertices.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .rasterize import Fragments, Layers, barycentric_gradients, gather_rows, unique_rows
from .shading import interpolate_corners, sample_texture

# Coverage below this is invisible (1/256): such fragments are dropped before shading.
MIN_COVERAGE = 1.0 / 256
# Fragments behind layers that let less than this through (1/256) are dropped too: whatever
# they hold changes the pixel by under one 8-bit level.
MIN_TRANSMITTANCE = 1.0 / 256
# Coverage within this of 1 is 1.
_ROUNDING = 1e-5
# Mip levels stop where a square tile of the atlas would be smaller than this many texels.
_SMALLEST_TILE = 4


def coverage_pyramid(texture: Tensor) -> list[Tensor]:
    """Mip levels (1 or B, 4, H / 2^k, W / 2^k) of an RGBA texture, colour premultiplied by
    alpha, halved while the tiles (H x H squares side by side) stay >= 4 texels."""
    level = torch.cat([texture[:, :3] * texture[:, 3:], texture[:, 3:]], dim=1)
    levels = [level]
    while level.shape[-2] >= 2 * _SMALLEST_TILE and level.shape[-1] % 2 == 0:
        level = F.avg_pool2d(level, 2)
        levels.append(level)
    return levels


@torch.no_grad()
def texel_footprint(fragments: Fragments, faces: Tensor, corner_uvs: Tensor, view: Tensor,
                    face: Tensor, texture_size: tuple[int, int]) -> Tensor:
    """(M,) texels of a (H, W) texture one pixel spans on each (view, face), the larger of its
    extents along screen x and y (faces are taken as affine: a triangle is small on screen).

    The footprint belongs to the face, not the fragment: it is computed once per view for each
    face present (a few thousand) and gathered for the fragments (a few hundred thousand)."""
    height, width = texture_size
    n_views, n_faces = fragments.screen.shape[0], len(faces)
    ids, slot = unique_rows(face, n_faces)
    corners = fragments.screen.detach().index_select(1, faces[ids].reshape(-1))
    l1_x, l1_y, l2_x, l2_y = barycentric_gradients(
        corners.view(n_views, len(ids), 3, 2))[1].unbind(-1)  # (B, P) each
    uv = gather_rows(corner_uvs, ids)  # (P, 3, 2)
    texels = uv.new_tensor([width, height])
    du1, du2 = (uv[:, 1] - uv[:, 0]) * texels, (uv[:, 2] - uv[:, 0]) * texels
    along_x = du1 * l1_x[..., None] + du2 * l2_x[..., None]
    along_y = du1 * l1_y[..., None] + du2 * l2_y[..., None]
    per_face = torch.maximum(along_x.norm(dim=-1), along_y.norm(dim=-1)).reshape(-1)
    return gather_rows(per_face, view * len(ids) + slot)


def sample_coverage(pyramid: list[Tensor], view: Tensor, uv: Tensor,
                    footprint: Tensor) -> tuple[Tensor, Tensor]:
    """Trilinear lookup of colour (M, 3) and coverage (M,) at UVs (M, 2) whose pixels span
    `footprint` (M,) texels of level 0."""
    level = footprint.clamp(min=1).log2().clamp(max=len(pyramid) - 1)
    premultiplied = uv.new_zeros(len(uv), 4)
    for index, texture in enumerate(pyramid):
        weight = (1 - (level - index).abs()).clamp(min=0)
        rows = torch.nonzero(weight > 0).squeeze(1)
        if len(rows):
            samples = sample_texture(texture, view.index_select(0, rows),
                                     uv.index_select(0, rows))
            premultiplied = premultiplied.index_add(0, rows, weight[rows, None] * samples)
    alpha = premultiplied[:, 3]
    color = premultiplied[:, :3] / alpha.clamp(min=MIN_COVERAGE)[:, None]
    # Bilinear weights sum to 1 only up to rounding: an opaque texel must stay opaque.
    alpha = torch.where(alpha > 1 - _ROUNDING, torch.ones_like(alpha), alpha)
    return color.clamp(0, 1), alpha.clamp(0, 1)


def layer_coverage(layers: Layers, fragments: Fragments, faces: Tensor, corner_uvs: Tensor,
                   pyramid: list[Tensor]) -> tuple[Tensor, Tensor]:
    """Colour (M, 3) and coverage (M,) of every layer fragment from the card texture."""
    uv = interpolate_corners(corner_uvs, layers)
    footprint = texel_footprint(fragments, faces, corner_uvs, layers.view, layers.face,
                                tuple(pyramid[0].shape[-2:]))
    return sample_coverage(pyramid, layers.view, uv, footprint)


@torch.no_grad()
def visible(layers: Layers, alpha: Tensor) -> Tensor:
    """Rows (ascending) of the layer fragments that can change their pixel: coverage (M,) of
    at least `MIN_COVERAGE`, behind layers that let at least `MIN_TRANSMITTANCE` through.
    Dense hair hides most of its deeper layers; they need no shading or compositing."""
    seen = (alpha >= MIN_COVERAGE) & (transmittance(layers, alpha) >= MIN_TRANSMITTANCE)
    return torch.nonzero(seen).squeeze(1)


def transmittance(layers: Layers, alpha: Tensor) -> Tensor:
    """(M,) T_i = prod_{j < i} (1 - alpha_j) over the fragments in front of each in its pixel.

    The products are taken layer by layer (a handful of steps), so a pixel's result never
    depends on other pixels, or on how views are batched.
    """
    index = torch.arange(len(alpha), device=alpha.device)
    rank = index - torch.cummax(torch.where(layers.first, index, 0), 0).values
    clear = 1 - alpha
    through = torch.ones_like(alpha)
    for depth in range(1, int(rank.max()) + 1 if len(rank) else 1):
        rows = torch.nonzero(rank == depth).squeeze(1)
        ahead = rows - 1
        through = through.index_put((rows,), gather_rows(through, ahead)
                                    * gather_rows(clear, ahead))
    return through


def composite(image: Tensor, layers: Layers, color: Tensor, alpha: Tensor) -> Tensor:
    """Layer fragments (colour (M, 3), coverage (M,)) over an RGBA image (P, 4) of flat pixels.

    Each fragment is weighted by its coverage and its `transmittance`; what the last fragment
    of a pixel lets through sees the image.
    """
    ahead = transmittance(layers, alpha)
    weights = (alpha * ahead)[:, None]
    layered = image.new_zeros(len(image), 3).index_add(0, layers.pixels, weights * color)
    last = torch.nonzero(torch.cat([layers.first[1:], layers.first[:1]])).squeeze(1)
    through = image.new_ones(len(image)).index_put(
        (gather_rows(layers.pixels, last),),
        gather_rows(ahead, last) * gather_rows(1 - alpha, last))[:, None]
    rgb = layered + through * image[:, :3]
    return torch.cat([rgb, 1 - through * (1 - image[:, 3:])], dim=1)
