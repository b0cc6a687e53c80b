"""One call from a textured mesh and a batch of cameras to differentiable RGB images."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..geometry import vertex_normals
from .cameras import Cameras
from .catchlights import catchlights
from .layers import composite, coverage_pyramid, layer_coverage, visible
from .lights import Lights
from .rasterize import Fragments, Layers, gather_rows, rasterize, rasterize_layers
from .shading import hair_light, interpolate, interpolate_corners, sample_texture, shade
from .silhouettes import antialias, face_neighbors
from .tone import display, srgb_to_linear

# Surface colour when neither a texture nor vertex colours are given (shape-only previews).
_PLAIN_ALBEDO = 0.7


@dataclass(frozen=True)
class RenderOutput:
    """Rendered views: rgb and alpha carry gradients, depth and triangle_id serve tests/previews."""

    rgb: Tensor  # (B, 3, H, W) displayed sRGB in [0, 1]
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
           hair_faces: Tensor | None = None, tangents: Tensor | None = None,
           occlusion: Tensor | None = None, gloss: Tensor | None = None,
           eyes: Tensor | None = None) -> RenderOutput:
    """Render vertices (1 or B, V, 3) with faces (F, 3) from B cameras.

    Albedo is the texture (1 or B, 3 or 4, Ht, Wt; sRGB, the fourth channel is coverage for
    cut-outs) looked up at corner_uvs (F, 3, 2), times the vertex colours (1 or B, V, 3, sRGB)
    when both are given; either alone is the albedo, and plain grey without both. Shading is
    in linear light under `lights` (1 or B sets, default `Lights.studio()`), tone-mapped with
    PBR Neutral and encoded as sRGB (see `tone`). `background` is a grey level, an RGB colour
    (3,) or (B, 3), or images (1 or B, 3, H, W), all as displayed. `antialiased` blends
    silhouette pixels, which is what gives contour vertices their gradients. `neighbors`
    (from `face_neighbors(faces)`) may be passed to skip recomputing the mesh topology on every
    call, and `normals` (like vertices) when the caller already has the vertex normals.
    `occlusion` (1 or B, V) is ambient occlusion per vertex (1 = open), `gloss` (1 or B, V) a
    specular scale per vertex, `eyes` (1 or B, E, 4) cornea spheres (centre, radius) that get
    catchlights from the first (key) light.

    Cards (hair, eyebrows, eyelashes, beard shells: thin surfaces textured with strands) need
    more. Faces in the (F,) bool mask `cutout_faces` take coverage from the texture's fourth
    channel, prefiltered for their size on screen, and are composited front to back over the
    opaque surfaces (see `layers`); they are seen from both sides. Faces in the (F,) bool mask
    `hair_faces` are shaded as strands along `tangents` (1 or B, V, 3, root to tip), see
    `shade_hair`; they are never culled and are lit from the side the camera sees.
    `triangle_id` and `depth` describe the opaque surfaces only.
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
    _check_lighting(vertices, len(cameras), eyes, occlusion=occlusion, gloss=gloss)
    cameras = cameras.to(vertices.device, vertices.dtype)
    lights = (lights or Lights.studio()).to(vertices.device, vertices.dtype)
    n_views = len(cameras)
    if len(lights) not in (1, n_views):
        raise ValueError(f"lights must hold 1 or {n_views} sets, got {len(lights)}")
    if cutout_faces is not None and not bool(cutout_faces.any()):
        cutout_faces = None
    surface = _Surface(vertices, faces, cameras, lights, texture, vertex_colors, normals,
                       hair_faces, tangents, occlusion, gloss)

    clip = cameras.to_clip(vertices, width / height)
    fragments = rasterize(clip, faces, height, width, cull_backfaces,
                          double_sided=hair_faces, hidden=cutout_faces)
    albedo = vertices.new_full((len(fragments.pixels), 3), _PLAIN_ALBEDO)
    if texture is not None:
        uv = interpolate_corners(corner_uvs.to(vertices), fragments)
        albedo = sample_texture(texture[:, :3].to(vertices), fragments.view, uv)
    color = surface.shade(fragments, fragments, albedo, flip_back=not cull_backfaces)

    # Composite as (pixels, RGBA) rows, the layout that antialiasing blends.
    opaque = torch.cat([color, torch.ones_like(color[:, :1])], dim=1)
    backdrop = torch.cat([_background_rows(background, vertices, n_views, height, width),
                          vertices.new_zeros(n_views * height * width, 1)], dim=1)
    image = backdrop.index_put((fragments.pixels,), opaque)
    if antialiased:
        if neighbors is None:
            neighbors = face_neighbors(faces)
        image = antialias(image, fragments, faces, neighbors)
    if eyes is not None:
        glints = catchlights(eyes.to(vertices), cameras, lights, fragments).reshape(-1, 1)
        image = image + glints * image.new_tensor([1.0, 1.0, 1.0, 0.0])  # colour, not alpha
    if cutout_faces is not None:
        layers = rasterize_layers(fragments, clip, faces, cutout_faces)
        card_color, alpha = layer_coverage(layers, fragments, faces, corner_uvs.to(vertices),
                                           coverage_pyramid(texture.to(vertices)))
        seen = visible(layers, alpha.detach())
        layers = layers.select(seen)
        shaded = surface.shade(layers, fragments, gather_rows(card_color, seen), flip_back=True)
        image = composite(image, layers, shaded, gather_rows(alpha, seen))
    image = image.clamp(0, 1).view(n_views, height, width, 4).permute(0, 3, 1, 2)
    depth = torch.where(torch.isfinite(fragments.depth), fragments.depth, 0.0)
    return RenderOutput(image[:, :3], image[:, 3:], depth[:, None], fragments.triangle_id)


class _Surface:
    """What shading needs besides the rows being shaded, and the per-vertex work shared by the
    opaque pass and the layers: vertex normals, and the light hair vertices reflect."""

    def __init__(self, vertices: Tensor, faces: Tensor, cameras: Cameras, lights: Lights,
                 texture: Tensor | None, vertex_colors: Tensor | None, normals: Tensor | None,
                 hair_faces: Tensor | None, tangents: Tensor | None,
                 occlusion: Tensor | None, gloss: Tensor | None):
        self.faces, self.cameras, self.lights = faces, cameras, lights
        self.has_texture, self.hair_faces = texture is not None, hair_faces
        normals = vertex_normals(vertices, faces) if normals is None else normals.to(vertices)
        occlusion = None if occlusion is None else occlusion.to(vertices)[..., None]
        colors = None if vertex_colors is None else vertex_colors.to(vertices)
        self._surface = _VertexTable(colors=colors, normal=normals, position=vertices,
                                     occlusion=occlusion,
                                     gloss=None if gloss is None else gloss.to(vertices)[..., None])
        self._strands = None
        if hair_faces is not None and bool(hair_faces.any()):
            light = _hair_vertex_light(vertices, normals, tangents.to(vertices), occlusion,
                                       faces[hair_faces], cameras, lights)
            self._strands = _VertexTable(colors=colors, light=light)

    def shade(self, rows: Fragments | Layers, fragments: Fragments, albedo: Tensor,
              flip_back: bool) -> Tensor:
        """Displayed colour (N, 3) of rows (opaque pixels or layer fragments) whose sRGB
        texture albedo is given; vertex colours, normals and occlusion are looked up here.

        A pass is mostly all surface (opaque) or all strands (layers): then the rows are shaded
        whole, with no split and merge."""
        hair = (None if self._strands is None
                else self.hair_faces.index_select(0, rows.face))
        n_hair = 0 if hair is None else int(hair.sum())
        if n_hair == 0:
            return display(self._shade_surface(rows, fragments, albedo, None, flip_back))
        if n_hair == len(hair):
            return display(self._shade_strands(rows, albedo, None))
        surface, strands = torch.nonzero(~hair).squeeze(1), torch.nonzero(hair).squeeze(1)
        linear = albedo.new_zeros(albedo.shape).index_put(
            (surface,), self._shade_surface(rows, fragments, albedo, surface, flip_back))
        return display(linear.index_put((strands,), self._shade_strands(rows, albedo, strands)))

    def _albedo(self, texture_albedo: Tensor, subset: Tensor | None,
                colors: Tensor | None) -> Tensor:
        """Linear albedo of the rows `subset` (all when None): texture times vertex colours."""
        if subset is not None:
            texture_albedo = gather_rows(texture_albedo, subset)
        if colors is not None:
            texture_albedo = colors if not self.has_texture else texture_albedo * colors
        return srgb_to_linear(texture_albedo)

    def _shade_strands(self, rows: Fragments | Layers, albedo: Tensor,
                       subset: Tensor | None) -> Tensor:
        """Linear colour of the hair rows `subset` (all when None), see `shade_hair`."""
        at = self._strands.at(rows, self.faces, subset)
        light = at["light"]
        return self._albedo(albedo, subset, at.get("colors")) * light[:, :3] + light[:, 3:]

    def _shade_surface(self, rows: Fragments | Layers, fragments: Fragments, albedo: Tensor,
                       subset: Tensor | None, flip_back: bool) -> Tensor:
        """Linear colour of the rows `subset` (all when None) that are not hair."""
        at = self._surface.at(rows, self.faces, subset)
        view, face = rows.view, rows.face
        if subset is not None:
            view, face = gather_rows(view, subset), gather_rows(face, subset)
        normal = torch.nn.functional.normalize(at["normal"], dim=-1)
        if flip_back:
            # A visible back face is lit from the side the camera sees.
            back = ~fragments.front_facing[view, face]
            normal = torch.where(back[:, None], -normal, normal)
        return shade(self._albedo(albedo, subset, at.get("colors")), normal, at["position"],
                     view, self.cameras.eye, self.cameras.rotation, self.lights,
                     at.get("occlusion"), at.get("gloss"))


class _VertexTable:
    """Per-vertex attributes side by side in one (1 or B, V, C) table, so that a row set looks
    them all up with one gather and one barycentric blend instead of one each."""

    def __init__(self, **attributes: Tensor | None):
        present = {name: values for name, values in attributes.items() if values is not None}
        batch = max(len(values) for values in present.values())
        self.names = list(present)
        self.widths = [values.shape[-1] for values in present.values()]
        self.values = torch.cat([values.expand(batch, -1, -1) for values in present.values()],
                                dim=-1)

    def at(self, rows: Fragments | Layers, faces: Tensor,
           subset: Tensor | None) -> dict[str, Tensor]:
        """Every attribute (M, C) interpolated at the rows `subset` (all when None)."""
        values = interpolate(self.values, rows, faces, subset)
        return dict(zip(self.names, values.split(self.widths, dim=1), strict=True))


def _hair_vertex_light(vertices: Tensor, normals: Tensor, tangents: Tensor,
                       occlusion: Tensor | None, hair_faces: Tensor, cameras: Cameras,
                       lights: Lights) -> Tensor:
    """(B, V, 6) albedo factor and highlight (see `hair_light`) at the vertices of hair faces
    (H, 3), seen from each camera, lit from the side the camera sees; zero elsewhere.

    Strands are shaded at the cards' vertices and interpolated: cards are finely divided along
    their length, so the highlight bands survive, and the many layered hair fragments of a
    pixel cost one interpolation each instead of a full lighting evaluation.
    """
    n_views, n_vertices = len(cameras), vertices.shape[1]
    ids = torch.unique(hair_faces)

    def at_hair(values: Tensor) -> Tensor:
        picked = values.index_select(1, ids)
        return picked.expand(n_views, -1, -1).reshape(-1, values.shape[-1])

    position, normal, tangent = at_hair(vertices), at_hair(normals), at_hair(tangents)
    view = torch.arange(n_views, device=ids.device).repeat_interleave(len(ids))
    toward_camera = ((gather_rows(cameras.eye, view) - position) * normal).sum(-1, keepdim=True)
    normal = torch.where(toward_camera < 0, -normal, normal)
    diffuse, specular = hair_light(torch.nn.functional.normalize(normal, dim=-1), tangent,
                                   position, view, cameras.eye, cameras.rotation, lights,
                                   None if occlusion is None else at_hair(occlusion))
    light = torch.cat([diffuse, specular], dim=1).view(n_views, len(ids), 6)
    return light.new_zeros(n_views, n_vertices, 6).index_copy(1, ids, light)


def _check_lighting(vertices: Tensor, n_views: int, eyes: Tensor | None,
                    **per_vertex: Tensor | None) -> None:
    """Raise ValueError naming a malformed per-vertex lighting or eyes argument."""
    n_vertices = vertices.shape[1]
    for name, values in per_vertex.items():
        if values is not None and (values.ndim != 2 or values.shape[1] != n_vertices
                                   or len(values) not in (1, n_views)):
            raise ValueError(f"{name} must be (1 or {n_views}, {n_vertices}), got "
                             f"{tuple(values.shape)}")
    if eyes is not None and (eyes.ndim != 3 or eyes.shape[-1] != 4
                             or len(eyes) not in (1, n_views)):
        raise ValueError(f"eyes must be (1 or {n_views}, E, 4), got {tuple(eyes.shape)}")


def _check_cards(vertices: Tensor, faces: Tensor, n_views: int, texture: Tensor | None,
                 cutout_faces: Tensor | None, hair_faces: Tensor | None,
                 tangents: Tensor | None) -> None:
    """Raise ValueError naming the first bad card argument."""
    for name, mask in (("cutout_faces", cutout_faces), ("hair_faces", hair_faces)):
        if mask is not None and (mask.shape != (len(faces),) or mask.dtype != torch.bool):
            raise ValueError(f"{name} must be a ({len(faces)},) bool mask, got {mask.dtype} "
                             f"{tuple(mask.shape)}")
    if cutout_faces is not None and (texture is None or texture.shape[1] != 4):
        raise ValueError("cutout_faces needs a texture with coverage as its fourth channel")
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
