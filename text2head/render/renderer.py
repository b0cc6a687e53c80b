"""One call from a textured mesh and a batch of cameras to differentiable RGB images."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..geometry import vertex_normals
from .cameras import Cameras
from .rasterize import rasterize
from .shading import Lights, interpolate, interpolate_corners, sample_texture, shade
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
           normals: Tensor | None = None) -> RenderOutput:
    """Render vertices (1 or B, V, 3) with faces (F, 3) from B cameras.

    Albedo is the texture (1 or B, 3, Ht, Wt) looked up at corner_uvs (F, 3, 2), times the
    vertex colours (1 or B, V, 3) when both are given; either alone is the albedo, and plain grey
    without both. Lights (1 or B sets) default to `Lights.default()`. `background` is a grey
    level, an RGB colour (3,) or (B, 3), or images (1 or B, 3, H, W). `antialiased` blends
    silhouette pixels, which is what gives contour vertices their gradients. `neighbors` (from
    `face_neighbors(faces)`) may be passed to skip recomputing the mesh topology on every call,
    and `normals` (like vertices) when the caller already has the vertex normals.
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
    cameras = cameras.to(vertices.device, vertices.dtype)
    lights = (lights or Lights.default()).to(vertices.device, vertices.dtype)
    n_views = len(cameras)
    if len(lights) not in (1, n_views):
        raise ValueError(f"lights must hold 1 or {n_views} sets, got {len(lights)}")

    fragments = rasterize(cameras.to_clip(vertices, width / height), faces, height, width,
                          cull_backfaces)
    albedo = vertices.new_full((len(fragments.pixels), 3), _PLAIN_ALBEDO)
    if texture is not None:
        uv = interpolate_corners(corner_uvs.to(vertices), fragments)
        albedo = sample_texture(texture.to(vertices), fragments.view, uv)
    if vertex_colors is not None:
        colors = interpolate(vertex_colors.to(vertices), fragments, faces)
        albedo = colors if texture is None else albedo * colors
    normal = torch.nn.functional.normalize(
        interpolate(vertex_normals(vertices, faces) if normals is None else normals.to(vertices),
                    fragments, faces), dim=-1)
    if not cull_backfaces:
        # A visible back face is lit from the side the camera sees.
        back = ~fragments.front_facing[fragments.view, fragments.face]
        normal = torch.where(back[:, None], -normal, normal)
    position = interpolate(vertices, fragments, faces)
    color = shade(albedo, normal, position, fragments.view, cameras.eye, cameras.rotation, lights)

    # Composite as (pixels, RGBA) rows, the layout that antialiasing blends.
    surface = torch.cat([color, torch.ones_like(color[:, :1])], dim=1)
    backdrop = torch.cat([_background_rows(background, vertices, n_views, height, width),
                          vertices.new_zeros(n_views * height * width, 1)], dim=1)
    image = backdrop.index_put((fragments.pixels,), surface)
    if antialiased:
        if neighbors is None:
            neighbors = face_neighbors(faces)
        image = antialias(image, fragments, faces, neighbors)
    image = image.clamp(0, 1).view(n_views, height, width, 4).permute(0, 3, 1, 2)
    depth = torch.where(torch.isfinite(fragments.depth), fragments.depth, 0.0)
    return RenderOutput(image[:, :3], image[:, 3:], depth[:, None], fragments.triangle_id)


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
