"""Runs start from the head the prompt describes; stated styles survive CLIP's choice."""

from __future__ import annotations

import pytest
import torch

from text2head.guidance import CLIPGuide, load_clip
from text2head.optimize import Optimization, RunConfig
from text2head.styles import CLEAR_MARGIN, choose_styles


@pytest.fixture(scope="module")
def guide() -> CLIPGuide:
    return CLIPGuide(load_clip("random:tiny"))


def test_runs_start_from_the_instant_head_by_default(head_model, guide):
    run = Optimization(head_model, guide, RunConfig("a bald old man, laughing", steps=1,
                                                    choose_styles=()))
    age = head_model.specs["identity"].index("age")
    assert float(run.start.identity[0, age]) > float(head_model.neutral().identity[0, age]) + 0.2
    assert run.start.styles.hair == "none"
    assert "old man" in run.understood.summary() and "bald" in run.understood.summary()
    neutral = Optimization(head_model, guide, RunConfig("a bald old man", steps=1,
                                                        start="neutral", choose_styles=()))
    assert torch.equal(neutral.start.identity, head_model.neutral().identity)


def test_bad_start_mode_is_named():
    with pytest.raises(ValueError, match="start must be one of instant, neutral"):
        RunConfig("a face", start="random")


class ScriptedGuide:
    """Scores images by a fixed table, in the order `choose_styles` renders candidates."""

    def __init__(self, scores: list[float], views: int):
        self.scores, self.views = scores, views

    def clip_score(self, images, prompt):
        return torch.tensor(self.scores).repeat_interleave(self.views)


@pytest.mark.parametrize("lead, kept", [(CLEAR_MARGIN / 2, True), (CLEAR_MARGIN * 2, False)])
def test_stated_style_is_kept_unless_clip_clearly_prefers_another(head_model, lead, kept):
    candidates = head_model.known_styles["facial_hair"]
    stated = head_model.neutral().with_styles(facial_hair="goatee")
    scores = [20.0] * len(candidates)
    scores[candidates.index("goatee")] = 25.0
    scores[candidates.index("full_beard")] = 25.0 + lead
    head, table = choose_styles(head_model, ScriptedGuide(scores, 1), stated, "a goatee",
                                ("facial_hair",), ("front",), resolution=32,
                                keep={"facial_hair"})
    assert table["facial_hair"]["full_beard"] == {"front": pytest.approx(25.0 + lead)}
    assert head.styles.facial_hair == ("goatee" if kept else "full_beard")
    unstated, _ = choose_styles(head_model, ScriptedGuide(scores, 1), stated, "a goatee",
                                ("facial_hair",), ("front",), resolution=32)
    assert unstated.styles.facial_hair == "full_beard"  # without `keep`, the best wins


class CountingGuide:
    """Scores each image by its brightness and counts the images it is shown."""

    def __init__(self):
        self.images = 0

    def clip_score(self, images, prompt):
        self.images += len(images)
        return 100 * images.mean(dim=(1, 2, 3))


def test_the_style_choice_sees_every_candidate_once_and_a_shortlist_from_every_view(
        head_model):
    guide = CountingGuide()
    start = head_model.neutral()
    head, table = choose_styles(head_model, guide, start, "a face", ("hair", "facial_hair"),
                                ("front", "left"), resolution=32, shortlist=2)
    hair, beards = (head_model.known_styles[kind] for kind in ("hair", "facial_hair"))
    for kind, chosen in (("hair", head.styles.hair), ("facial_hair", head.styles.facial_hair)):
        assert all("front" in views for views in table[kind].values())
        finalists = {style: views for style, views in table[kind].items() if len(views) == 2}
        # The hair round's winner, with the start's facial hair, is a beard candidate already
        # seen from both views; it joins the beard round's two finalists, or is one of them.
        assert 2 <= len(finalists) <= 3
        mean = {style: sum(views.values()) / 2 for style, views in finalists.items()}
        assert chosen == max(mean, key=mean.get)
        # The two best from the first view are among the finalists.
        ranked = sorted(table[kind], key=lambda style: -table[kind][style]["front"])
        assert set(ranked[:2]) <= set(finalists)
    # Each (head, view) is rendered and scored once: the shared head is not scored again.
    shared = table["hair"][head.styles.hair]
    assert table["facial_hair"][start.styles.facial_hair] == shared
    seen = sum(len(views) for kind in table.values() for views in kind.values())
    assert guide.images == seen - len(shared)
    assert guide.images < 2 * (len(hair) + len(beards) - 1)
