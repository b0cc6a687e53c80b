"""A head and its parts as plain `TexturedMesh`es for the exporters, each part carrying the
same 52 ARKit morph targets, so that an ARKit animation moves head, teeth, lashes, brows,
hair and beard together.

Morph targets are measured, not assumed: the head is decoded once per expression (all at
once, as a batch) and each target is that decode minus the expressionless one. For the head
this equals the linear blendshape; parts follow the skin the same way (exactly for cards,
whose binding is linear; to first order for beard shells, which ride on the normals).

Each part also carries the look exports need: the ambient occlusion of the composed scene
(hair shading the forehead, lids the eyes, lips the teeth) per vertex, the head's also baked
into its UV layout, the skin's detail normal map, and which of the head's faces are the
eyeballs.
"""

from __future__ import annotations

import weakref

import numpy as np
import torch

from text2head.geometry import vertex_normals
from text2head.heads.params import HeadParams
from text2head.heads.scene import STRAND_PARTS
from text2head.heads.uv_raster import UVRaster
from text2head.mesh import TexturedMesh

# Each model's UV rasters by texture size (a model's UV layout never changes).
_UV_RASTERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
GEOMETRY_TEXTURE = 8  # the batch of expression decodes only needs geometry
OCCLUSION_TEXTURE = 256  # largest occlusion map: 14 texels a vertex already, more would only
# add bytes and time (it interpolates the head's 4 540 vertex values)


@torch.no_grad()
def head_meshes(model, head: HeadParams, index: int = 0,
                texture_size: int = 1024) -> list[TexturedMesh]:
    """The head first (named "head"), then every part its styles switch on, by kind name."""
    one = head.select(index).to(model.template.device)
    decoded = model.decode(one, texture_size)
    names = model.specs["expression"].names
    weights = one.expression[0]
    # Row 0: no expression; row k: expression k alone at full strength.
    probes = one.map(lambda t: t.expand(len(names) + 1, *t.shape[1:]).clone())
    probes.expression.copy_(torch.cat([torch.zeros_like(weights)[None],
                                       torch.eye(len(names)).to(weights)]))
    shapes = model.decode(probes, GEOMETRY_TEXTURE)

    # Decoding re-centres every head on its skin, which an expression moves; targets are
    # measured without that shift so that each moves only what its expression moves.
    shift = (shapes.offset - shapes.offset[:1]) @ shapes.rotation[0].T

    def base_and_deltas(probed: torch.Tensor, current: torch.Tensor):
        """The base (the current shape minus its weighted targets, so that base + weighted
        targets is exactly the decoded head) and the targets."""
        uncentred = probed + shift[:, None]
        deltas = uncentred[1:] - uncentred[:1]
        return current - torch.einsum("k,kvc->vc", weights, deltas), deltas

    occlusion = _occlusion(model, one, model.decode(one, GEOMETRY_TEXTURE))
    meshes = []
    base, deltas = base_and_deltas(shapes.vertices, decoded.vertices[0])
    texture = decoded.texture[0].permute(1, 2, 0)
    head_occlusion = occlusion["head"]
    meshes.append(_mesh(
        "head", base, model.faces, model.corner_uvs, decoded.vertex_colors[0], texture, names,
        deltas, weights, occlusion=head_occlusion,
        occlusion_texture=_occlusion_texture(model, head_occlusion,
                                             min(texture_size, OCCLUSION_TEXTURE)),
        eye_faces=_eye_faces(model), normal_texture=_normal_texture(model, one, texture_size)))
    for kind, part in decoded.parts.items():
        base, deltas = base_and_deltas(shapes.parts[kind].vertices, part.vertices[0])
        colour = decoded.part_colours[kind][0]
        meshes.append(_mesh(kind, base, part.faces, part.corner_uvs,
                            colour.expand(len(base), 3),
                            _part_texture(model, kind, colour, one, texture_size), names,
                            deltas, weights, occlusion=occlusion[kind]))
    return meshes


def _occlusion(model, head: HeadParams, decoded) -> dict[str, np.ndarray]:
    """Per part ("head" included), the (V,) occlusion of its vertices in the composed scene,
    whose vertices are the head's and then each part's in `decoded.parts` order. `decoded`
    needs no texture (the scene's atlas of it is not used)."""
    scene = model.scene(head, decoded)
    openness = scene.occlusion[0].clamp(0, 1).cpu().numpy().astype(np.float32)
    counts = [decoded.vertices.shape[1], *(p.vertices.shape[1] for p in decoded.parts.values())]
    pieces = np.split(openness, np.cumsum(counts)[:-1])
    return dict(zip(["head", *decoded.parts], pieces, strict=True))


def _occlusion_texture(model, occlusion: np.ndarray, size: int) -> np.ndarray:
    """(size, size) uint8 the head's vertex occlusion interpolated over its UV layout (the
    layout's raster is found once per model and size: it cost 0.75 s an export)."""
    rasters = _UV_RASTERS.setdefault(model, {})
    if size not in rasters:
        rasters[size] = UVRaster.of(model.corner_uvs.cpu().numpy(), size)
    corner_values = occlusion[model.faces.cpu().numpy()][..., None]
    image = rasters[size].rasterize(corner_values, fill=1.0)[..., 0]
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8)


def _normal_texture(model, head: HeadParams, size: int) -> np.ndarray:
    """(size, size, 3) uint8 the skin's wrinkles and pores, glTF-encoded (see
    `HeadModel.detail_normal_map`)."""
    encoded = model.detail_normal_map(head, size)[0].permute(1, 2, 0)
    return np.ascontiguousarray((encoded.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy())


def _eye_faces(model) -> np.ndarray:
    """(F,) bool: the head's faces on either eyeball (mesh components, see `build`)."""
    from text2head.heads.build import part_components  # build imports the model module

    component = model.component.cpu().numpy()
    _, eyes = part_components(component)
    return np.isin(component[model.faces[:, 0].cpu().numpy()], eyes)


def _part_texture(model, kind: str, colour: torch.Tensor, head: HeadParams,
                  size: int) -> torch.Tensor:
    """(size, size, 3 or 4) sRGB: strand tiles tinted with the part's colour (with the cut-out
    alpha), or the plain colour for teeth."""
    if kind not in STRAND_PARTS:
        return colour.expand(size, size, 3)
    tile = model.scene_tile(kind, size, head)
    rgb = tile[:3] * colour[:, None, None]
    return torch.cat([rgb, tile[3:]]).permute(1, 2, 0)


def _mesh(name: str, base: torch.Tensor, faces: torch.Tensor, corner_uvs: torch.Tensor,
          colours: torch.Tensor, texture: torch.Tensor, morph_names: list[str],
          deltas: torch.Tensor, weights: torch.Tensor, **look) -> TexturedMesh:
    """A `TexturedMesh` from tensors; `look` holds its numpy occlusion and eye fields."""
    image = (texture.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    return TexturedMesh(
        vertices=base.cpu().numpy().astype(np.float32),
        faces=faces.cpu().numpy().astype(np.int32),
        corner_uvs=corner_uvs.clamp(0, 1).cpu().numpy().astype(np.float32),
        normals=vertex_normals(base[None], faces)[0].cpu().numpy(),
        vertex_colors=colours.clamp(0, 1).cpu().numpy().astype(np.float32),
        texture=np.ascontiguousarray(image),
        morph_names=list(morph_names),
        morph_deltas=deltas.cpu().numpy().astype(np.float32),
        morph_weights=weights.cpu().numpy().astype(np.float32),
        name=name,
        **look,
    )
