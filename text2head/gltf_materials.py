"""The glTF materials of a part, and which of its faces each one draws.

- Skin (and other opaque parts): the albedo with part of the occlusion baked in, the full
  occlusion as occlusionTexture, the detail normal map, and an index of refraction of 1.4,
  i.e. a Fresnel reflectance at normal incidence F0 = ((1.4 - 1) / (1.4 + 1))^2 = 0.028,
  measured for skin (glTF's default, 1.5, gives 0.04 and reads as plastic).
- Eyes: the eyeball faces of the same part, drawn with the same textures but wet: smooth,
  with a full clear coat (the cornea's tear film), so that they catch the light.
- Cut-outs (hair, brows, lashes, beard): two primitives over the same faces and texture, the
  portable way to soft strand cards. A MASK core writes depth where alpha >= ALPHA_CUTOFF,
  then a BLEND fringe, which viewers draw after opaque geometry, adds the soft edges in front
  of or behind it. three.js, Babylon and Blender all sort per object, not per triangle, so a
  pure BLEND part would show the far side of the hair through the near side; a pure MASK
  part is speckled where strands are thinner than a pixel.
"""

from __future__ import annotations

import numpy as np
import pygltflib

from text2head.glb_builder import GlbBuilder
from text2head.mesh import TexturedMesh
from text2head.occlusion_bake import base_colour_texture

ROUGHNESS = 0.6
SKIN_IOR = 1.4
EYE_ROUGHNESS = 0.15
EYE_CLEARCOAT_ROUGHNESS = 0.03
ALPHA_CUTOFF = 0.5  # cut-out parts: texels with less alpha are the soft fringe, not the core
IOR, CLEARCOAT = "KHR_materials_ior", "KHR_materials_clearcoat"


def part_primitives(builder: GlbBuilder, mesh: TexturedMesh) -> list[tuple[np.ndarray, int]]:
    """(face mask, material index) of each primitive of the part, in drawing order.

    Adds the part's textures (each once, shared by its materials) and materials.
    """
    colour = builder.texture(base_colour_texture(mesh))
    every_face = np.ones(len(mesh.faces), dtype=bool)
    if mesh.cutout:
        return [(every_face, _cutout_material(builder, mesh.name, colour, pygltflib.MASK)),
                (every_face, _cutout_material(builder, f"{mesh.name}_fringe", colour,
                                              pygltflib.BLEND))]
    occlusion = (None if mesh.occlusion_texture is None
                 else pygltflib.OcclusionTextureInfo(index=builder.texture(
                     mesh.occlusion_texture)))
    normal = (None if mesh.normal_texture is None
              else pygltflib.NormalMaterialTexture(index=builder.texture(mesh.normal_texture)))
    eyes = np.zeros_like(every_face) if mesh.eye_faces is None else mesh.eye_faces
    primitives = []
    if not eyes.all():
        primitives.append((~eyes, _surface_material(builder, mesh.name, colour, occlusion,
                                                    normal)))
    if eyes.any():
        primitives.append((eyes, _eye_material(builder, f"{mesh.name}_eyes", colour,
                                               occlusion)))
    return primitives


def _surface_material(builder: GlbBuilder, name: str, colour: int,
                      occlusion: pygltflib.OcclusionTextureInfo | None,
                      normal: pygltflib.NormalMaterialTexture | None) -> int:
    builder.use_extension(IOR)
    return _add(builder, pygltflib.Material(
        name=name, pbrMetallicRoughness=_pbr(colour, ROUGHNESS), occlusionTexture=occlusion,
        normalTexture=normal, extensions={IOR: {"ior": SKIN_IOR}}))


def _eye_material(builder: GlbBuilder, name: str, colour: int,
                  occlusion: pygltflib.OcclusionTextureInfo | None) -> int:
    builder.use_extension(CLEARCOAT)
    return _add(builder, pygltflib.Material(
        name=name, pbrMetallicRoughness=_pbr(colour, EYE_ROUGHNESS), occlusionTexture=occlusion,
        extensions={CLEARCOAT: {"clearcoatFactor": 1.0,
                                "clearcoatRoughnessFactor": EYE_CLEARCOAT_ROUGHNESS}}))


def _cutout_material(builder: GlbBuilder, name: str, colour: int, mode: str) -> int:
    """Double-sided (a strand card is one layer seen from both sides)."""
    return _add(builder, pygltflib.Material(
        name=name, pbrMetallicRoughness=_pbr(colour, ROUGHNESS), alphaMode=mode,
        alphaCutoff=ALPHA_CUTOFF if mode == pygltflib.MASK else None, doubleSided=True))


def _pbr(colour: int, roughness: float) -> pygltflib.PbrMetallicRoughness:
    return pygltflib.PbrMetallicRoughness(baseColorTexture=pygltflib.TextureInfo(index=colour),
                                          metallicFactor=0.0, roughnessFactor=roughness)


def _add(builder: GlbBuilder, material: pygltflib.Material) -> int:
    builder.gltf.materials.append(material)
    return len(builder.gltf.materials) - 1
