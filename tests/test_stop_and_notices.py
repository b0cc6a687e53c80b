"""A stopped run keeps the head it stopped on when that head is the best, and a run says when
CLIP cuts its prompt, every time (with the tiny random CLIP, a test fixture)."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

from text2head import api
from text2head.guidance import CLIPGuide, PromptTruncatedWarning, load_clip
from text2head.optimize import SCORE_VIEWS, Optimization, RunConfig
from text2head.preview import render_head
from text2head.render import Cameras

PROMPT = "an old man with a big nose"
SMALL = {"resolution": 64, "views": 1, "augmentations": 1}
LONG = " ".join(["a very old wrinkled man with a long white beard"] * 12)  # 120 words
CUT = ("the {} is longer than CLIP reads (77 tokens); only its first 77 tokens guide the run")


@pytest.fixture(scope="module")
def guide() -> CLIPGuide:
    return CLIPGuide(load_clip("random:tiny"))


class MovementScoreGuide(CLIPGuide):
    """TEST FIXTURE, not a real guide: the loss is the tiny random CLIP's (real gradients, so
    the head moves), but `clip_score` is `sign` x the mean pixel change from `start_images`
    (renders of the start head from the same views): deterministic, and rising (sign +1) or
    falling (sign -1) with how far the head moved from the start."""

    def __init__(self, clip, start_images: torch.Tensor, sign: float):
        super().__init__(clip)
        self.start_images, self.sign = start_images, sign

    def clip_score(self, rgb, prompt, *, alpha=None, background=1.0):
        return self.sign * 100.0 * (rgb - self.start_images).abs().flatten(1).mean(1)


def _fixed_view_score(run: Optimization, head) -> float:
    """The head's score as a preview scores it (the fixed views, through the run's renderer
    and its occlusion bake), computed here independently of the run's own bookkeeping."""
    config = run.config
    with torch.no_grad():
        images = run.model_render(head, run.model.decode(head, config.texture_size),
                                  Cameras.named_views(SCORE_VIEWS), None, 1.0).rgb
    return float(run.guide.clip_score(images, config.prompt).mean())


@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["step4-better", "step1-better"])
def test_stop_between_previews_keeps_the_better_head(head_model, guide, sign):
    start = head_model.neutral()
    config = RunConfig(PROMPT, steps=50, preview_every=5, choose_styles=(), **SMALL)
    with torch.no_grad():
        start_images = render_head(head_model, start, Cameras.named_views(SCORE_VIEWS),
                                   resolution=config.resolution,
                                   decoded=head_model.decode(start, config.texture_size))
    scorer = MovementScoreGuide(guide.models[0][0], start_images, sign)
    run = Optimization(head_model, scorer, config, start=start)
    results = []
    for result in run:
        results.append(result)
        if result.step == 4:
            run.stop()
    assert [r.step for r in results] == [1, 2, 3, 4]  # no extra result for the final scoring
    assert results[3].clip_score is None  # step 4 was not previewed

    first, fourth = (_fixed_view_score(run, r.head) for r in (results[0], results[3]))
    assert fourth > first if sign > 0 else first > fourth, (first, fourth)  # what it needs
    better = results[3] if fourth > first else results[0]
    assert run.best.step == better.step
    assert run.best.clip_score == pytest.approx(max(first, fourth), rel=1e-5)
    for (name, a), (_, b) in zip(run.best.head.groups(), better.head.groups(), strict=True):
        assert torch.equal(a, b), name
    # What api.finish writes, called after the iteration as the CLI and the web app do.
    assert api.finish(run, [r.losses for r in results]).best_step == better.step


def test_stop_on_a_previewed_step_scores_nothing_more(head_model, guide, monkeypatch):
    run = Optimization(head_model, guide, RunConfig(PROMPT, steps=50, preview_every=2,
                                                    choose_styles=(), start="neutral",
                                                    **SMALL))
    scored = []
    real_score = run._score
    monkeypatch.setattr(run, "_score", lambda *a: scored.append(1) or real_score(*a))
    for result in run:
        if result.step == 2:
            run.stop()
    assert len(scored) == 2 and run.best.step in (1, 2)


def test_long_prompt_is_noticed_by_every_run(head_model, guide):
    options = {"clip": guide, "model": head_model, "start": "neutral", "choose_styles": ()}
    with pytest.warns(PromptTruncatedWarning):  # the first encoding warns, once
        first = api.prepare(LONG, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PromptTruncatedWarning)
        second = api.prepare(LONG, **options)  # cached by the guide: no warning again
    assert first.notices == second.notices == (CUT.format("prompt"),)


def test_short_prompt_has_no_notice(head_model, guide):
    run = Optimization(head_model, guide, RunConfig(PROMPT, negative="a child",
                                                    start="neutral"))
    assert run.notices == ()


def test_long_negative_prompt_is_named(head_model, guide):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PromptTruncatedWarning)
        run = api.prepare(PROMPT, negative=LONG, clip=guide, model=head_model,
                          start="neutral", choose_styles=())
    assert run.notices == (CUT.format("negative prompt"),)


def test_view_prefix_that_overflows_is_noticed(head_model, guide):
    fits = "head " * (guide.context_length - 2)  # exactly fills the context
    plain = Optimization(head_model, guide, RunConfig(fits, start="neutral"))
    phrased = Optimization(head_model, guide, RunConfig(fits, start="neutral",
                                                        view_prompts=True))
    assert plain.notices == () and phrased.notices == (CUT.format("prompt"),)


def test_truncated_prompts_are_distinct_and_in_order(guide):
    clip = guide.models[0][0]
    ensemble = CLIPGuide([(clip, 1.0), (clip, 1.0)])
    prompts = [LONG, PROMPT, LONG + " again", LONG]
    assert ensemble.truncated_prompts(prompts) == [LONG, LONG + " again"]
    assert ensemble.truncated_prompts([]) == [] and ensemble.context_length == 77


def test_result_and_config_json_carry_the_notices(head_model, guide, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PromptTruncatedWarning)
        run = api.prepare(LONG, clip=guide, model=head_model, start="neutral",
                          choose_styles=(), steps=1, **SMALL)
    result = api.finish(run, [r.losses for r in run], tmp_path / "run")
    assert result.notices == (CUT.format("prompt"),)
    config = json.loads((tmp_path / "run" / "config.json").read_text(encoding="utf-8"))
    assert config["notices"] == [CUT.format("prompt")]
