"""Multi-part exports: the real head plus synthetic hair (RGBA cut-out) and teeth, all with the
52 ARKit morph targets, written as GLB (validated), OBJ (+MTL+PNGs) and PLY."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import numpy as np
import pygltflib
import pytest
import trimesh
from glb_data import read_accessor
from gltf_validator import assert_valid_glb, issue_lines
from head_parts import empty_part, hair, teeth
from PIL import Image
from test_export import fail_halfway, with_changes

from text2head.export import export_all, export_glb, export_obj, export_ply
from text2head.mesh import TexturedMesh
from text2head.occlusion_bake import base_colour_texture, base_colour_vertices

NAMES = ["head", "hair", "teeth"]
# Each part's primitives by material: the head's skin and eyes, the hair's core and fringe.
MATERIALS = {"head": ["head", "head_eyes"], "hair": ["hair", "hair_fringe"], "teeth": ["teeth"]}


@pytest.fixture(scope="module")
def parts(head_model) -> list[TexturedMesh]:
    head = head_model.to_mesh(head_model.neutral(), texture_size=64)
    return [head, hair(head), teeth(head)]


@pytest.fixture(scope="module")
def files(parts, tmp_path_factory) -> dict[str, Path]:
    """Exported with an empty facial hair part, which every format leaves out."""
    return export_all([*parts, empty_part(parts[0], "facial_hair")],
                      tmp_path_factory.mktemp("parts"), stem="head")


def test_written_files_and_keys(files):
    assert {key: path.name for key, path in files.items()} == {
        "glb": "head.glb", "obj": "head.obj", "mtl": "head.mtl", "png": "head.png",
        "png_hair": "head_hair.png", "png_teeth": "head_teeth.png", "ply": "head.ply",
        "png_normal": "head_normal.png"}
    assert sorted(os.listdir(files["glb"].parent)) == sorted(p.name for p in files.values())


# ---------------------------------------------------------------------------------------------
# GLB


def test_multi_part_glb_is_clean_for_the_khronos_validator(files):
    report = assert_valid_glb(files["glb"])
    issues = report["issues"]
    assert (issues["numWarnings"], issues["numInfos"], issues["numHints"]) == (0, 0, 0), (
        issue_lines(report, "warning") + issue_lines(report, "info")
        + issue_lines(report, "hint"))
    info = report["info"]
    assert (info["drawCallCount"], info["materialCount"]) == (5, 5)
    assert info["hasMorphTargets"] and info["hasTextures"]


def test_glb_has_one_node_mesh_and_material_per_part(files, parts):
    gltf = pygltflib.GLTF2().load(files["glb"])
    assert [node.name for node in gltf.nodes] == NAMES
    assert gltf.scenes[gltf.scene].nodes == [0, 1, 2]
    assert [gltf.meshes[node.mesh].name for node in gltf.nodes] == NAMES
    head = parts[0]
    for node, part in zip(gltf.nodes, parts, strict=True):
        mesh = gltf.meshes[node.mesh]
        first = mesh.primitives[0]
        assert first.attributes.COLOR_0 is None, part.name  # the texture is the albedo
        assert len(first.targets) == 52
        assert mesh.extras["targetNames"] == list(head.morph_names)
        assert mesh.weights == pytest.approx(head.morph_weights.tolist())
        assert [gltf.materials[p.material].name for p in mesh.primitives] == MATERIALS[
            part.name]
        for primitive in mesh.primitives:  # one set of vertex data and targets per part
            # The same accessors; only the skin, which has the normal map, takes TANGENT.
            assert {**vars(primitive.attributes), "TANGENT": None} == {
                **vars(first.attributes), "TANGENT": None}
            assert primitive.targets == first.targets
            material = gltf.materials[primitive.material]
            texture = gltf.textures[material.pbrMetallicRoughness.baseColorTexture.index]
            view = gltf.bufferViews[gltf.images[texture.source].bufferView]
            png = Image.open(io.BytesIO(
                gltf.binary_blob()[view.byteOffset:view.byteOffset + view.byteLength]))
            assert png.mode == ("RGBA" if part.cutout else "RGB")
            np.testing.assert_array_equal(np.asarray(png), base_colour_texture(part))
    materials = {material.name: material for material in gltf.materials}
    assert (materials["hair"].alphaMode, materials["hair"].alphaCutoff,
            materials["hair"].doubleSided) == (pygltflib.MASK, 0.5, True)
    assert (materials["hair_fringe"].alphaMode, materials["hair_fringe"].alphaCutoff,
            materials["hair_fringe"].doubleSided) == (pygltflib.BLEND, None, True)
    for name in ("head", "head_eyes", "teeth"):
        assert (materials[name].alphaMode, materials[name].alphaCutoff,
                materials[name].doubleSided) == (pygltflib.OPAQUE, None, False)


def test_glb_parts_keep_their_own_geometry_and_morph_deltas(files, parts):
    """Each part's split vertices pair its own positions with its own jawOpen deltas."""
    gltf = pygltflib.GLTF2().load(files["glb"])
    jaw = parts[0].morph_names.index("jawOpen")
    for node, part in zip(gltf.nodes, parts, strict=True):
        primitives = gltf.meshes[node.mesh].primitives
        primitive = primitives[0]
        written = np.column_stack([read_accessor(gltf, primitive.attributes.POSITION),
                                   read_accessor(gltf, primitive.targets[jaw]["POSITION"])])
        used = np.unique(part.faces)
        expected = np.column_stack([part.vertices[used], part.morph_deltas[jaw][used]])
        np.testing.assert_array_equal(np.unique(written, axis=0), np.unique(expected, axis=0))
        # Every face once over the part's distinct index lists (core and fringe share one).
        indices = {p.indices for p in primitives}
        assert sum(gltf.accessors[i].count for i in indices) == 3 * len(part.faces)


def test_glb_loads_in_trimesh_as_a_scene_of_parts(files, parts):
    """trimesh makes a geometry of each primitive ("hair", "hair_1", ...): the head's faces
    split between skin and eyes, a cut-out part's faces twice (core and fringe)."""
    scene = trimesh.load(files["glb"], process=False)
    assert isinstance(scene, trimesh.Scene)
    faces: dict[str, int] = {}
    for name, mesh in scene.geometry.items():
        part = re.sub(r"_\d+$", "", name)
        faces[part] = faces.get(part, 0) + len(mesh.faces)
    assert faces == {part.name: len(part.faces) * (2 if part.cutout else 1) for part in parts}


def test_single_mesh_glb_is_one_node(parts, tmp_path):
    gltf = pygltflib.GLTF2().load(export_glb(parts[1], tmp_path / "hair.glb"))
    assert [node.name for node in gltf.nodes] == ["hair"] and len(gltf.meshes) == 1


# ---------------------------------------------------------------------------------------------
# OBJ and PLY


def test_obj_has_a_block_and_material_per_part(files, parts):
    text = files["obj"].read_text()
    blocks = text.split("\no ")[1:]
    assert [block.split("\n", 1)[0] for block in blocks] == NAMES
    assert [line for line in text.splitlines() if line.startswith("usemtl")] == [
        "usemtl head", "usemtl head_hair", "usemtl head_teeth"]
    mtl = files["mtl"].read_text()
    assert [line for line in mtl.splitlines() if line.startswith(("newmtl", "map_"))] == [
        "newmtl head", "map_Kd head.png", "map_Bump head_normal.png",
        "newmtl head_hair", "map_Kd head_hair.png", "map_d head_hair.png",
        "newmtl head_teeth", "map_Kd head_teeth.png"]
    assert Image.open(files["png_hair"]).mode == "RGBA"
    assert Image.open(files["png"]).mode == "RGB"


def test_obj_loads_in_trimesh_with_every_part(files, parts):
    merged = trimesh.load(files["obj"], force="mesh", process=False)
    assert len(merged.faces) == sum(len(part.faces) for part in parts)
    scene = trimesh.load(files["obj"], process=False, group_material=True)
    assert sorted(len(mesh.faces) for mesh in scene.geometry.values()) == sorted(
        len(part.faces) for part in parts)
    hair_mesh = next(mesh for mesh in scene.geometry.values()
                     if len(mesh.faces) == len(parts[1].faces))
    np.testing.assert_allclose(hair_mesh.vertices[hair_mesh.faces],
                               parts[1].vertices[parts[1].faces], atol=1e-6)
    assert hair_mesh.visual.material.image.mode == "RGBA"


def test_ply_merges_all_parts(files, parts):
    ply = trimesh.load(files["ply"], process=False)
    assert len(ply.faces) == sum(len(part.faces) for part in parts)
    assert len(ply.vertices) == sum(len(part.vertices) for part in parts)
    np.testing.assert_array_equal(ply.vertices[ply.faces], np.concatenate(
        [part.vertices[part.faces] for part in parts]))
    np.testing.assert_array_equal(  # darkened by the head's occlusion, as in the GLB
        ply.visual.vertex_colors[:, :3],
        np.round(np.concatenate([base_colour_vertices(part) for part in parts]) * 255))


def test_obj_with_parts_is_all_or_nothing(parts, tmp_path, monkeypatch):
    fail_halfway(monkeypatch, fail_on_call=5)  # obj, mtl, head and hair PNGs; teeth PNG fails
    with pytest.raises(OSError, match="simulated"):
        export_obj(parts, tmp_path / "head.obj")
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# Bad input


def renamed(part: TexturedMesh, name: str) -> TexturedMesh:
    return with_changes(part, name=name)


@pytest.mark.parametrize(("make", "error", "message"), [
    (lambda p: [p[0], p[1], renamed(p[2], "hair")], ValueError, "'hair' appears 2 times"),
    (lambda p: [p[0], with_changes(p[1], morph_names=p[1].morph_names[::-1])], ValueError,
     "part 'hair' must have the same morph target names in the same order as part 'head': "
     r"52 vs 52 names, first difference at index 0"),
    (lambda p: [p[0], with_changes(p[1], morph_names=p[1].morph_names[:51],
                                   morph_deltas=p[1].morph_deltas[:51],
                                   morph_weights=p[1].morph_weights[:51])], ValueError,
     r"52 vs 51 names, first difference at index 51: \['tongueOut'\] vs \[\]"),
    (lambda p: [p[0], with_changes(p[1], morph_weights=p[1].morph_weights + 0.5)], ValueError,
     "part 'hair' has other default morph weights than part 'head'"),
    (lambda p: [empty_part(p[0], "hair"), empty_part(p[0], "teeth")], ValueError,
     "no part has faces"),
    (lambda p: [p[0], "hair"], TypeError, "expected a TexturedMesh, got str"),
    (lambda p: [], ValueError, "no part has faces"),
    (lambda p: iter(p), TypeError, "expected a TexturedMesh or a sequence of them"),
], ids=["duplicate-name", "reordered-morphs", "missing-morph", "other-weights", "all-empty",
        "not-a-mesh", "no-parts", "iterator"])
def test_bad_parts_are_rejected_before_writing(parts, make, error, message, tmp_path):
    for call in (lambda: export_glb(make(parts), tmp_path / "m.glb"),
                 lambda: export_obj(make(parts), tmp_path / "m.obj"),
                 lambda: export_ply(make(parts), tmp_path / "m.ply"),
                 lambda: export_all(make(parts), tmp_path / "all")):
        with pytest.raises(error, match=message):
            call()
    assert os.listdir(tmp_path) == []


def test_export_all_checks_the_obj_name_before_writing_anything(parts, tmp_path):
    with pytest.raises(ValueError, match="whitespace"):
        export_all(parts, tmp_path, stem="my head")
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# TexturedMesh names and RGBA textures


@pytest.mark.parametrize("name", ["", "my hair", "hair.png", "../hair", "haïr", "hair\n", 3])
def test_bad_part_name_is_rejected(parts, name):
    with pytest.raises(ValueError, match="name must be letters, digits"):
        renamed(parts[1], name)


def test_texture_channels(parts):
    assert parts[1].cutout and not parts[0].cutout
    assert renamed(parts[1], "facial_hair-2").name == "facial_hair-2"
    with pytest.raises(ValueError, match=r"\(H, W, 3\) or \(H, W, 4\) uint8"):
        with_changes(parts[1], texture=np.zeros((4, 4, 2), np.uint8))
