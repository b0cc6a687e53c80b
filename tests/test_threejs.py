"""A multi-part GLB in three.js (npm `three`, in tests/js) in headless Chromium: the parts load
as named meshes with the same 52 morph targets and the intended materials, and WebGL
(SwiftShader, no GPU needed) draws the head and moves every part when jawOpen changes.

Renders go to the test's tmp folder (threejs-jaw-*.png).
"""

from __future__ import annotations

import base64
import dataclasses

import numpy as np
import pytest
from head_parts import hair, teeth
from PIL import Image
from threejs_page import probe_page

from text2head.export import export_glb

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def parts(head_model):
    """The real head (occlusion, eyes, detail normal map) with synthetic hair, given
    per-vertex occlusion as the model's strand parts have, and teeth."""
    head = head_model.to_mesh(head_model.neutral(), texture_size=256)
    strands = hair(head)
    occlusion = np.linspace(0.2, 1, len(strands.vertices), dtype=np.float32)
    return [head, dataclasses.replace(strands, occlusion=occlusion), teeth(head)]


@pytest.fixture(scope="module")
def page(parts, tmp_path_factory):
    """The probe page with the exported GLB loaded (window.probe set)."""
    with probe_page(export_glb(parts, tmp_path_factory.mktemp("threejs") / "head.glb")) as page:
        yield page


def render(page, influences: dict[str, float]) -> np.ndarray:
    """One frame as (H, W, 4) uint8, top row first."""
    size = page.evaluate("window.probe.size")
    pixels = base64.b64decode(page.evaluate("(i) => window.renderWith(i)", influences))
    return np.frombuffer(pixels, np.uint8).reshape(size, size, 4)[::-1]


def test_parts_load_as_meshes_with_shared_morph_targets_and_materials(page, parts):
    """One three.js mesh per primitive: the head's skin and eyes, the hair's alpha-tested
    core and blended fringe (drawn after opaque objects, not writing depth), the teeth."""
    meshes = page.evaluate("window.probe.meshes")
    assert [(mesh["part"], mesh["material"]) for mesh in meshes] == [
        ("head", "head"), ("head", "head_eyes"), ("hair", "hair"), ("hair", "hair_fringe"),
        ("teeth", "teeth")]
    cutout = {part.name: part.cutout for part in parts}
    for mesh in meshes:
        name = mesh["material"]
        assert mesh["morphNames"] == list(parts[0].morph_names), name  # same names, order
        assert mesh["morphInfluences"] == 52
        assert mesh["hasMap"], name
        assert mesh["doubleSided"] == cutout[mesh["part"]], name
        assert mesh["vertexColors"] == (mesh["part"] == "hair"), name  # its occlusion
    by_material = {mesh["material"]: mesh for mesh in meshes}
    core, fringe = by_material["hair"], by_material["hair_fringe"]
    assert core["alphaTest"] == 0.5 and not core["transparent"] and core["depthWrite"]
    assert fringe["alphaTest"] == 0 and fringe["transparent"] and not fringe["depthWrite"]
    skin, eyes = by_material["head"], by_material["head_eyes"]
    assert skin["hasNormalMap"] and skin["hasTangents"] and skin["hasAoMap"]
    assert skin["ior"] == pytest.approx(1.4)
    assert eyes["hasAoMap"] and not eyes["hasNormalMap"] and not eyes["hasTangents"]
    assert eyes["clearcoat"] == 1 and eyes["clearcoatRoughness"] == pytest.approx(0.03)
    assert eyes["roughness"] < skin["roughness"]
    assert all(mesh["alphaTest"] == 0 for mesh in (skin, eyes, by_material["teeth"]))


def test_webgl_draws_the_head_and_jaw_open_moves_it(page, tmp_path):
    background = page.evaluate("window.probe.background")
    closed, again = render(page, {"jawOpen": 0.0}), render(page, {"jawOpen": 0.0})
    opened = render(page, {"jawOpen": 1.0})
    for name, frame in (("closed", closed), ("open", opened)):
        Image.fromarray(frame).save(tmp_path / f"threejs-jaw-{name}.png")
    drawn = (closed[..., :3] != np.array([background >> 16, background >> 8 & 255,
                                          background & 255])).any(axis=2)
    size = len(drawn)
    centre = drawn[3 * size // 8: 5 * size // 8, 3 * size // 8: 5 * size // 8]
    assert centre.all(), f"only {centre.mean():.0%} of the centre shows the head"
    assert drawn.mean() < 0.9, "the head fills the whole frame: camera or background is off"
    np.testing.assert_array_equal(closed, again)  # deterministic, so a difference is the morph
    changed = (opened != closed).any(axis=2)
    assert changed.sum() > 100, f"jawOpen changed only {changed.sum()} pixels"
    lower_half = changed[size // 2:].sum() / changed.sum()
    assert lower_half > 0.9, f"jawOpen changed the upper half too ({1 - lower_half:.0%})"
