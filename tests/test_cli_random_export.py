"""`text2head random` and `text2head export`: every file written, valid, and reproducible."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import trimesh
from gltf_validator import assert_valid_glb
from pygltflib import GLTF2

from text2head.cli import main

FILES = ("head.glb", "head.obj", "head.mtl", "head.png", "head_normal.png", "head.ply",
         "params.json", "preview.png")


@pytest.fixture(scope="module")
def random_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("random")
    assert main(["random", "--seed", "1", "--out", str(out), "--texture-size", "256"]) == 0
    return out


def test_random_writes_every_file(random_out):
    styles = json.loads((random_out / "params.json").read_text())["styles"]
    part_textures = {f"head_{kind}.png" for kind, style in styles.items()
                     if style != "none" and kind != "teeth"} | {"head_teeth.png"}
    for name in (*FILES, *part_textures):
        assert (random_out / name).stat().st_size > 0, name
    expected = set(FILES) | part_textures
    assert not [p for p in random_out.iterdir() if p.name not in expected]  # no temporaries


def test_export_rebuilds_identical_meshes(random_out, tmp_path):
    assert main(["export", str(random_out / "params.json"), "--out", str(tmp_path),
                 "--texture-size", "256"]) == 0
    for name in ("head.glb", "head.obj", "head.ply", "head.png"):
        assert (random_out / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_exported_files_load_back(random_out, head_model):
    head = head_model.from_json((random_out / "params.json").read_text())
    parts = head_model.to_meshes(head, texture_size=8)
    n_faces = sum(len(part.faces) for part in parts)
    n_vertices = sum(len(part.vertices) for part in parts)
    glb = trimesh.load(random_out / "head.glb", force="mesh")
    obj = trimesh.load(random_out / "head.obj", force="mesh", process=False)
    ply = trimesh.load(random_out / "head.ply", process=False)
    assert len(ply.vertices) == n_vertices and len(ply.faces) == n_faces
    # The GLB draws each cut-out part twice (an alpha-tested core and a blended fringe).
    assert len(glb.faces) == n_faces + sum(len(part.faces) for part in parts if part.cutout)
    assert len(obj.faces) == n_faces
    for mesh in (glb, obj):
        # Seams split vertices, but the set of positions is the parts'.
        assert len(np.unique(mesh.vertices.round(6), axis=0)) <= n_vertices
        assert np.allclose(mesh.bounds, ply.bounds, atol=1e-5)


def test_glb_is_valid_and_animatable(random_out, head_model):
    assert_valid_glb(random_out / "head.glb")
    gltf = GLTF2().load(str(random_out / "head.glb"))
    mesh = gltf.meshes[0]
    assert mesh.extras["targetNames"] == head_model.specs["expression"].names
    assert len(mesh.primitives[0].targets) == 52
    params = json.loads((random_out / "params.json").read_text())
    expected = [params["expression"][name] for name in mesh.extras["targetNames"]]
    assert np.allclose(mesh.weights, expected, atol=1e-6)
    assert mesh.primitives[0].attributes.COLOR_0 is None  # the texture alone is the albedo


def test_morph_targets_reproduce_the_decoded_head(head_model, generator):
    head = head_model.sample(generator)
    head.expression[0, :10] = 0.6
    mesh = head_model.to_mesh(head, texture_size=64)
    rebuilt = mesh.vertices + np.einsum("k,kvc->vc", mesh.morph_weights, mesh.morph_deltas)
    decoded = head_model.decode(head).vertices[0].numpy()
    assert np.abs(rebuilt - decoded).max() < 1e-5


@pytest.mark.parametrize("extreme", ["low", "high"])
def test_extreme_heads_export_valid_glb(head_model, tmp_path, extreme):
    from text2head.export import export_glb

    head = head_model.neutral()
    for name, spec in head_model.specs.items():
        bound = spec.column("low" if extreme == "low" else "high")
        head = head.with_group(name, bound[None].clone())
    head.texture = tuple(torch.full_like(t, 3.0 if extreme == "high" else -3.0)
                         for t in head.texture)
    path = export_glb(head_model.to_mesh(head, texture_size=128), tmp_path / "extreme.glb")
    assert_valid_glb(path)
    assert len(trimesh.load(path, force="mesh").faces) == len(head_model.faces)


def test_export_rejects_missing_and_bad_files(tmp_path, capsys):
    assert main(["export", str(tmp_path / "none.json"), "--out", str(tmp_path / "o")]) == 2
    assert "parameter file not found" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "text2head.params/1", "identity": {"agee": 1}}))
    assert main(["export", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "bad.json: unknown parameter(s) in identity: 'agee'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # nothing written, not even the folder


def test_output_path_that_is_a_file(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["random", "--out", str(blocker)]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_runtime_never_imports_anny():
    code = ("import sys; from text2head.heads import HeadModel; HeadModel(); "
            "import text2head.cli; assert 'anny' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_style_option_fixes_parts_and_names_known_styles(tmp_path, capsys):
    out = tmp_path / "styled"
    assert main(["random", "--seed", "2", "--style", "hair=mohawk", "--out", str(out)]) == 2
    assert "unknown hair style 'mohawk'; known: none, buzz, afro01" in capsys.readouterr().err
    assert not out.exists()
    assert main(["random", "--seed", "2", "--style", "hair=afro01", "--style",
                 "facial_hair=goatee", "--out", str(out), "--texture-size", "64"]) == 0
    styles = json.loads((out / "params.json").read_text())["styles"]
    assert (styles["hair"], styles["facial_hair"]) == ("afro01", "goatee")
    nodes = {node.name for node in GLTF2().load(str(out / "head.glb")).nodes}
    assert {"head", "hair", "eyebrows", "eyelashes", "teeth", "facial_hair"} <= nodes
    assert_valid_glb(out / "head.glb")


def test_most_random_heads_have_hair_brows_lashes_and_teeth(head_model):
    kinds = [set(head_model.decode(head_model.sample(torch.Generator().manual_seed(seed))).parts)
             for seed in range(20)]
    with_all = sum({"hair", "eyebrows", "eyelashes", "teeth"} <= k for k in kinds)
    assert with_all >= 14
