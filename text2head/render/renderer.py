"""One call from a textured mesh and a batch of cameras to differentiable RGB images."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..geometry import vertex_normals
from .cameras import Cameras
from .rasterize import Fragments, gather_rows, rasterize
from .shading import (
    Lights,
    interpolate,
    interpolate_corners,
    sample_texture,
    shade,
    shade_hair,
    texture_cutout,
)
from .silhouettes import antialias, face_neighbors

# Surface colour when neither a texture nor vertex colours are given (shape-only previews).
_PLAIN_ALBEDO = 0.7


@dataclass(frozen=True)
class RenderOutput:
    """Rendered views: rgb and alpha carry gradients, depth and triangle_id serve tests/previews."""

    rgb: Tensor  # (B, 3, H, W) in [0, 1]
    alpha: Tensor  # (B, 1, H, W) antialiased coverage in [0, 1]
    depth: Tensor  # (B, 1, H, W) distance along the view axis, 0 on background
    triangle_id: Tensor  # (B, H, W) int64 face index, -1 on background


def render(vertices: Tensor, faces: Tensor, cameras: Cameras, *,
           corner_uvs: Tensor | None = None, texture: Tensor | None = None,
           vertex_colors: Tensor | None = None, lights: Lights | None = None,
           background: Tensor | Sequence[float] | float = 1.0,
           resolution: int | tuple[int, int] = 224, cull_backfaces: bool = True,
           antialiased: bool = True, neighbors: Tensor | None = None,
           normals: Tensor | None = None, cutout_faces: Tensor | None = None,
           hair_faces: Tensor | None = None, tangents: Tensor | None = None) -> RenderOutput:
    """Render vertices (1 or B, V, 3) with faces (F, 3) from B cameras.

    Albedo is the texture (1 or B, 3 or 4, Ht, Wt; RGB, the fourth channel is for cut-outs)
    looked up at corner_uvs (F, 3, 2), times the vertex colours (1 or B, V, 3) when both are
    given; either alone is the albedo, and plain grey without both. Lights (1 or B sets) default
    to `Lights.default()`. `background` is a grey level, an RGB colour (3,) or (B, 3), or images
    (1 or B, 3, H, W). `antialiased` blends silhouette pixels, which is what gives contour
    vertices their gradients. `neighbors` (from `face_neighbors(faces)`) may be passed to skip
    recomputing the mesh topology on every call, and `normals` (like vertices) when the caller
    already has the vertex normals.

    Cards (hair, eyebrows, eyelashes: thin quads textured with strands) need two more things.
    The texture may carry alpha as a fourth channel; faces in the (F,) bool mask `cutout_faces`
    are holes where it is below 1/2, so what lies behind shows through (see `texture_cutout`;
    alpha only decides visibility, it is not blended and gets no gradient).
    Faces in the (F,) bool mask `hair_faces` are shaded as strands along `tangents`
    (1 or B, V, 3, root to tip), see `shade_hair`. Cut-out and hair faces are seen from both
    sides whatever `cull_backfaces` says, lit from the side the camera sees.
    """
    height, width = (resolution, resolution) if isinstance(resolution, int) else resolution
    faces = faces.long()
    if vertices.ndim != 3 or vertices.shape[-1] != 3 or len(vertices) not in (1, len(cameras)):
        raise ValueError(f"vertices must be (1 or {len(cameras)}, V, 3), got "
                         f"{tuple(vertices.shape)}")
    if (texture is None) != (corner_uvs is None):
        raise ValueError("texture and corner_uvs must be given together")
    if corner_uvs is not None and corner_uvs.shape != (len(faces), 3, 2):
        raise ValueError(f"corner_uvs must be ({len(faces)}, 3, 2), got {tuple(corner_uvs.shape)}")
    if texture is not None and (texture.ndim != 4 or texture.shape[1] not in (3, 4)):
        raise ValueError(f"texture must be (1 or B, 3 or 4, Ht, Wt), got {tuple(texture.shape)}")
    _check_cards(vertices, faces, len(cameras), texture, cutout_faces, hair_faces, tangents)
    cameras = cameras.to(vertices.device, vertices.dtype)
    lights = (lights or Lights.default()).to(vertices.device, vertices.dtype)
    n_views = len(cameras)
    if len(lights) not in (1, n_views):
        raise ValueError(f"lights must hold 1 or {n_views} sets, got {len(lights)}")

    cutout = None
    if cutout_faces is not None:
        cutout = texture_cutout(cutout_faces, texture[:, 3].detach(), corner_uvs)
    fragments = rasterize(cameras.to_clip(vertices, width / height), faces, height, width,
                          cull_backfaces, double_sided=hair_faces, cutout=cutout)
    albedo = vertices.new_full((len(fragments.pixels), 3), _PLAIN_ALBEDO)
    if texture is not None:
        uv = interpolate_corners(corner_uvs.to(vertices), fragments)
        albedo = sample_texture(texture[:, :3].to(vertices), fragments.view, uv)
    if vertex_colors is not None:
        colors = interpolate(vertex_colors.to(vertices), fragments, faces)
        albedo = colors if texture is None else albedo * colors
    normal = torch.nn.functional.normalize(
        interpolate(vertex_normals(vertices, faces) if normals is None else normals.to(vertices),
                    fragments, faces), dim=-1)
    if not cull_backfaces or cutout is not None or hair_faces is not None:
        # A visible back face is lit from the side the camera sees.
        back = ~fragments.front_facing[fragments.view, fragments.face]
        normal = torch.where(back[:, None], -normal, normal)
    color = _shade(albedo, normal, interpolate(vertices, fragments, faces), fragments, faces,
                   cameras, lights, hair_faces, tangents)

    # Composite as (pixels, RGBA) rows, the layout that antialiasing blends.
    surface = torch.cat([color, torch.ones_like(color[:, :1])], dim=1)
    backdrop = torch.cat([_background_rows(background, vertices, n_views, height, width),
                          vertices.new_zeros(n_views * height * width, 1)], dim=1)
    image = backdrop.index_put((fragments.pixels,), surface)
    if antialiased:
        if neighbors is None:
            neighbors = face_neighbors(faces)
        image = antialias(image, fragments, faces, neighbors, cutout)
    image = image.clamp(0, 1).view(n_views, height, width, 4).permute(0, 3, 1, 2)
    depth = torch.where(torch.isfinite(fragments.depth), fragments.depth, 0.0)
    return RenderOutput(image[:, :3], image[:, 3:], depth[:, None], fragments.triangle_id)


def _shade(albedo: Tensor, normal: Tensor, position: Tensor, fragments: Fragments,
           faces: Tensor, cameras: Cameras, lights: Lights, hair_faces: Tensor | None,
           tangents: Tensor | None) -> Tensor:
    """Colour (N, 3) of the covered pixels: `shade_hair` on hair faces, `shade` elsewhere."""
    if hair_faces is None:
        return shade(albedo, normal, position, fragments.view, cameras.eye, cameras.rotation,
                     lights)
    hair = hair_faces[fragments.face]
    skin_rows, hair_rows = torch.nonzero(~hair).squeeze(1), torch.nonzero(hair).squeeze(1)
    albedo_s, normal_s, position_s, view_s = (
        gather_rows(x, skin_rows) for x in (albedo, normal, position, fragments.view))
    skin = shade(albedo_s, normal_s, position_s, view_s, cameras.eye, cameras.rotation, lights)
    albedo_h, normal_h, position_h, view_h = (
        gather_rows(x, hair_rows) for x in (albedo, normal, position, fragments.view))
    tangent = interpolate(tangents.to(albedo), fragments, faces, hair_rows)
    strands = shade_hair(albedo_h, normal_h, tangent, position_h, view_h, cameras.eye,
                         cameras.rotation, lights)
    return albedo.new_zeros(albedo.shape).index_put((skin_rows,), skin).index_put(
        (hair_rows,), strands)


def _check_cards(vertices: Tensor, faces: Tensor, n_views: int, texture: Tensor | None,
                 cutout_faces: Tensor | None, hair_faces: Tensor | None,
                 tangents: Tensor | None) -> None:
    """Raise ValueError naming the first bad card argument."""
    for name, mask in (("cutout_faces", cutout_faces), ("hair_faces", hair_faces)):
        if mask is not None and (mask.shape != (len(faces),) or mask.dtype != torch.bool):
            raise ValueError(f"{name} must be a ({len(faces)},) bool mask, got {mask.dtype} "
                             f"{tuple(mask.shape)}")
    if cutout_faces is not None and (texture is None or texture.shape[1] != 4):
        raise ValueError("cutout_faces needs a texture with alpha as its fourth channel")
    if (tangents is None) != (hair_faces is None):
        raise ValueError("tangents and hair_faces must be given together")
    if tangents is not None and (tangents.ndim != 3 or tangents.shape[1:] != vertices.shape[1:]
                                 or len(tangents) not in (1, n_views)):
        raise ValueError(f"tangents must be (1 or {n_views}, {vertices.shape[1]}, 3), got "
                         f"{tuple(tangents.shape)}")


def _background_rows(background: Tensor | Sequence[float] | float, like: Tensor, n_views: int,
                     height: int, width: int) -> Tensor:
    """The background as (B * H * W, 3) rows."""
    background = torch.as_tensor(background).to(like)
    if background.ndim == 4:
        if background.shape[1:] != (3, height, width) or len(background) not in (1, n_views):
            raise ValueError(f"background images must be (1 or {n_views}, 3, {height}, {width}), "
                             f"got {tuple(background.shape)}")
        rows = background.permute(0, 2, 3, 1)
    elif background.ndim <= 2:
        rows = background.reshape(-1, 1, 1, background.shape[-1] if background.ndim else 1)
    else:
        raise ValueError(f"background must be a grey level, (3,), (B, 3) or images, got "
                         f"{tuple(background.shape)}")
    return rows.expand(n_views, height, width, 3).reshape(-1, 3)
