"""Animation clips (issue 18): what each clip does to the morph weights over time, the GLB's
glTF animations (Khronos validator, trimesh), the animated previews, and the `animate` CLI.

How three.js plays the clips is in tests/test_threejs_animation.py.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pygltflib
import pytest
import torch
import trimesh
from gltf_validator import assert_valid_glb, issue_lines
from PIL import Image

from text2head.animation import speech
from text2head.animation.clips import BLINK_GAP, BLINK_LENGTH, expression, idle, talk
from text2head.animation.preview import PREVIEW_SIZE, PREVIEW_VIEWS, frame_times
from text2head.animation.request import AnimationRequest, head_clips
from text2head.cli import main
from text2head.export import export_glb

LINE = "Hello, my name is Ada. I am made of numbers, and I can speak!"


@pytest.fixture
def old_params(head_model, tmp_path):
    """A params.json as written before parts existed (no styles, no hair), of a random head
    with a neutral expression."""
    data = json.loads(head_model.to_json(head_model.sample(torch.Generator().manual_seed(2))))
    del data["styles"], data["hair"]
    data["expression"] = dict.fromkeys(data["expression"], 0.0)
    path = tmp_path / "old" / "params.json"
    path.parent.mkdir()
    path.write_text(json.dumps(data))
    return path


@pytest.fixture(scope="module")
def targets(head_model) -> tuple[str, ...]:
    return tuple(head_model.specs["expression"].names)


def weights_of(targets, **values) -> np.ndarray:
    base = np.zeros(len(targets))
    for name, value in values.items():
        base[targets.index(name)] = value
    return base


def curve(clip, name: str) -> np.ndarray:
    return clip.weights[:, clip.targets.index(name)]


def blinks(clip) -> list[tuple[float, float]]:
    """(start, length) of each full eye closure, from where eyeBlinkLeft leaves 0 to where it
    comes back (the base pose has no blink)."""
    closed = curve(clip, "eyeBlinkLeft") > 0
    edges = np.flatnonzero(np.diff(closed.astype(int)))
    starts, ends = edges[::2], edges[1::2] + 1
    return [(float(clip.times[s]), float(clip.times[e] - clip.times[s]))
            for s, e in zip(starts, ends, strict=True)]


def test_idle_blinks_breathes_glances_and_loops(targets):
    smile = weights_of(targets, mouthSmileLeft=0.6, mouthSmileRight=0.6)
    clip = idle(targets, smile, seed=3)
    np.testing.assert_allclose(clip.weights[0], clip.weights[-1], atol=1e-6)  # seamless loop
    assert clip.loops and len(clip.times) < 80, "keys are sparse, not a dense frame table"
    found = blinks(clip)
    assert found, "no blink"
    assert all(BLINK_LENGTH[0] - 1e-3 <= length <= BLINK_LENGTH[1] + 1e-3
               for _, length in found)
    gaps = np.diff([start for start, _ in found])
    assert np.all((gaps >= BLINK_GAP[0]) & (gaps <= BLINK_GAP[1] + BLINK_LENGTH[1]))
    # both eyes close fully together
    np.testing.assert_array_equal(curve(clip, "eyeBlinkLeft"), curve(clip, "eyeBlinkRight"))
    assert curve(clip, "eyeBlinkLeft").max() == 1
    jaw = curve(clip, "jawOpen")
    assert 0.02 < jaw.max() < 0.06 and jaw.min() == 0  # a breath, not speech
    looks = np.stack([curve(clip, n) for n in targets if n.startswith("eyeLook")])
    assert looks.max() > 0.05 and looks.max() <= 0.3  # small saccades
    np.testing.assert_allclose(curve(clip, "mouthSmileLeft"), 0.6, atol=1e-6)  # keeps its smile
    assert not np.array_equal(idle(targets, smile, seed=4).times, clip.times)  # seeded


def test_expression_eases_in_holds_and_eases_out(targets):
    angry = weights_of(targets, browDownLeft=0.8, browDownRight=0.8, mouthFrownLeft=0.5)
    clip = expression(targets, angry, seed=1)
    brow = curve(clip, "browDownLeft")
    assert brow[0] == 0 and brow[-1] == 0 and brow.max() == pytest.approx(0.8)
    peak = np.flatnonzero(brow == brow.max())
    rise, fall = np.diff(brow[:peak[0] + 1]), np.diff(brow[peak[-1]:])
    assert np.all(rise >= 0) and np.all(fall <= 0)
    held = clip.times[peak[-1]] - clip.times[peak[0]]
    assert held >= 1.5
    steps = np.diff(brow[:peak[0] + 1])
    assert steps[0] < steps[len(steps) // 2], "eased in, not a linear ramp"
    with pytest.raises(ValueError, match="expression is neutral"):
        expression(targets, np.zeros(len(targets)))


def test_talk_follows_the_line_closes_on_bilabials_and_keeps_the_smile(targets):
    smile = weights_of(targets, mouthSmileLeft=0.5, mouthSmileRight=0.5, jawOpen=0.4)
    clip = talk(targets, smile, LINE, seed=2)
    track = speech.viseme_track(LINE)
    assert clip.duration == pytest.approx(track[-1].end, abs=1e-3)
    assert talk(targets, smile, LINE + " " + LINE).duration > 1.8 * clip.duration
    jaw = curve(clip, "jawOpen")
    assert jaw.max() > 0.3, "the mouth opens"
    for viseme in track:
        if viseme.viseme == "PP":
            weights = clip.at((viseme.start + viseme.end) / 2)
            assert weights[targets.index("jawOpen")] <= 0.05, viseme  # the speech owns the jaw
            assert weights[targets.index("mouthPressLeft")] > 0.3, viseme  # lips pressed
    np.testing.assert_allclose(curve(clip, "mouthSmileLeft"), 0.5, atol=1e-6)
    stressed = [v for v in track if v.stressed]
    assert stressed and curve(clip, "browInnerUp").max() > 0.2  # brows on stressed words
    assert clip.visemes["text"] == LINE and len(clip.visemes["visemes"]) == len(track)


def test_requests_are_checked_before_any_work():
    with pytest.raises(ValueError, match="unknown clip"):
        AnimationRequest(("dance",))
    with pytest.raises(ValueError, match="needs a line"):
        AnimationRequest(("talk",))
    with pytest.raises(ValueError, match="only used by the talk clip: add"):
        AnimationRequest(("idle",), line="hello")
    with pytest.raises(ValueError, match="200"):
        AnimationRequest(("talk",), line="a" * 201)
    with pytest.raises(ValueError, match="once"):
        AnimationRequest(("idle", "idle"))
    assert AnimationRequest(("all",), line=" hi ").clips == ("idle", "expression", "talk")


def test_a_neutral_head_leaves_the_expression_clip_out_with_a_warning(head_model):
    neutral = head_model.neutral()
    with pytest.warns(UserWarning, match="expression clip left out"):
        clips = head_clips(head_model, neutral, AnimationRequest(("idle", "expression")))
    assert [clip.name for clip in clips] == ["idle"]
    with warnings.catch_warnings(), pytest.raises(ValueError, match="expression is neutral"):
        warnings.simplefilter("error")  # and no warning first
        head_clips(head_model, neutral, AnimationRequest(("expression",)))


@pytest.fixture(scope="module")
def laughing(head_model):
    head = head_model.neutral()
    names = head_model.specs["expression"].names
    for name, value in (("mouthSmileLeft", 0.7), ("mouthSmileRight", 0.7), ("jawOpen", 0.3)):
        head.expression[:, names.index(name)] = value
    return head


@pytest.fixture(scope="module")
def animated_glb(head_model, laughing, tmp_path_factory):
    clips = head_clips(head_model, laughing, AnimationRequest(("all",), line=LINE, seed=5))
    meshes = head_model.to_meshes(laughing.with_styles(hair="short02"), texture_size=256)
    return export_glb(meshes, tmp_path_factory.mktemp("anim") / "head.glb", clips), meshes


def test_the_glb_carries_every_clip_on_every_part_and_validates(animated_glb):
    path, meshes = animated_glb
    report = assert_valid_glb(path)
    assert not issue_lines(report, "warning")
    gltf = pygltflib.GLTF2.load(path)
    assert [animation.name for animation in gltf.animations] == ["idle", "expression", "talk"]
    animated = {node for node, mesh in enumerate(meshes) if mesh.morph_names}
    assert len(animated) == len(meshes) >= 4  # head, hair, brows, lashes, teeth
    for animation in gltf.animations:
        assert {c.target.node for c in animation.channels} == animated
        assert all(c.target.path == "weights" for c in animation.channels)
        sampler = animation.samplers[0]
        assert sampler.interpolation == "LINEAR"
        times = gltf.accessors[sampler.input]
        assert times.min == [0.0] and times.max[0] > 1
        assert gltf.accessors[sampler.output].count == times.count * 52
    loaded = trimesh.load(path)
    assert set(loaded.geometry) >= {mesh.name for mesh in meshes}


def test_previews_show_the_clip_moving(head_model, laughing, tmp_path):
    [clip] = head_clips(head_model, laughing, AnimationRequest(("idle",), seed=1))
    times, shown = frame_times(clip)
    assert shown.sum() == pytest.approx(clip.duration) and len(times) < 40
    from text2head.animation.preview import save_preview

    save_preview(head_model, laughing, clip, tmp_path / "idle.webp")
    with Image.open(tmp_path / "idle.webp") as image:
        assert image.is_animated and image.n_frames == len(times)
        assert image.size == (PREVIEW_SIZE * len(PREVIEW_VIEWS), PREVIEW_SIZE)
        frames = []
        for index in range(image.n_frames):
            image.seek(index)
            frames.append(np.asarray(image.convert("RGB"), dtype=np.int16))
    spread = np.stack(frames).max(0) - np.stack(frames).min(0)
    size = PREVIEW_SIZE
    eyes = spread[size * 3 // 8: size // 2, size // 4: size * 3 // 4]  # the front view's
    assert (eyes.max(-1) > 40).sum() > 50, "the blink does not show around the eyes"


def test_animate_cli_writes_every_clip_file_from_an_old_params_file(tmp_path, old_params):
    out = tmp_path / "out"
    code = main(["animate", str(old_params), "--clip", "talk", "--clip", "idle", "--say", LINE,
                 "--texture-size", "256", "--out", str(out)])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "animation-idle.webp", "animation-talk.webp", "head.glb", "visemes.json"]
    assert [a.name for a in pygltflib.GLTF2.load(out / "head.glb").animations] == ["talk", "idle"]
    visemes = json.loads((out / "visemes.json").read_text())
    assert visemes["format"] == "text2head-visemes" and visemes["text"] == LINE


@pytest.mark.parametrize(("arguments", "message"), [
    (["--clip", "talk"], "needs a line"),
    (["--say", "hi"], "add the talk clip"),
    (["--clip", "talk", "--say", "x" * 201], "200"),
    (["--clip", "expression"], "expression is neutral"),
])
def test_animate_cli_refuses_bad_requests_and_writes_nothing(tmp_path, old_params, capsys,
                                                             arguments, message):
    out = tmp_path / "out"
    assert main(["animate", str(old_params), "--out", str(out), *arguments]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_random_and_export_take_animate_and_generate_checks_it_first(tmp_path, capsys):
    random_out, export_out = tmp_path / "random", tmp_path / "export"
    assert main(["random", "--seed", "3", "--animate", "idle", "--texture-size", "256",
                 "--out", str(random_out)]) == 0
    assert [a.name for a in pygltflib.GLTF2.load(random_out / "head.glb").animations] == ["idle"]
    assert (random_out / "animation-idle.webp").is_file()
    assert main(["export", str(random_out / "params.json"), "--animate", "talk", "--say", "Hi!",
                 "--texture-size", "256", "--out", str(export_out)]) == 0
    assert json.loads((export_out / "visemes.json").read_text())["text"] == "Hi!"
    assert (export_out / "head.obj").is_file()  # everything else export writes is there too
    assert main(["generate", "a man", "--instant", "--candidates", "2", "--animate", "idle",
                 "--out", str(tmp_path / "c")]) == 2
    assert "animate the candidate you like" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
