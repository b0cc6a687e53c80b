"""The studio's per-session logic without a server: slider mappings, edits, the run worker
(throttled updates, live weights, stop), session isolation, files and cleanup."""

from __future__ import annotations

import zipfile

import pytest
import torch
from PIL import Image

from text2head import api
from text2head.bundle import write_head
from text2head.edits import EDIT_CONTROLS, STYLE_MENUS, apply_edits, edit_values, style_values
from text2head.guidance import CLIPWeightsUnavailable
from text2head.guidance.loading import RANDOM_LABEL
from text2head.optimize import SCORE_VIEWS
from text2head.settings import DEFAULT_LEARNING_RATES, DEFAULT_WEIGHTS
from text2head.studio import (
    WEIGHT_CONTROLS,
    Studio,
    clip_label,
    downloads_from,
    learning_rates,
    loss_figure,
    run_weights,
    status_line,
    weights_line,
)
from text2head.studio.handlers import Handlers

CLIP = "random:tiny"


@pytest.fixture
def studio(head_model, tmp_path):
    studio = Studio(model=head_model, root=tmp_path / "sessions", device="cpu")
    yield studio
    studio.close()


def control(label: str):
    return next(c for c in EDIT_CONTROLS if c.label == label)


def test_weight_controls_name_real_weights_and_identity_preservation_only_in_edit_mode():
    assert {c.name for c in WEIGHT_CONTROLS} <= set(DEFAULT_WEIGHTS)
    values = {c.name: c.default for c in WEIGHT_CONTROLS}
    fresh, editing = run_weights(values, editing=False), run_weights(values, editing=True)
    assert fresh["identity_preservation"] == 0.0
    assert editing["identity_preservation"] == api.EDIT_WEIGHTS["identity_preservation"]
    assert editing["directional"] == api.EDIT_WEIGHTS["directional"]
    assert learning_rates(2.0) == {k: 2 * v for k, v in DEFAULT_LEARNING_RATES.items()}


def test_every_edit_control_names_real_parameters(head_model):
    for edit in EDIT_CONTROLS:
        for name in edit.names:
            head_model.specs[edit.group].index(name)  # raises on an unknown name
    assert len(edit_values(head_model, head_model.neutral())) == len(EDIT_CONTROLS)


def test_edits_move_grouped_parameters_together_and_leave_others(head_model):
    base = head_model.sample(torch.Generator().manual_seed(3))
    smile = control("Smile")
    left, right = (head_model.specs["expression"].index(n) for n in smile.names)
    values = dict(zip((c.label for c in EDIT_CONTROLS), edit_values(head_model, base),
                      strict=True))
    edited = apply_edits(head_model, base, {**values, "Smile": smile.read(head_model, base) + 0.3})
    shift = edited.expression[0] - base.expression[0]
    expected = torch.zeros_like(shift)
    for index in (left, right):  # both sides move by 0.3 unless clamped at 1
        expected[index] = min(1.0, float(base.expression[0, index]) + 0.3) - base.expression[0,
                                                                                         index]
    assert torch.allclose(shift, expected, atol=1e-5)
    for name in ("identity", "local_shape", "pose", "appearance"):
        assert torch.equal(getattr(edited, name), getattr(base, name))
    high = apply_edits(head_model, base, {"Age": 5.0})  # out of range is clamped
    assert float(high.identity[0, head_model.specs["identity"].index("age")]) == 1.0
    head_model.validate(high)


def test_style_menus_change_parts_keep_sliders_and_reject_unknown_styles(head_model):
    base = head_model.sample(torch.Generator().manual_seed(3))
    styles = dict(zip([kind for _, kind in STYLE_MENUS], style_values(base), strict=True))
    edited = apply_edits(head_model, base, {}, {**styles, "hair": "afro01",
                                                 "facial_hair": "full_beard"})
    assert (edited.styles.hair, edited.styles.facial_hair) == ("afro01", "full_beard")
    assert torch.equal(edited.identity, base.identity) and torch.equal(edited.hair, base.hair)
    with pytest.raises(ValueError, match="unknown hair style 'mohawk'; known: none, buzz, afro01"):
        apply_edits(head_model, base, {}, {"hair": "mohawk"})
    # Hair sliders move the hair group like any other edit.
    darker = apply_edits(head_model, base, {"Hair darkness (eumelanin)": 1.0})
    assert float(darker.hair[0, head_model.specs["hair"].index("hair_eumelanin")]) == 1.0


def test_labels_show_random_weights_and_figures_have_every_term():
    assert RANDOM_LABEL in clip_label("random:tiny")
    assert "RANDOM" not in clip_label("ViT-B-32:laion2b_s34b_b79k")
    history = [{"clip": 0.9, "prior_identity": 0.0, "total": 0.95},
               {"clip": 0.8, "prior_identity": 0.1, "total": 0.85, "negative": 0.2}]
    figure = loss_figure(history)
    assert [trace.name for trace in figure.data] == ["clip", "prior_identity", "total",
                                                     "negative"]
    assert list(figure.data[1].y) == [None, 0.1]  # a zero cannot be drawn on a log axis
    assert list(figure.data[3].x) == [2]


def test_worker_streams_throttled_updates_and_live_weights_reach_the_engine(studio):
    worker = studio.start_run("s1", "an old man", clip=CLIP, editing=False,
                              weights={"clip": 1.0}, learning_rate_scale=1.0, steps=12,
                              views=1, augmentations=1, resolution=64)
    updates = []
    for update in worker.updates(interval=0.05):
        if not updates:
            studio.session("s1").set_weight("clip", 0.25)
            studio.session("s1").set_weight("identity_preservation", 3.0)  # not in a fresh run
        updates.append(update)
    assert updates[-1].done and updates[-1].step == 12
    assert len(updates) >= 2
    assert updates[0].preview is not None and updates[0].head is not None  # step 1 previews
    steps = [u.step for u in updates]
    assert steps == sorted(steps)
    assert all(u.preview is None or u.preview_step > p.preview_step
               for p, u in zip(updates, updates[1:], strict=False))  # previews are never repeated
    # The engine read the change at the start of a later step, and only the clip weight.
    used = [weights["clip"] for weights in worker.weights_per_step]
    assert used[0] == 1.0 and used[-1] == 0.25
    assert all(w["identity_preservation"] == 0.0 for w in worker.weights_per_step)
    assert "clip 1 → 0.25" in weights_line(worker, updates[-1])
    assert status_line(updates[-1]).startswith("step 12/12")
    result = studio.session("s1").finish_run(worker)
    assert result.steps_run == 12 and result.files["glb"].is_file()
    with Image.open(result.files["turntable"]) as turntable:  # big enough to see the eyes
        assert min(turntable.size) >= 320


def test_studio_pictures_are_at_least_384_px_a_view(studio, head_model):
    """Every picture the studio shows of a head (instant, edited, random, opened, the run's
    result) is one row of the score views, each at least 384 px."""
    head = head_model.sample(torch.Generator().manual_seed(3))
    path = Handlers(studio).picture(studio.session("s1"), head)
    with Image.open(path) as picture:
        width, height = picture.size
    assert height >= 384 and width == len(SCORE_VIEWS) * height


def test_stop_ends_the_run_within_a_step_and_keeps_the_best_head(studio):
    worker = studio.start_run("s1", "a bald man", clip=CLIP, editing=False, weights={},
                              learning_rate_scale=1.0, steps=500, views=1, augmentations=1,
                              resolution=64)
    for update in worker.updates(interval=0.0):
        if update.step >= 2 and not worker.run.stopped:
            stopped_at = update.step
            assert studio.session("s1").stop()
    assert worker.join(timeout=60)
    assert stopped_at <= len(worker.history) <= stopped_at + 2  # the step in progress ends
    result = studio.session("s1").finish_run(worker)
    assert result.best_step >= 1 and result.steps_run < 500
    assert not studio.session("s1").stop()  # nothing left to stop


def test_sessions_are_isolated_and_cleaned_up(studio):
    a, b = studio.session("a"), studio.session("b")
    assert a is studio.session("a") and a is not b and a.folder != b.folder
    runs = {key: studio.start_run(key, "a face", clip=CLIP, editing=False, weights={},
                                  learning_rate_scale=1.0, steps=400, views=1,
                                  augmentations=1, resolution=64) for key in ("a", "b")}
    a.set_weight("texture_smoothness", 4.0)
    a.set_learning_rate_scale(0.5)
    assert runs["a"].settings.snapshot()[0]["texture_smoothness"] == 4.0
    assert runs["b"].settings.snapshot()[0]["texture_smoothness"] == \
        DEFAULT_WEIGHTS["texture_smoothness"]
    assert runs["b"].settings.snapshot()[1] == DEFAULT_LEARNING_RATES
    a.adopt(studio.model.sample(torch.Generator().manual_seed(1)))
    files_a, files_b = a.export(), b.export()
    assert files_a.glb.parent.parent == a.folder and files_b.glb.parent.parent == b.folder
    assert files_a.params.read_text() != files_b.params.read_text()
    studio.end_session("a")  # the visitor left: run stopped, files gone
    assert runs["a"].join(timeout=60) and not a.folder.exists()
    assert b.folder.exists() and runs["b"].run.stopped is False
    studio.close()
    assert runs["b"].join(timeout=60) and not studio.root.exists()


def test_old_folders_are_pruned_per_kind(studio):
    """Only the newest few folders of each kind stay, and a new preview never deletes the
    downloads on show."""
    session = studio.session("a")
    exports = []
    for _ in range(4):
        with session.writing("export") as folder:
            exports.append(folder)
    for _ in range(6):
        with session.writing("preview"):
            pass
    assert [f.exists() for f in exports] == [False] + [True] * 3
    assert len(list(session.folder.glob("preview-*"))) == 3


def test_downloads_zip_the_obj_with_its_material_and_texture(head_model, tmp_path):
    downloads = downloads_from(write_head(head_model, head_model.neutral(), tmp_path,
                                          texture_size=64, preview=False))
    with zipfile.ZipFile(downloads.obj_zip) as archive:  # the neutral head: brows, lashes, teeth
        assert sorted(archive.namelist()) == ["head.mtl", "head.obj", "head.png",
                                              "head_eyebrows.png", "head_eyelashes.png",
                                              "head_normal.png", "head_teeth.png"]
        material = archive.read("head.mtl").decode()
        assert "map_Kd head.png" in material and "map_d head_eyebrows.png" in material
    assert downloads.glb.suffix == ".glb" and downloads.params.name == "params.json"


def test_missing_clip_weights_raise_the_library_message(studio):
    with pytest.raises(CLIPWeightsUnavailable, match="TEXT2HEAD_CLIP="):
        studio.start_run("a", "a face", clip="ViT-B-32:/nonexistent/open_clip_model.safetensors",
                         editing=False, weights={}, learning_rate_scale=1.0)
    assert not studio.session("a").running
