"""The GLB in Blender's own glTF importer (headless Blender, e.g. Debian's 3.4): the hair's
core is alpha-clipped and its fringe blended, the skin has its normal map and skin's IOR,
the eyes a full clear coat, per-vertex occlusion reaches the shader, every part keeps the 52
ARKit shape keys (+ Basis). Skipped where Blender is not installed."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from head_parts import hair, teeth

from text2head.export import export_glb

pytestmark = pytest.mark.slow
PROBE = Path(__file__).resolve().parent / "blender_gltf_probe.py"
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


@pytest.fixture(scope="module")
def imported(head_model, tmp_path_factory) -> dict:
    blender = shutil.which("blender")
    if blender is None:
        pytest.skip("blender is not installed (apt-get install blender python3-numpy)")
    head = head_model.to_mesh(head_model.neutral(), texture_size=64)
    strands = hair(head)
    strands = dataclasses.replace(strands, occlusion=np.linspace(
        0.2, 1, len(strands.vertices), dtype=np.float32))
    path = export_glb([head, strands, teeth(head)], tmp_path_factory.mktemp("blender") / "h.glb")
    # A Debian Blender takes the first python3.11 on PATH as its Python home: keep the test
    # interpreter's (pyenv, venv) off it, so that Blender finds the system's numpy.
    result = subprocess.run([blender, "-b", "--factory-startup", "--python", str(PROBE), "--",
                             str(path)], capture_output=True, text=True, timeout=300, check=False,
                            env={**os.environ, "PATH": SYSTEM_PATH})
    lines = [line for line in result.stdout.splitlines() if line.startswith("PROBE ")]
    assert result.returncode == 0 and lines, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(lines[0].removeprefix("PROBE "))


def test_blender_imports_soft_hair_glossy_eyes_and_skin_detail(imported):
    materials, meshes = imported["materials"], imported["meshes"]
    assert meshes["head"]["materials"] == ["head", "head_eyes"]
    assert meshes["hair"]["materials"] == ["hair", "hair_fringe"]
    assert all(mesh["shape_keys"] == 53 for mesh in meshes.values())
    core, fringe = materials["hair"], materials["hair_fringe"]
    assert (core["blend_method"], core["alpha_threshold"]) == ("CLIP", 0.5)
    assert fringe["blend_method"] == "BLEND"
    assert core["double_sided"] and fringe["double_sided"] and core["vertex_color"]
    skin, eyes = materials["head"], materials["head_eyes"]
    assert skin["normal_map"] and skin["ior"] == pytest.approx(1.4)
    assert eyes["clearcoat"] == 1.0 and eyes["clearcoat_roughness"] == pytest.approx(0.03)
    assert not eyes["normal_map"]
