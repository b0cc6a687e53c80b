"""The animated GLB in three.js (npm `three`) in headless Chromium, played by an
AnimationMixer as a web app plays it: every clip moves every part, three.js interpolates the
weights we computed, the eyes close in a blink, and while the head talks its lips part and
meet again on m, b and p (measured on the morphed vertices three.js computes)."""

from __future__ import annotations

import numpy as np
import pygltflib
import pytest
from glb_data import read_accessor
from threejs_page import probe_page

from text2head.animation import speech
from text2head.animation.request import AnimationRequest, head_clips
from text2head.export import export_glb

pytestmark = pytest.mark.slow
LINE = "Bob may map a bumpy path, and papa approves."  # lips meet between open vowels
SAMPLES = 40


@pytest.fixture(scope="module")
def animated(head_model, tmp_path_factory):
    """A smiling head with hair, brows, lashes, teeth and a beard, with all three clips."""
    head = head_model.neutral().with_styles(hair="short02", facial_hair="goatee")
    names = head_model.specs["expression"].names
    for name in ("mouthSmileLeft", "mouthSmileRight"):
        head.expression[:, names.index(name)] = 0.6
    clips = head_clips(head_model, head, AnimationRequest(("all",), line=LINE, seed=1))
    meshes = head_model.to_meshes(head, texture_size=256)
    path = export_glb(meshes, tmp_path_factory.mktemp("threejs-anim") / "head.glb", clips)
    return path, {clip.name: clip for clip in clips}


@pytest.fixture(scope="module")
def page(animated):
    with probe_page(animated[0]) as page:
        yield page


def play(page, name: str, times, vertices=()) -> list[dict]:
    return page.evaluate("([n, t, v]) => window.playClip(n, t, v)",
                         [name, [float(t) for t in times], [int(v) for v in vertices]])


def lip_vertices(path) -> tuple[int, int]:
    """The head's inner upper-lip and lower-lip vertices on the midline, found in the GLB
    itself: of the front-most mouth vertices, the highest that jawOpen moves (lower lip) and
    the lowest above it that jawOpen leaves in place (upper lip)."""
    gltf = pygltflib.GLTF2.load(path)
    mesh = next(mesh for mesh in gltf.meshes if mesh.name == "head")
    primitive = mesh.primitives[0]
    positions = read_accessor(gltf, primitive.attributes.POSITION)
    jaw = mesh.extras["targetNames"].index("jawOpen")
    moved = np.linalg.norm(read_accessor(gltf, primitive.targets[jaw]["POSITION"]), axis=1)
    midline = np.abs(positions[:, 0]) < 1e-3
    moving = midline & (moved > 0.5 * moved.max())
    front = positions[moving, 2].max() - 0.012
    lower_lip = moving & (positions[:, 2] > front)
    lower = np.flatnonzero(lower_lip)[np.argmax(positions[lower_lip, 1])]
    upper_lip = (midline & (moved < 0.25 * moved.max()) & (positions[:, 2] > front)
                 & (positions[:, 1] > positions[lower, 1]))
    upper = np.flatnonzero(upper_lip)[np.argmin(positions[upper_lip, 1])]
    return int(upper), int(lower)


def test_three_plays_every_clip_on_every_part_as_we_keyed_it(page, animated):
    _, clips = animated
    listed = {a["name"]: a for a in page.evaluate("window.probe.animations")}
    assert list(listed) == ["idle", "expression", "talk"]
    materials = {mesh["material"] for mesh in page.evaluate("window.probe.meshes")}
    assert {"head", "hair", "eyebrows", "eyelashes", "teeth", "facial_hair"} <= materials
    for name, clip in clips.items():
        assert listed[name]["duration"] == pytest.approx(clip.duration, abs=1e-3)
        times = np.linspace(0, clip.duration * 0.999, SAMPLES)
        samples = play(page, name, times)
        for material in materials:
            seen = np.array([[s["influences"][material][t] for t in clip.targets]
                             for s in samples])
            ours = np.stack([clip.at(t) for t in times])
            np.testing.assert_allclose(seen, ours, atol=2e-3, err_msg=f"{name} {material}")
            assert (seen.max(0) - seen.min(0)).max() > 0.2, f"{name}: {material} stays still"


def test_the_eyes_close_in_a_blink(page, animated):
    clip = animated[1]["idle"]
    closed = clip.times[clip.weights[:, clip.targets.index("eyeBlinkLeft")] == 1]
    assert len(closed) >= 1
    [sample] = play(page, "idle", closed[:1])
    for material in ("head", "eyelashes"):
        assert sample["influences"][material]["eyeBlinkLeft"] == pytest.approx(1, abs=1e-3)
        assert sample["influences"][material]["eyeBlinkRight"] == pytest.approx(1, abs=1e-3)


def test_talking_parts_the_lips_and_closes_them_on_m_b_p(page, animated):
    path, clips = animated
    upper, lower = lip_vertices(path)
    track = speech.viseme_track(LINE)
    rest = play(page, "talk", [0.0], [upper, lower])[0]["positions"]

    def gap(positions) -> float:  # millimetres between the lips, along the face's up axis
        return 1000 * (positions[0][1] - positions[1][1])

    open_vowels = [v for v in track if v.viseme == "aa"]
    bilabials = [v for v in track if v.viseme == "PP"]
    assert len(open_vowels) >= 3 and len(bilabials) >= 6
    middle = [(v.start + v.end) / 2 for v in (*open_vowels, *bilabials)]
    samples = play(page, "talk", middle, [upper, lower])
    gaps = [gap(s["positions"]) for s in samples]
    opened, closed = gaps[:len(open_vowels)], gaps[len(open_vowels):]
    assert min(opened) > gap(rest) + 4, f"the mouth hardly opens: {opened} vs rest {gap(rest)}"
    assert max(closed) < gap(rest) + 1.5, f"the lips do not meet on m/b/p: {closed}"
