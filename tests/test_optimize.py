"""The optimization engine, with a small random CLIP (a test fixture: its scores mean nothing
about heads, but its gradients are real, which is what these tests need)."""

from __future__ import annotations

import re
import threading
import warnings

import pytest
import torch

from text2head import api
from text2head.guidance import CLIPGuide, PromptTruncatedWarning, load_clip
from text2head.optimize import SCORE_VIEWS, Optimization, RunConfig
from text2head.preview import render_head
from text2head.render import Cameras

PROMPT = "an old man with a big nose"
# Runs whose point is not the image: small renders and no style choice before step 1 (seconds
# less per run; the behaviour tested is the same at any size).
SMALL = {"resolution": 96, "choose_styles": ()}


@pytest.fixture(scope="module")
def guide() -> CLIPGuide:
    return CLIPGuide(load_clip("random:tiny"))


def run_steps(head_model, guide, start=None, **options) -> tuple[Optimization, list]:
    run = Optimization(head_model, guide, RunConfig(PROMPT, **options), start=start)
    return run, list(run)


def test_first_step_moves_every_enabled_group(head_model, guide):
    run, results = run_steps(head_model, guide, steps=1)
    start, moved = head_model.neutral(), results[0].head
    for name, value in moved.groups():
        assert not torch.equal(value, getattr(start, name)), name
    for level, grid in enumerate(moved.texture):
        assert grid.abs().sum() > 0, level
    assert results[0].clip_score is not None and results[0].preview.shape[0] == len(SCORE_VIEWS)


def test_disabled_groups_stay_fixed(head_model, guide):
    run, results = run_steps(head_model, guide, steps=2, groups=("expression",))
    head, start = results[-1].head, run.start
    assert not torch.equal(head.expression, start.expression)
    for name in ("identity", "local_shape", "pose", "appearance"):
        assert torch.equal(getattr(head, name), getattr(start, name)), name
    assert all(torch.equal(a, b) for a, b in zip(head.texture, start.texture, strict=True))


def test_clip_similarity_rises(head_model, guide):
    cameras = Cameras.named_views(SCORE_VIEWS)
    with torch.no_grad():
        images = render_head(head_model, head_model.neutral(), cameras, resolution=224)
    before = float(guide.clip_score(images, PROMPT).mean())
    run, _ = run_steps(head_model, guide, start=head_model.neutral(), steps=30, preview_every=5,
                       choose_styles=())  # the head scored above, its styles kept
    assert run.best.clip_score > before + 0.5


def test_same_seed_is_bit_identical(head_model, guide):
    _, first = run_steps(head_model, guide, steps=4, seed=3, **SMALL)
    _, second = run_steps(head_model, guide, steps=4, seed=3, **SMALL)
    _, other = run_steps(head_model, guide, steps=4, seed=4, **SMALL)
    for (name, a), (_, b) in zip(first[-1].head.groups(), second[-1].head.groups(), strict=True):
        assert torch.equal(a, b), name
    assert not torch.equal(first[-1].head.local_shape, other[-1].head.local_shape)


def test_weight_change_mid_run_takes_effect_next_step(head_model, guide, generator):
    start = head_model.sample(generator)  # local shape away from neutral
    config = RunConfig(PROMPT, steps=20, seed=1, groups=("local_shape",), **SMALL)
    plain = [r.head.local_shape for r in Optimization(head_model, guide, config, start=start)]
    run = Optimization(head_model, guide, config, start=start)
    changed = []
    for result in run:
        changed.append(result.head.local_shape)
        if result.step == 6:
            run.settings.update(weights={"prior_local_shape": 1e3})
    assert all(torch.equal(a, b) for a, b in zip(plain[:6], changed[:6], strict=True))
    assert not torch.equal(plain[6], changed[6])
    # The raised prior pulls the group toward neutral (zero) in the following steps.
    assert changed[-1].abs().mean() < 0.5 * plain[-1].abs().mean()


def test_stop_from_another_thread_ends_within_one_step(head_model, guide):
    run = Optimization(head_model, guide, RunConfig(PROMPT, steps=50, **SMALL))
    seen = []
    for result in run:
        seen.append(result.step)
        if result.step == 2:
            thread = threading.Thread(target=run.stop)
            thread.start()
            thread.join()
    assert seen == [1, 2]


def test_nan_step_is_skipped_and_reported(head_model, guide, monkeypatch):
    run = Optimization(head_model, guide, RunConfig(PROMPT, steps=3))
    real_loss = guide.loss
    calls = []

    def flaky_loss(*args, **kwargs):
        terms = real_loss(*args, **kwargs)
        calls.append(1)
        if len(calls) == 2:
            terms["clip"] = terms["clip"] * float("nan")
        return terms

    monkeypatch.setattr(run.guide, "loss", flaky_loss)
    results = list(run)
    assert [r.skipped for r in results] == [False, True, False]
    assert torch.equal(results[1].head.local_shape, results[0].head.local_shape)
    assert not torch.equal(results[2].head.local_shape, results[1].head.local_shape)


def test_best_head_is_the_highest_scoring_preview(head_model, guide):
    run, results = run_steps(head_model, guide, steps=6, preview_every=2)
    scored = [r for r in results if r.clip_score is not None]
    best = max(scored, key=lambda r: r.clip_score)
    assert run.best.step == best.step and run.best.clip_score == best.clip_score
    assert torch.equal(run.best.head.identity, best.head.identity)


def test_edit_with_high_identity_weight_stays_close(head_model, guide, generator):
    start = head_model.sample(generator)

    def distance(weight: float) -> float:
        config = RunConfig("make him smile", steps=8, seed=2,
                           weights={"identity_preservation": weight}, **SMALL)
        run = Optimization(head_model, guide, config, start=start)
        final = list(run)[-1].head
        return sum(float((a - b).abs().sum()) for (_, a), (_, b) in
                   zip(final.groups(), start.groups(), strict=True))

    assert distance(1e4) < 0.2 * distance(0.0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"prompt": ""}, "prompt is empty"),
        ({"prompt": "   \n"}, "prompt is empty"),
        ({"steps": 0}, "steps must be a positive integer"),
        ({"views": -1}, "views must be a positive integer"),
        ({"views": 100}, "views must be at most 16, got 100"),
        ({"augmentations": 17}, "augmentations must be at most 16, got 17"),
        ({"views": 16, "augmentations": 8}, "views x augmentations must be at most 64 images "
                                             "a step, got 16 x 8"),
        ({"resolution": 2048}, "resolution must be at most 512, got 2048"),
        ({"texture_size": 4096}, "texture_size must be at most 2048, got 4096"),
        ({"weights": {"prior_identity": -1.0}}, "'prior_identity' must be >= 0"),
        ({"weights": {"clip": float("nan")}}, "'clip' must be finite"),
        ({"weights": {"beauty": 1.0}}, "unknown loss weight 'beauty'"),
        ({"learning_rates": {"identity": float("inf")}}, "'identity' must be finite"),
        ({"groups": ("hats",)}, "unknown parameter group(s) ['hats']"),
        ({"negative": " "}, "negative prompt is empty"),
    ],
)
def test_bad_config_is_rejected_before_work(options, message):
    options = {"prompt": PROMPT, **options}
    with pytest.raises(ValueError, match=re.escape(message)):
        api.prepare(clip="random:tiny", **options)


def test_unwritable_output_folder_is_rejected_before_work(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="cannot write to output folder"):
        api.prepare(PROMPT, clip="random:tiny", out=blocker / "sub")


def test_long_prompt_warns_before_the_first_step(head_model):
    with pytest.warns(PromptTruncatedWarning):
        api.prepare("a head " * 100, clip="random:tiny", model=head_model)


def test_non_ascii_prompt(head_model, guide):
    with warnings.catch_warnings():
        warnings.simplefilter("error", PromptTruncatedWarning)
        run = api.prepare("一位微笑的老奶奶, Zoë, ñandú", clip=guide, model=head_model, steps=1)
        assert list(run)[0].losses["clip"] > 0


def test_live_settings_reject_bad_updates(head_model, guide):
    run = Optimization(head_model, guide, RunConfig(PROMPT, steps=1))
    with pytest.raises(ValueError, match="unknown loss weight 'nope'"):
        run.settings.update(weights={"nope": 1.0})
    with pytest.raises(ValueError, match="must be finite"):
        run.settings.update(weights={"clip": float("nan"), "negative": 0.1})
    assert run.settings.snapshot()[0]["negative"] == 0.3  # nothing applied on failure



def test_inverse_problem_recovers_geometry(head_model, guide, generator):
    """Render a target head, guide by its image embeddings: the vertex error must halve."""
    target = head_model.neutral()
    target.identity = torch.tensor([[0.1, 0.9, 0.5, 0.8, 0.5, 0.6, 0.2, 0.2]])
    config = RunConfig(PROMPT, steps=40, seed=0, groups=("identity",), views=3,
                       weights={"prior_identity": 0.0, "shape_symmetry": 0.0},
                       learning_rates={"identity": 0.05}, preview_every=40, resolution=128,
                       choose_styles=())
    run = Optimization(head_model, guide, config, reference=target)
    final = list(run)[-1].head

    def vertex_error(head) -> float:
        return float((head_model.decode(head).vertices
                      - head_model.decode(target).vertices).norm(dim=-1).mean())

    assert vertex_error(final) < 0.5 * vertex_error(head_model.neutral())
