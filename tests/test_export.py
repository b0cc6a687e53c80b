"""Exporters: GLB validity (Khronos validator), round trips through trimesh/pygltflib, atomicity."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pygltflib
import pytest
import trimesh
from glb_data import read_accessor
from gltf_validator import assert_valid_glb, issue_lines, validate_glb

from text2head.export import export_all, export_glb, export_obj, export_ply
from text2head.io import atomic_paths, atomic_write, write_text_atomic
from text2head.mesh import TexturedMesh

RADIUS = 0.1
MORPH_NAMES = ["jawOpen", "mouthSmileLeft"]
MORPH_WEIGHTS = [0.0, 0.25]


# ---------------------------------------------------------------------------------------------
# Synthetic meshes


def uv_sphere(rings: int = 6, segments: int = 8) -> TexturedMesh:
    """Latitude/longitude sphere whose UVs have a seam at u=0/1 and fan out at both poles.

    Vertex rows: north pole, `rings` rings of `segments` vertices, south pole. Ring i sits
    at polar angle theta = pi * (i + 1) / (rings + 1) and has OBJ v = 1 - theta / pi.
    """
    theta = np.pi * np.arange(1, rings + 1) / (rings + 1)
    phi = 2 * np.pi * np.arange(segments) / segments
    ring_points = np.stack([np.sin(theta)[:, None] * np.sin(phi),
                            np.cos(theta)[:, None] * np.ones_like(phi),
                            np.sin(theta)[:, None] * np.cos(phi)], axis=-1).reshape(-1, 3)
    unit = np.concatenate([[[0, 1, 0]], ring_points, [[0, -1, 0]]])
    south = len(unit) - 1

    def ring_vertex(i: int, j: int) -> int:
        return 1 + i * segments + j % segments

    def ring_uv(i: int, j: int) -> tuple[float, float]:
        return j / segments, 1 - (i + 1) / (rings + 1)

    faces, uvs = [], []
    for j in range(segments):
        pole_u = (j + 0.5) / segments
        faces.append([0, ring_vertex(0, j), ring_vertex(0, j + 1)])
        uvs.append([(pole_u, 1.0), ring_uv(0, j), ring_uv(0, j + 1)])
        last = rings - 1
        faces.append([south, ring_vertex(last, j + 1), ring_vertex(last, j)])
        uvs.append([(pole_u, 0.0), ring_uv(last, j + 1), ring_uv(last, j)])
        for i in range(rings - 1):
            a, b = ring_vertex(i, j), ring_vertex(i, j + 1)
            c, d = ring_vertex(i + 1, j), ring_vertex(i + 1, j + 1)
            faces += [[a, c, d], [a, d, b]]
            uvs += [[ring_uv(i, j), ring_uv(i + 1, j), ring_uv(i + 1, j + 1)],
                    [ring_uv(i, j), ring_uv(i + 1, j + 1), ring_uv(i, j + 1)]]
    vertices = (RADIUS * unit).astype(np.float32)
    return TexturedMesh(
        vertices=vertices,
        faces=np.array(faces, dtype=np.int32),
        corner_uvs=np.array(uvs, dtype=np.float32),
        normals=unit.astype(np.float32),
        vertex_colors=sphere_colors(vertices),
        texture=np.random.default_rng(0).integers(0, 256, (16, 32, 3), dtype=np.uint8),
        morph_names=list(MORPH_NAMES),
        morph_deltas=np.stack([jaw_open_delta(vertices), smile_delta(vertices)]),
        morph_weights=np.array(MORPH_WEIGHTS, dtype=np.float32),
    )


def sphere_split_vertex_count(rings: int, segments: int) -> int:
    """Seam vertices appear twice (u=0 and u=1), each pole once per segment."""
    return rings * (segments + 1) + 2 * segments


def sphere_colors(positions: np.ndarray) -> np.ndarray:
    return (0.5 + 0.5 * positions / RADIUS).astype(np.float32)


def jaw_open_delta(positions: np.ndarray) -> np.ndarray:
    return np.where(positions[:, 1:2] < 0, [[0.0, -0.01, 0.005]], 0.0).astype(np.float32)


def smile_delta(positions: np.ndarray) -> np.ndarray:
    return np.where(positions[:, 0:1] > 0, [[0.002, 0.003, 0.0]], 0.0).astype(np.float32)


def edge_case_mesh() -> TexturedMesh:
    """No morph targets, a degenerate triangle, an unused vertex, a 1x1 texture, and
    slightly non-unit normals and out-of-range colours that exporters must clean up."""
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [5, 5, 5]], dtype=np.float32)
    return TexturedMesh(
        vertices=vertices,
        faces=np.array([[0, 1, 2], [0, 0, 1]], dtype=np.int32),
        corner_uvs=np.array([[[0, 0], [1, 0], [0, 1]], [[0, 0], [0, 0], [1, 0]]],
                            dtype=np.float32),
        normals=np.array([[0, 0, 1.01]] * 4, dtype=np.float32),
        vertex_colors=np.array([[1.2, 0.5, -0.1]] * 4, dtype=np.float32),
        texture=np.full((1, 1, 3), 200, dtype=np.uint8),
    )


def with_changes(mesh: TexturedMesh, **changes) -> TexturedMesh:
    fields = {name: getattr(mesh, name) for name in mesh.__dataclass_fields__}
    return TexturedMesh(**{**fields, **changes})


@pytest.fixture(scope="module")
def sphere() -> TexturedMesh:
    return uv_sphere()


@pytest.fixture(scope="module")
def sphere_files(sphere, tmp_path_factory) -> dict[str, Path]:
    return export_all(sphere, tmp_path_factory.mktemp("sphere"))


# ---------------------------------------------------------------------------------------------
# GLB


@pytest.mark.parametrize(("rings", "segments"), [(6, 8), (181, 360)],
                         ids=["uint16-indices", "uint32-indices"])
def test_glb_passes_khronos_validator(rings, segments, tmp_path):
    path = export_glb(uv_sphere(rings, segments), tmp_path / "sphere.glb")
    report = assert_valid_glb(path)
    print(f"validator warnings: {issue_lines(report, 'warning')}, "
          f"infos: {issue_lines(report, 'info')}")
    assert report["issues"]["numWarnings"] == 0
    assert report["info"]["hasMorphTargets"] and report["info"]["hasTextures"]
    assert report["info"]["totalVertexCount"] == sphere_split_vertex_count(rings, segments)


def test_glb_edge_case_mesh_is_valid(tmp_path):
    report = assert_valid_glb(export_glb(edge_case_mesh(), tmp_path / "edge.glb"))
    print(f"validator warnings: {issue_lines(report, 'warning')}, "
          f"infos: {issue_lines(report, 'info')}")
    gltf = pygltflib.GLTF2().load(tmp_path / "edge.glb")
    assert not gltf.meshes[0].primitives[0].targets
    assert not gltf.meshes[0].weights


def test_glb_structure_and_material(sphere_files, sphere):
    gltf = pygltflib.GLTF2().load(sphere_files["glb"])
    (primitive,) = gltf.meshes[0].primitives
    attributes = primitive.attributes
    for name in ("POSITION", "NORMAL", "TEXCOORD_0"):
        assert getattr(attributes, name) is not None, name
    assert attributes.COLOR_0 is None  # the texture alone carries the albedo
    assert gltf.accessors[primitive.indices].count == 3 * len(sphere.faces)
    material = gltf.materials[primitive.material]
    pbr = material.pbrMetallicRoughness
    assert (pbr.metallicFactor, pbr.roughnessFactor, material.doubleSided) == (0.0, 0.6, False)
    image = gltf.images[gltf.textures[pbr.baseColorTexture.index].source]
    assert image.mimeType == "image/png" and image.bufferView is not None and image.uri is None


def test_glb_morph_targets_names_and_weights(sphere_files):
    gltf = pygltflib.GLTF2().load(sphere_files["glb"])
    mesh = gltf.meshes[0]
    assert mesh.extras["targetNames"] == MORPH_NAMES
    assert mesh.weights == pytest.approx(MORPH_WEIGHTS)
    positions = read_accessor(gltf, mesh.primitives[0].attributes.POSITION)
    expected = [jaw_open_delta(positions), smile_delta(positions)]
    assert len(mesh.primitives[0].targets) == len(expected)
    for target, delta in zip(mesh.primitives[0].targets, expected, strict=True):
        np.testing.assert_array_equal(read_accessor(gltf, target["POSITION"]), delta)


def test_glb_vertex_data_is_gathered_and_converted(sphere_files):
    """Split vertices carry their source vertex's data; UV v is flipped."""
    gltf = pygltflib.GLTF2().load(sphere_files["glb"])
    attributes = gltf.meshes[0].primitives[0].attributes
    positions = read_accessor(gltf, attributes.POSITION)
    np.testing.assert_allclose(read_accessor(gltf, attributes.NORMAL), positions / RADIUS,
                               atol=1e-6)
    polar_angle = np.arccos(np.clip(positions[:, 1] / RADIUS, -1, 1))
    np.testing.assert_allclose(read_accessor(gltf, attributes.TEXCOORD_0)[:, 1],
                               polar_angle / np.pi, atol=1e-5)


def test_glb_loads_in_trimesh_with_seams_split(sphere_files, sphere):
    loaded = trimesh.load(sphere_files["glb"], force="mesh", process=False)
    assert len(loaded.faces) == len(sphere.faces)
    assert len(loaded.vertices) == sphere_split_vertex_count(6, 8)
    np.testing.assert_allclose(np.unique(loaded.vertices.round(6), axis=0),
                               np.unique(sphere.vertices.round(6), axis=0))


# ---------------------------------------------------------------------------------------------
# OBJ and PLY


def test_obj_writes_trio_that_loads_with_texture(sphere_files, sphere):
    assert {sphere_files[key].name for key in ("obj", "mtl", "png")} == {
        "head.obj", "head.mtl", "head.png"}
    loaded = trimesh.load(sphere_files["obj"], force="mesh", process=False)
    assert len(loaded.faces) == len(sphere.faces)
    np.testing.assert_allclose(np.unique(loaded.vertices.round(6), axis=0),
                               np.unique(sphere.vertices.round(6), axis=0))
    assert loaded.visual.material.image.size == (32, 16)
    assert "map_Kd head.png" in sphere_files["mtl"].read_text()


def test_obj_lines_carry_colours_normals_and_uvs(sphere_files, sphere):
    lines = sphere_files["obj"].read_text().splitlines()
    rows = {key: [line.split()[1:] for line in lines if line.split()[0] == key]
            for key in ("v", "vt", "vn", "f")}
    vertex_rows = np.array(rows["v"], dtype=float)
    np.testing.assert_allclose(vertex_rows[:, :3], sphere.vertices, atol=1e-6)
    np.testing.assert_allclose(vertex_rows[:, 3:], sphere.vertex_colors, atol=1e-6)
    assert len(rows["vn"]) == len(sphere.vertices)
    corners = np.array([[c.split("/") for c in face] for face in rows["f"]], dtype=int)
    np.testing.assert_array_equal(corners[..., 0] - 1, sphere.faces)
    uvs = np.array(rows["vt"], dtype=float)[corners[..., 1] - 1]
    np.testing.assert_allclose(uvs, sphere.corner_uvs, atol=1e-6)
    assert lines[1] == "mtllib head.mtl" and "usemtl head" in lines


def test_ply_is_binary_with_rgb_colours_and_normals(sphere_files, sphere):
    header = sphere_files["ply"].read_bytes().split(b"end_header\n")[0].decode()
    assert "format binary_little_endian 1.0" in header
    assert "property uchar red" in header and "alpha" not in header
    assert "property float nx" in header
    loaded = trimesh.load(sphere_files["ply"], process=False)
    np.testing.assert_array_equal(loaded.vertices, sphere.vertices)
    np.testing.assert_array_equal(loaded.faces, sphere.faces)
    np.testing.assert_array_equal(loaded.visual.vertex_colors[:, :3],
                                  np.round(sphere.vertex_colors * 255).astype(np.uint8))
    np.testing.assert_allclose(loaded.vertex_normals, sphere.normals, atol=1e-6)


def test_edge_case_mesh_exports_everywhere(tmp_path):
    mesh = edge_case_mesh()
    paths = export_all(mesh, tmp_path / "new" / "folder", stem="edge")
    assert sorted(path.name for path in paths.values()) == [
        "edge.glb", "edge.mtl", "edge.obj", "edge.ply", "edge.png"]
    ply = trimesh.load(paths["ply"], process=False)
    assert (len(ply.vertices), len(ply.faces)) == (4, 2)
    assert ply.visual.vertex_colors[0, :3].tolist() == [255, 128, 0]  # clipped to [0, 1]
    np.testing.assert_allclose(ply.vertex_normals[0], [0, 0, 1], atol=1e-7)


# ---------------------------------------------------------------------------------------------
# Atomic writes


def fail_halfway(monkeypatch, fail_on_call: int = 1) -> None:
    """Make the n-th Path.write_bytes write half its data and then raise."""
    original = Path.write_bytes
    calls = []

    def flaky(self: Path, data: bytes) -> int:
        calls.append(self)
        if len(calls) == fail_on_call:
            original(self, data[: len(data) // 2])
            raise OSError("disk full (simulated)")
        return original(self, data)

    monkeypatch.setattr(Path, "write_bytes", flaky)


@pytest.mark.parametrize("exporter", [export_glb, export_ply], ids=["glb", "ply"])
def test_failed_write_keeps_old_file_and_leaves_no_temporary(exporter, sphere, tmp_path,
                                                             monkeypatch):
    path = tmp_path / f"head.{exporter.__name__.removeprefix('export_')}"
    path.write_bytes(b"previous good file")
    fail_halfway(monkeypatch)
    with pytest.raises(OSError, match="simulated"):
        exporter(sphere, path)
    assert os.listdir(tmp_path) == [path.name]
    assert path.read_bytes() == b"previous good file"


def test_obj_trio_is_all_or_nothing(sphere, tmp_path, monkeypatch):
    fail_halfway(monkeypatch, fail_on_call=3)  # obj and mtl written, png fails
    with pytest.raises(OSError, match="simulated"):
        export_obj(sphere, tmp_path / "head.obj")
    assert os.listdir(tmp_path) == []


def test_atomic_write_success_and_permissions(tmp_path):
    path = write_text_atomic(tmp_path / "params.json", "{}\n")
    assert path.read_text() == "{}\n" and os.listdir(tmp_path) == ["params.json"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_atomic_paths_cleans_up_on_exception(tmp_path):
    with pytest.raises(RuntimeError), atomic_paths([tmp_path / "a.txt", tmp_path / "b.png"]) as (
            first, second):
        first.write_text("a")
        assert second.suffix == ".png" and second.parent == tmp_path
        raise RuntimeError("writer crashed")
    assert os.listdir(tmp_path) == []


def test_atomic_write_names_missing_folder(tmp_path):
    missing = tmp_path / "does-not-exist"
    with pytest.raises(FileNotFoundError, match=f"output folder {missing}"), atomic_write(
            missing / "x.json"):
        pass


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only folders")
def test_export_names_unwritable_folder(sphere, tmp_path):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match=f"output folder {tmp_path}"):
            export_glb(sphere, tmp_path / "head.glb")
    finally:
        tmp_path.chmod(0o700)


# ---------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(("changes", "message"), [
    ({"faces": np.zeros((0, 3), np.int32), "corner_uvs": np.zeros((0, 3, 2), np.float32)},
     "no part has faces"),
    ({"normals": np.zeros((4, 3), np.float32)}, "4 normals have zero length"),
    ({"morph_names": ["a", "a"], "morph_deltas": np.zeros((2, 4, 3), np.float32),
      "morph_weights": np.zeros(2, np.float32)}, "unique"),
    ({"morph_names": ["a"], "morph_deltas": np.full((1, 4, 3), np.nan, np.float32),
      "morph_weights": np.zeros(1, np.float32)}, "morph_deltas contains NaN"),
    ({"texture": np.zeros((0, 4, 3), np.uint8)}, "texture is empty"),
], ids=["no-faces", "zero-normals", "duplicate-morph-names", "nan-morphs", "empty-texture"])
def test_bad_mesh_is_rejected_before_writing(changes, message, tmp_path):
    mesh = with_changes(edge_case_mesh(), **changes)
    for exporter, name in [(export_glb, "m.glb"), (export_obj, "m.obj"), (export_ply, "m.ply")]:
        with pytest.raises(ValueError, match=message):
            exporter(mesh, tmp_path / name)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(("call", "message"), [
    (lambda mesh, folder: export_glb(mesh, folder / "head.gltf"), "expected a .glb path"),
    (lambda mesh, folder: export_obj(mesh, folder / "my head.obj"), "whitespace"),
    (lambda mesh, folder: export_all(mesh, folder, stem="a/b"), "plain file name"),
    (lambda mesh, folder: export_all(mesh, folder, stem=""), "plain file name"),
])
def test_bad_paths_are_rejected(call, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        call(edge_case_mesh(), tmp_path)
    assert os.listdir(tmp_path) == []


def test_non_mesh_input_is_rejected(tmp_path):
    with pytest.raises(TypeError, match="TexturedMesh"):
        export_ply({"vertices": []}, tmp_path / "x.ply")


# ---------------------------------------------------------------------------------------------
# The validator helper itself


def test_validator_reports_errors_for_a_broken_glb(sphere_files, tmp_path):
    broken = tmp_path / "broken.glb"
    broken.write_bytes(sphere_files["glb"].read_bytes()[:-64])
    assert validate_glb(broken)["issues"]["numErrors"] > 0
    with pytest.raises(AssertionError, match="error"):
        assert_valid_glb(broken)


def test_validator_fails_loudly_when_not_installed(sphere_files, tmp_path, monkeypatch):
    import gltf_validator

    monkeypatch.setattr(gltf_validator, "JS_DIR", tmp_path)
    with pytest.raises(pytest.fail.Exception, match="npm ci --prefix tests/js"):
        validate_glb(sphere_files["glb"])
