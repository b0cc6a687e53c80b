"""Exports carry the look (issue 16, point 7): occlusion (baked partly into the colours, in
full as occlusionTexture), the detail normal map with tangents, glossy eyes, skin's F0 and
soft strand cards (a MASK core and a BLEND fringe over the same data), checked with the
Khronos validator, pygltflib and trimesh on synthetic parts and on a random head."""

from __future__ import annotations

import dataclasses

import numpy as np
import pygltflib
import pytest
import torch
import trimesh
from glb_data import read_accessor
from gltf_validator import assert_valid_glb, issue_lines
from head_parts import hair

from text2head.export import export_all, export_glb
from text2head.occlusion_bake import IN_BASE_COLOUR, base_colour_texture
from text2head.render.tone import srgb_to_linear
from text2head.tangents import vertex_tangents

SIZE = 64


def assert_clean(path) -> dict:
    """No errors, warnings, infos or hints from the Khronos validator."""
    report = assert_valid_glb(path)
    lines = [line for severity in ("warning", "info", "hint")
             for line in issue_lines(report, severity)]
    assert not lines, lines
    return report


def primitives_by_material(gltf: pygltflib.GLTF2) -> dict[str, pygltflib.Primitive]:
    return {gltf.materials[p.material].name: p for mesh in gltf.meshes for p in mesh.primitives}


@pytest.fixture(scope="module")
def looked_parts(head_model):
    """The real head (its occlusion and eyes from the model) with a synthetic normal map, and
    synthetic hair with per-vertex occlusion."""
    head = head_model.to_mesh(head_model.neutral(), texture_size=SIZE)
    bumps = np.random.default_rng(0).normal(0, 0.2, (SIZE, SIZE, 2))
    normal = np.concatenate([bumps, np.ones((SIZE, SIZE, 1))], axis=2)
    normal /= np.linalg.norm(normal, axis=2, keepdims=True)
    head = dataclasses.replace(head, normal_texture=np.round((normal * 0.5 + 0.5) * 255)
                               .astype(np.uint8))
    strands = hair(head)
    occlusion = np.linspace(0, 1, len(strands.vertices), dtype=np.float32)
    return [head, dataclasses.replace(strands, occlusion=occlusion)]


@pytest.fixture(scope="module")
def looked_files(looked_parts, tmp_path_factory):
    return export_all(looked_parts, tmp_path_factory.mktemp("look"), stem="head")


def test_tangents_follow_u_and_flip_with_mirrored_uvs():
    """A square in the xy plane facing +z: +u along +x gives tangent +x and w = +1; the
    mirrored layout (+u along -x) gives -x and w = -1 (its +v is still +y)."""
    positions = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], np.float32)
    normals = np.tile([0, 0, 1], (4, 1)).astype(np.float32)
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    uvs = positions[:, :2]
    np.testing.assert_allclose(vertex_tangents(positions, normals, uvs, faces),
                               np.tile([1, 0, 0, 1], (4, 1)), atol=1e-6)
    mirrored = np.column_stack([1 - uvs[:, 0], uvs[:, 1]])
    np.testing.assert_allclose(vertex_tangents(positions, normals, mirrored, faces),
                               np.tile([-1, 0, 0, -1], (4, 1)), atol=1e-6)


def test_glb_carries_normal_map_tangents_occlusion_and_glossy_eyes(looked_files, looked_parts):
    assert_clean(looked_files["glb"])
    gltf = pygltflib.GLTF2().load(looked_files["glb"])
    assert set(gltf.extensionsUsed) == {"KHR_materials_ior", "KHR_materials_clearcoat"}
    primitives = primitives_by_material(gltf)
    materials = {material.name: material for material in gltf.materials}
    skin, eyes = materials["head"], materials["head_eyes"]
    assert skin.normalTexture is not None and skin.occlusionTexture is not None
    assert skin.extensions["KHR_materials_ior"]["ior"] == pytest.approx(1.4)  # F0 = 0.028
    assert eyes.occlusionTexture.index == skin.occlusionTexture.index
    assert eyes.extensions["KHR_materials_clearcoat"] == {
        "clearcoatFactor": 1.0, "clearcoatRoughnessFactor": 0.03}
    assert eyes.pbrMetallicRoughness.roughnessFactor < skin.pbrMetallicRoughness.roughnessFactor
    eye_indices = read_accessor(gltf, primitives["head_eyes"].indices)
    assert len(eye_indices) == 3 * looked_parts[0].eye_faces.sum()

    attributes = primitives["head"].attributes
    tangents = read_accessor(gltf, attributes.TANGENT)
    normals = read_accessor(gltf, attributes.NORMAL)
    np.testing.assert_allclose(np.linalg.norm(tangents[:, :3], axis=1), 1, atol=1e-5)
    assert set(np.unique(tangents[:, 3])) <= {-1.0, 1.0}
    assert np.abs((tangents[:, :3] * normals).sum(axis=1)).max() < 1e-5


def test_occlusion_darkens_the_albedo_partly(looked_parts):
    """Linear albedo times lerp(1, occlusion, IN_BASE_COLOUR): fully occluded texels keep
    1 - IN_BASE_COLOUR of their light, open ones all of it."""
    head = looked_parts[0]
    shaded = base_colour_texture(head)
    occlusion = np.asarray(head.occlusion_texture, np.float32) / 255  # same size as texture
    def linear(image: np.ndarray) -> np.ndarray:
        return srgb_to_linear(torch.from_numpy(image / 255.0)).numpy()

    ratio = linear(shaded) / np.maximum(linear(head.texture), 1e-6)
    lit = head.texture.min(axis=2) > 64  # away from quantisation noise of dark texels
    expected = 1 - IN_BASE_COLOUR * (1 - occlusion)
    np.testing.assert_allclose(ratio[lit], np.repeat(expected[lit][:, None], 3, 1), atol=0.03)
    assert occlusion.min() < 0.5 < occlusion.max()  # the real head has cavities and open skin


def test_hair_is_a_mask_core_and_a_blend_fringe_over_shared_data(looked_files, looked_parts):
    gltf = pygltflib.GLTF2().load(looked_files["glb"])
    core, fringe = gltf.meshes[1].primitives
    assert vars(core.attributes) == vars(fringe.attributes) and core.indices == fringe.indices
    core_material, fringe_material = gltf.materials[core.material], gltf.materials[fringe.material]
    assert (core_material.alphaMode, core_material.alphaCutoff) == (pygltflib.MASK, 0.5)
    assert (fringe_material.alphaMode, fringe_material.alphaCutoff) == (pygltflib.BLEND, None)
    assert core_material.doubleSided and fringe_material.doubleSided
    assert (core_material.pbrMetallicRoughness.baseColorTexture.index
            == fringe_material.pbrMetallicRoughness.baseColorTexture.index)
    # Per-vertex occlusion (the tile's UVs repeat) rides on COLOR_0, grey, partly applied.
    colours = read_accessor(gltf, core.attributes.COLOR_0)
    strands = looked_parts[1]
    assert np.allclose(colours, colours[:, :1]) and colours.min() == pytest.approx(
        1 - IN_BASE_COLOUR)
    assert len(colours) >= len(strands.vertices)


def test_obj_names_the_normal_map_for_blender_babylon_and_three(looked_files):
    mtl = looked_files["mtl"].read_text().splitlines()
    assert "map_Bump head_normal.png" in mtl and "norm head_normal.png" in mtl
    assert looked_files["png_normal"].name == "head_normal.png"
    loaded = trimesh.load(looked_files["obj"], process=False, group_material=True)
    head = next(mesh for mesh in loaded.geometry.values() if mesh.visual.material.name == "head")
    # trimesh reads map_Kd only; the normal map is kept as the material's unparsed keys.
    assert head.visual.material.image.size == (SIZE, SIZE)
    assert head.visual.material.kwargs["map_bump"] == ["head_normal.png"]


def test_random_head_with_every_strand_part_is_clean(head_model, tmp_path):
    """A random head with hair, brows, lashes and a beard at a 256 px texture."""
    head = head_model.sample(torch.Generator().manual_seed(3)).with_styles(
        hair="afro01", facial_hair="goatee")
    parts = head_model.to_meshes(head, texture_size=256)
    assert {"hair", "eyebrows", "eyelashes", "facial_hair"} <= {p.name for p in parts}
    path = export_glb(parts, tmp_path / "head.glb")
    assert_clean(path)
    gltf = pygltflib.GLTF2().load(path)
    materials = {material.name: material for material in gltf.materials}
    for kind in ("hair", "eyebrows", "eyelashes", "facial_hair"):
        assert materials[kind].alphaMode == pygltflib.MASK
        assert materials[f"{kind}_fringe"].alphaMode == pygltflib.BLEND
        assert primitives_by_material(gltf)[kind].attributes.COLOR_0 is not None
    assert materials["head"].occlusionTexture is not None
    assert "KHR_materials_clearcoat" in materials["head_eyes"].extensions
    scene = trimesh.load(path, process=False)
    assert sum(len(g.faces) for g in scene.geometry.values()) == sum(
        len(p.faces) * (2 if p.cutout else 1) for p in parts)
