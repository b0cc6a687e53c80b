"""A head and its parts as plain `TexturedMesh`es for the exporters, each part carrying the
same 52 ARKit morph targets, so that an ARKit animation moves head, teeth, lashes, brows,
hair and beard together.

Morph targets are measured, not assumed: the head is decoded once per expression (all at
once, as a batch) and each target is that decode minus the expressionless one. For the head
this equals the linear blendshape; parts follow the skin the same way (exactly for cards,
whose binding is linear; to first order for beard shells, which ride on the normals).
"""

from __future__ import annotations

import numpy as np
import torch

from text2head.geometry import vertex_normals
from text2head.heads.params import HeadParams
from text2head.heads.scene import STRAND_PARTS
from text2head.mesh import TexturedMesh

GEOMETRY_TEXTURE = 8  # the batch of expression decodes only needs geometry


@torch.no_grad()
def head_meshes(model, head: HeadParams, index: int = 0,
                texture_size: int = 1024) -> list[TexturedMesh]:
    """The head first (named "head"), then every part its styles switch on, by kind name."""
    one = head.select(index)
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

    meshes = []
    base, deltas = base_and_deltas(shapes.vertices, decoded.vertices[0])
    texture = decoded.texture[0].permute(1, 2, 0)
    meshes.append(_mesh("head", base, model.faces, model.corner_uvs, decoded.vertex_colors[0],
                        texture, names, deltas, weights))
    for kind, part in decoded.parts.items():
        base, deltas = base_and_deltas(shapes.parts[kind].vertices, part.vertices[0])
        colour = decoded.part_colours[kind][0]
        meshes.append(_mesh(kind, base, part.faces, part.corner_uvs,
                            colour.expand(len(base), 3),
                            _part_texture(model, kind, colour, one, texture_size), names,
                            deltas, weights))
    return meshes


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
          deltas: torch.Tensor, weights: torch.Tensor) -> TexturedMesh:
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
    )
