"""Differentiable attribute interpolation, texture sampling and lighting of covered pixels.

Everything here works on the packed list of covered pixels of `Fragments` (N rows) rather than on
full images, so the cost follows the head's screen area, not the resolution.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn.functional import grid_sample, normalize

from .lights import Lights, sh_irradiance, world_directions
from .rasterize import Fragments, gather_rows

# Skin: light wraps past the terminator per channel (red scatters furthest under the skin),
# lerp(max(N.l, 0), (N.l + 1) / 2, wrap), two thirds of three.js' skin shader's wrap.
SKIN_WRAP = (0.5, 0.25, 0.125)
# Two specular lobes (Unreal's dual specular: roughness 0.75 R and 1.3 R, mixed 0.85 / 0.15)
# for a skin roughness R = 0.6 (pores break up the highlight at these sizes), as Blinn-Phong
# exponents 2 / alpha^2 - 2 with alpha = r^2; Fresnel reflectance at normal incidence of skin
# (index 1.4).
SKIN_LOBES = ((46.8, 0.85), (3.4, 0.15))
SKIN_F0 = 0.028
# Direct diffuse light is occluded only partly (occlusion maps hold where ambient light is
# blocked; direct light is blocked by shadows, which this renderer does not cast).
DIRECT_OCCLUSION = 0.3
# Kajiya-Kay hair: a near-white primary highlight shifted toward the tips, a broader, weaker
# secondary one tinted by the hair and shifted toward the roots (Scheuermann 2004): exponents
# of sin(T, h), weights, and tangent shifts along the normal.
HAIR_SHININESS = 80.0
HAIR_PRIMARY = 0.10
_SECONDARY_SHININESS = 20.0
_SECONDARY_WEIGHT = 0.25
_PRIMARY_SHIFT, _SECONDARY_SHIFT = -0.1, 0.2
# Hair lit from the side facing away from a light is dimmed only gradually: the strands scatter
# light around the head. N.l is wrapped by this much before clamping.
_HAIR_WRAP = 0.5

def batch_rows(view: Tensor, batch_size: int) -> Tensor:
    """Index into a batch of 1 (shared by every view) or of one entry per view."""
    return view if batch_size > 1 else torch.zeros_like(view)


def interpolate(values: Tensor, fragments: Fragments, faces: Tensor,
                pixels: Tensor | None = None) -> Tensor:
    """Per-vertex attributes (1 or B, V, C) at the covered pixels (N, C), or at the subset
    `pixels` (M,) of their rows only, for attributes that only some faces use."""
    n_values, n_vertices, channels = values.shape
    view, face, barycentrics = fragments.view, fragments.face, fragments.barycentrics
    if pixels is not None:
        view, face, barycentrics = (gather_rows(t, pixels) for t in (view, face, barycentrics))
    rows = batch_rows(view, n_values)[:, None] * n_vertices + gather_rows(faces, face)
    return _weighted_corners(barycentrics, gather_rows(values.reshape(-1, channels), rows))


def interpolate_corners(corner_values: Tensor, fragments: Fragments) -> Tensor:
    """Per-face-corner attributes (F, 3, C), such as UVs, at the covered pixels (N, C).

    Corner values keep UV islands apart: a pixel only ever mixes its own face's corners, so no
    interpolation runs across a seam.
    """
    return _weighted_corners(fragments.barycentrics, gather_rows(corner_values, fragments.face))


def _weighted_corners(barycentrics: Tensor, corner_values: Tensor) -> Tensor:
    """sum_k barycentrics[:, k] * corner_values[:, k] for (N, 3) and (N, 3, C)."""
    return _WeightedCorners.apply(barycentrics, corner_values)


class _WeightedCorners(torch.autograd.Function):
    """The barycentric blend with a backward of two whole-tensor products.

    The forward is written out (a sum over the short corner axis is a slow strided reduction);
    autograd's backward of that sum of products costs three strided reductions, six products
    and a stack per blend, and a frame has several blends of 10^5 rows; here it is one batched
    product of (3, C) by (C, 1) and one outer product."""

    @staticmethod
    def forward(ctx, barycentrics: Tensor, corner_values: Tensor) -> Tensor:
        ctx.save_for_backward(barycentrics, corner_values)
        b0, b1, b2 = barycentrics.unbind(1)
        c0, c1, c2 = corner_values.unbind(1)
        return b0[:, None] * c0 + b1[:, None] * c1 + b2[:, None] * c2

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None]:
        barycentrics, corner_values = ctx.saved_tensors
        grad_barycentrics = grad_corners = None
        if ctx.needs_input_grad[0]:
            grad_barycentrics = (corner_values @ grad[:, :, None])[..., 0]
        if ctx.needs_input_grad[1]:
            grad_corners = barycentrics[:, :, None] * grad[:, None]
        return grad_barycentrics, grad_corners


def sample_texture(texture: Tensor, view: Tensor, uv: Tensor) -> Tensor:
    """Bilinear lookup (N, C) in textures (1 or B, C, Ht, Wt) at OBJ-convention UVs (N, 2).

    v points up while texture row 0 is the top, hence the flip. Lookups clamp to the texture's
    edge texels; colour bleeding at UV-island borders is prevented by padding the texture around
    its islands, which is the texture author's job. One grid_sample call per texture: its
    fused kernel costs several times less than gathering the four texels of every lookup.
    """
    if len(texture) == 1:
        return _grid_sample(texture, uv)
    samples = uv.new_zeros(len(uv), texture.shape[1])
    for index in range(len(texture)):
        rows = torch.nonzero(view == index).squeeze(1)
        if len(rows):
            samples = samples.index_put((rows,), _grid_sample(texture[index:index + 1],
                                                              uv.index_select(0, rows)))
    return samples


def _grid_sample(texture: Tensor, uv: Tensor) -> Tensor:
    """Bilinear samples (N, C) of one texture (1, C, Ht, Wt) at UVs (N, 2), edges clamped."""
    # (2u - 1, 1 - 2v) in one product and sum: no per-column slices to undo in the backward.
    grid = (uv * uv.new_tensor([2.0, -2.0]) + uv.new_tensor([-1.0, 1.0]))[None, None]
    samples = grid_sample(texture, grid, mode="bilinear", padding_mode="border",
                          align_corners=False)
    return samples[0, :, 0].T


def shade(albedo: Tensor, normal: Tensor, position: Tensor, view: Tensor, eye: Tensor,
          camera_rotation: Tensor, lights: Lights, occlusion: Tensor | None = None,
          gloss: Tensor | None = None) -> Tensor:
    """Linear radiance (N, 3) of skin-like pixels: wrapped diffuse, SH ambient, two lobes.

    albedo (linear), normal (unit) and world position are (N, 3); view (N,) picks each pixel's
    camera eye (B, 3), world-to-view rotation (B, 3, 3) and light set; occlusion (N, 1) in
    [0, 1] dims ambient light fully, specular light squared and direct light partly; gloss
    (N, 1) scales the specular light (an oily T-zone, moist lips).
    """
    to_light, color, ambient, to_eye = _light_rows(normal, position, view, eye,
                                                   camera_rotation, lights)
    open_ = torch.ones_like(albedo[:, :1]) if occlusion is None else occlusion
    cosine = to_light @ normal[..., None]  # (N, L, 1)
    lit = cosine.clamp(min=0)
    wrap = albedo.new_tensor(SKIN_WRAP)
    direct = ((lit + wrap * (0.5 * cosine + 0.5 - lit)) * color).sum(1)
    diffuse = ambient * open_ + direct * (1 - DIRECT_OCCLUSION * (1 - open_))
    halfway = normalize(to_light + to_eye[:, None], dim=-1)
    facing = (halfway @ normal[..., None]).clamp(min=0)
    lobes = sum(weight * (power + 8) / 8 * facing ** power for power, weight in SKIN_LOBES)
    grazing = (1 - (halfway @ to_eye[..., None]).clamp(0, 1)) ** 5
    fresnel = SKIN_F0 + (1 - SKIN_F0) * grazing
    specular = (fresnel * lobes * lit * color).sum(1)
    scale = gather_rows(lights.specular, batch_rows(view, len(lights)))[:, None]
    if gloss is not None:
        scale = scale * gloss
    return albedo * diffuse + scale * specular * open_**2


def shade_hair(albedo: Tensor, normal: Tensor, tangent: Tensor, position: Tensor, view: Tensor,
               eye: Tensor, camera_rotation: Tensor, lights: Lights,
               occlusion: Tensor | None = None) -> Tensor:
    """Kajiya-Kay radiance (N, 3) of hair pixels, arguments as in `shade` plus strand
    directions (N, 3); see `hair_light`."""
    diffuse, specular = hair_light(normal, tangent, position, view, eye, camera_rotation,
                                   lights, occlusion)
    return albedo * diffuse + specular


def hair_light(normal: Tensor, tangent: Tensor, position: Tensor, view: Tensor, eye: Tensor,
               camera_rotation: Tensor, lights: Lights,
               occlusion: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The light hair reflects, as a factor of its albedo (N, 3) plus a highlight (N, 3).

    A strand is a thin cylinder, not a surface: it scatters light by its direction T (tangent,
    root to tip, need not be unit), so diffuse light goes with sin(T, l) and a highlight peaks
    where the halfway vector is perpendicular to the strand, sin(T, h) ** p: a band across the
    strands that moves with the light. Two such bands, from tangents tilted along the normal in
    opposite directions: a near-white narrow one and a broader one tinted by the hair (part of
    the factor). All terms fade on the side turned away from a light (wrapped N.l).
    """
    to_light, color, ambient, to_eye = _light_rows(normal, position, view, eye,
                                                   camera_rotation, lights)
    open_ = torch.ones_like(normal[:, :1]) if occlusion is None else occlusion
    halfway = normalize(to_light + to_eye[:, None], dim=-1)
    tangent = normalize(tangent, dim=-1)
    primary_tangent = normalize(tangent + _PRIMARY_SHIFT * normal, dim=-1)
    secondary_tangent = normalize(tangent + _SECONDARY_SHIFT * normal, dim=-1)
    facing = ((to_light @ normal[..., None] + _HAIR_WRAP) / (1 + _HAIR_WRAP)).clamp(min=0)
    lit = color * facing  # (N, L, 3)
    diffuse = ambient * open_ + (lit * _sine(to_light, tangent)).sum(1)
    primary = (lit * _sine(halfway, primary_tangent) ** HAIR_SHININESS).sum(1)
    secondary = (lit * _sine(halfway, secondary_tangent) ** _SECONDARY_SHININESS).sum(1)
    scale = gather_rows(lights.specular, batch_rows(view, len(lights)))[:, None] * open_
    return diffuse + scale * _SECONDARY_WEIGHT * secondary, scale * HAIR_PRIMARY * primary


def _light_rows(normal: Tensor, position: Tensor, view: Tensor, eye: Tensor,
                camera_rotation: Tensor, lights: Lights) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per pixel: world directions to the lights (N, L, 3), their colours (N, L, 3), ambient
    irradiance / pi at the normal (N, 3) and the unit direction to the eye (N, 3)."""
    light = batch_rows(view, len(lights))
    to_light = gather_rows(world_directions(lights, camera_rotation), view)
    color = gather_rows(lights.colors, light)
    ambient = sh_irradiance(gather_rows(lights.ambient, light), normal)
    to_eye = normalize(gather_rows(eye, view) - position, dim=-1)
    return to_light, color, ambient, to_eye


def _sine(directions: Tensor, axis: Tensor) -> Tensor:
    """Sine (N, L, 1) of the angles between unit directions (N, L, 3) and unit axes (N, 3)."""
    cosine = directions @ axis[..., None]
    # Clamped away from 0, where the square root's derivative is infinite.
    return (1 - cosine**2).clamp(min=1e-12).sqrt()
