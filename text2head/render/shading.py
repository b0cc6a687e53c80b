"""Differentiable attribute interpolation, texture sampling and lighting of covered pixels.

Everything here works on the packed list of covered pixels of `Fragments` (N rows) rather than on
full images, so the cost follows the head's screen area, not the resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn.functional import normalize

from .rasterize import Cutout, Fragments, gather_rows

# Texels with a lower alpha are holes in cut-out faces.
ALPHA_CUTOFF = 0.5
# Kajiya-Kay hair: the primary highlight's exponent, and the second highlight (light that passed
# through the strand, hence tinted by it) relative to it: weaker, broader, and shifted toward the
# tips by tilting the tangent along the normal (Scheuermann 2004).
HAIR_SHININESS = 60.0
_SECONDARY_WEIGHT = 0.5
_SECONDARY_SHININESS_RATIO = 0.5
_SECONDARY_SHIFT = 0.25
# Hair lit from the side facing away from a light is dimmed only gradually: the strands scatter
# light around the head. N.l is wrapped by this much before clamping.
_HAIR_WRAP = 0.5


@dataclass(frozen=True)
class Lights:
    """Ambient light plus L directional lights and a soft specular term, one set per view.

    Directions point toward the lights in the camera frame (x right, y up, z toward the viewer),
    so a light rig keeps lighting the visible side of the head whichever way the camera orbits.
    """

    directions: Tensor  # (B, L, 3); need not be unit length
    intensities: Tensor  # (B, L)
    ambient: Tensor  # (B,)
    specular: Tensor  # (B,) weight of the Blinn-Phong highlight
    shininess: float = 16.0

    def __len__(self) -> int:
        return len(self.directions)

    def to(self, device: torch.device | str | None = None,
           dtype: torch.dtype | None = None) -> Lights:
        return Lights(self.directions.to(device, dtype), self.intensities.to(device, dtype),
                      self.ambient.to(device, dtype), self.specular.to(device, dtype),
                      self.shininess)

    @classmethod
    def default(cls, n: int = 1, device: torch.device | str | None = None,
                dtype: torch.dtype = torch.float32) -> Lights:
        """A key light above and right of the camera plus a weak fill from the left."""
        directions = torch.tensor([[0.4, 0.5, 1.0], [-1.0, 0.0, 0.6]], device=device, dtype=dtype)
        intensities = torch.tensor([0.6, 0.2], device=device, dtype=dtype)
        return cls(directions.expand(n, 2, 3), intensities.expand(n, 2),
                   torch.full((n,), 0.3, device=device, dtype=dtype),
                   torch.full((n,), 0.1, device=device, dtype=dtype))

    @classmethod
    def random(cls, generator: torch.Generator, n: int,
               device: torch.device | str | None = None) -> Lights:
        """Random key and fill lights from the camera's side, so CLIP cannot rely on one rig."""

        def uniform(low: float, high: float, *shape: int) -> Tensor:
            return low + (high - low) * torch.rand(*shape, generator=generator)

        azimuth = torch.deg2rad(uniform(-60, 60, n, 2))
        elevation = torch.deg2rad(uniform(-15, 60, n, 2))
        directions = torch.stack([torch.cos(elevation) * torch.sin(azimuth), torch.sin(elevation),
                                  torch.cos(elevation) * torch.cos(azimuth)], dim=-1)
        intensities = torch.stack([uniform(0.4, 0.8, n), uniform(0.0, 0.3, n)], dim=-1)
        lights = cls(directions, intensities, uniform(0.2, 0.45, n), uniform(0.0, 0.2, n))
        return lights.to(device)


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
        view, face, barycentrics = view[pixels], face[pixels], barycentrics[pixels]
    rows = batch_rows(view, n_values)[:, None] * n_vertices + faces[face]
    return _weighted_corners(barycentrics, gather_rows(values.reshape(-1, channels), rows))


def interpolate_corners(corner_values: Tensor, fragments: Fragments) -> Tensor:
    """Per-face-corner attributes (F, 3, C), such as UVs, at the covered pixels (N, C).

    Corner values keep UV islands apart: a pixel only ever mixes its own face's corners, so no
    interpolation runs across a seam.
    """
    return _weighted_corners(fragments.barycentrics, gather_rows(corner_values, fragments.face))


def _weighted_corners(barycentrics: Tensor, corner_values: Tensor) -> Tensor:
    """sum_k barycentrics[:, k] * corner_values[:, k] for (N, 3) and (N, 3, C), written out: a
    sum over the short corner axis is a slow strided reduction (the result is the same)."""
    b0, b1, b2 = barycentrics.unbind(1)
    c0, c1, c2 = corner_values.unbind(1)
    return b0[:, None] * c0 + b1[:, None] * c1 + b2[:, None] * c2


def sample_texture(texture: Tensor, view: Tensor, uv: Tensor) -> Tensor:
    """Bilinear lookup (N, C) in textures (1 or B, C, Ht, Wt) at OBJ-convention UVs (N, 2).

    v points up while texture row 0 is the top, hence the flip. Lookups clamp to the texture's
    edge texels; colour bleeding at UV-island borders is prevented by padding the texture around
    its islands, which is the texture author's job.
    """
    _, channels, height, width = texture.shape
    x = uv[:, 0] * width - 0.5
    y = (1 - uv[:, 1]) * height - 0.5
    x0, y0 = x.detach().floor(), y.detach().floor()
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    xs = [x0.long().clamp(0, width - 1), (x0.long() + 1).clamp(0, width - 1)]
    ys = [y0.long().clamp(0, height - 1), (y0.long() + 1).clamp(0, height - 1)]
    texels = texture.permute(0, 2, 3, 1).reshape(-1, channels)
    base = batch_rows(view, len(texture)) * (height * width)

    def texel(ix: Tensor, iy: Tensor) -> Tensor:
        return gather_rows(texels, base + iy * width + ix)

    top = texel(xs[0], ys[0]) * (1 - fx) + texel(xs[1], ys[0]) * fx
    bottom = texel(xs[0], ys[1]) * (1 - fx) + texel(xs[1], ys[1]) * fx
    return top * (1 - fy) + bottom * fy


def texture_cutout(faces: Tensor, alpha: Tensor, corner_uvs: Tensor) -> Cutout:
    """Cut-out of the (F,) bool `faces` where the alpha texture (1 or B, Ht, Wt) at the corner
    UVs (F, 3, 2) is below ALPHA_CUTOFF.

    The test reads the nearest texel, not a bilinear blend: visibility is a yes/no decision
    anyway, and one lookup per candidate pixel keeps the hair's many candidates cheap. Cut
    edges therefore follow texel borders.
    """
    n_textures, height, width = alpha.shape
    opaque_texels = (alpha >= ALPHA_CUTOFF).reshape(-1)
    corner_uvs = corner_uvs.detach()
    # uv = uv0 + b1 (uv1 - uv0) + b2 (uv2 - uv0), as contiguous per-face columns.
    u0, du1, du2, v0, dv1, dv2 = torch.stack(
        [corner_uvs[:, 0], corner_uvs[:, 1] - corner_uvs[:, 0],
         corner_uvs[:, 2] - corner_uvs[:, 0]], dim=1).permute(2, 1, 0).reshape(6, -1)

    def opaque(view: Tensor, face: Tensor, b1: Tensor, b2: Tensor) -> Tensor:
        def at(column: Tensor) -> Tensor:
            return gather_rows(column.to(b1), face)

        u = at(u0) + b1 * at(du1) + b2 * at(du2)
        v = at(v0) + b1 * at(dv1) + b2 * at(dv2)
        # Non-negative floats truncate to their floor; the clamps also catch huge values.
        x = (u * width).clamp(0, width - 1).long()
        y = ((1 - v) * height).clamp(0, height - 1).long()
        texel = batch_rows(view, n_textures) * (height * width) + y * width + x
        return gather_rows(opaque_texels, texel)

    return Cutout(faces, opaque)


def shade(albedo: Tensor, normal: Tensor, position: Tensor, view: Tensor, eye: Tensor,
          camera_rotation: Tensor, lights: Lights) -> Tensor:
    """Lambert plus Blinn-Phong colour (N, 3) of covered pixels.

    albedo, normal (unit) and world position are (N, 3); view (N,) picks each pixel's camera eye
    (B, 3), world-to-view rotation (B, 3, 3) and light set.
    """
    light = batch_rows(view, len(lights))
    to_light = normalize(lights.directions, dim=-1) @ camera_rotation  # camera frame -> world
    to_light = gather_rows(to_light, view)  # (N, L, 3)
    intensity = gather_rows(lights.intensities, light)[..., None]  # (N, L, 1)
    to_eye = normalize(gather_rows(eye, view) - position, dim=-1)
    lambert = (to_light @ normal[..., None]).clamp(min=0)  # (N, L, 1)
    halfway = normalize(to_light + to_eye[:, None], dim=-1)
    highlight = (halfway @ normal[..., None]).clamp(min=0) ** lights.shininess
    diffuse = gather_rows(lights.ambient, light)[:, None] + (intensity * lambert).sum(1)
    specular = gather_rows(lights.specular, light)[:, None] * (intensity * highlight).sum(1)
    return albedo * diffuse + specular


def shade_hair(albedo: Tensor, normal: Tensor, tangent: Tensor, position: Tensor, view: Tensor,
               eye: Tensor, camera_rotation: Tensor, lights: Lights,
               shininess: float = HAIR_SHININESS) -> Tensor:
    """Kajiya-Kay colour (N, 3) of hair pixels, arguments as in `shade` plus strand directions.

    A strand is a thin cylinder, not a surface: it scatters light by its direction T (tangent,
    (N, 3), root to tip, need not be unit), so diffuse light goes with sin(T, l) and the
    highlight peaks where the halfway vector is perpendicular to the strand, sin(T, h) ** p:
    a band across the strands that moves with the light. A second, weaker and broader
    highlight tinted by the albedo sits toward the tips. The lights' specular weight scales
    the highlights. All terms fade on the side turned away from a light (wrapped N.l).
    """
    light = batch_rows(view, len(lights))
    to_light = normalize(lights.directions, dim=-1) @ camera_rotation  # camera frame -> world
    to_light = gather_rows(to_light, view)  # (N, L, 3)
    intensity = gather_rows(lights.intensities, light)[..., None]  # (N, L, 1)
    to_eye = normalize(gather_rows(eye, view) - position, dim=-1)
    halfway = normalize(to_light + to_eye[:, None], dim=-1)
    tangent = normalize(tangent, dim=-1)
    shifted = normalize(tangent + _SECONDARY_SHIFT * normal, dim=-1)
    facing = ((to_light @ normal[..., None] + _HAIR_WRAP) / (1 + _HAIR_WRAP)).clamp(min=0)
    lit = intensity * facing  # (N, L, 1)
    diffuse = (gather_rows(lights.ambient, light)[:, None]
               + (lit * _sine(to_light, tangent)).sum(1))
    primary = (lit * _sine(halfway, tangent) ** shininess).sum(1)
    secondary = (lit * _sine(halfway, shifted) ** (shininess * _SECONDARY_SHININESS_RATIO)).sum(1)
    specular = gather_rows(lights.specular, light)[:, None]
    return albedo * (diffuse + specular * _SECONDARY_WEIGHT * secondary) + specular * primary


def _sine(directions: Tensor, axis: Tensor) -> Tensor:
    """Sine (N, L, 1) of the angles between unit directions (N, L, 3) and unit axes (N, 3)."""
    cosine = directions @ axis[..., None]
    # Clamped away from 0, where the square root's derivative is infinite.
    return (1 - cosine**2).clamp(min=1e-12).sqrt()
