"""Instant heads: stated attributes move the right parameters the right way; nothing else moves."""

from __future__ import annotations

import pytest
import torch

from text2head.instant import instant_head, instant_styles_fixed, not_shown
from text2head.understand import understand


def value(model, head, group: str, name: str) -> float:
    return float(getattr(head, group)[0, model.specs[group].index(name)])


def instant(model, prompt: str, base=None):
    head = instant_head(model, understand(prompt), base)
    model.validate(head)
    return head


def test_unstated_prompt_gives_the_neutral_head(head_model):
    neutral = head_model.neutral()
    for prompt in ("a portrait photo", "", "un homme âgé"):
        head = instant(head_model, prompt)
        for name, tensor in head.groups():
            assert torch.equal(tensor, getattr(neutral, name)), (prompt, name)
        assert head.styles == neutral.styles
        assert instant_styles_fixed(understand(prompt)) == set()


def test_old_ages_and_greys(head_model):
    head = instant(head_model, "an old man")
    assert value(head_model, head, "identity", "age") == pytest.approx(0.95, abs=0.03)
    assert value(head_model, head, "hair", "hair_grey") > 0.5
    assert value(head_model, head, "identity", "gender") < 0.1
    child = instant(head_model, "a child")
    assert value(head_model, child, "identity", "age") < 0.4


def test_bald_and_long_white_beard_set_styles(head_model):
    understanding = understand("an old bald man with a long white beard")
    head = instant_head(head_model, understanding, head_model.neutral().with_styles(
        hair="long01"))
    assert head.styles.hair == "none" and head.styles.facial_hair == "full_beard"
    assert value(head_model, head, "hair", "beard_length") > 0.8
    assert value(head_model, head, "hair", "beard_grey_shift") + value(
        head_model, head, "hair", "hair_grey") > 0.9
    assert instant_styles_fixed(understanding) == {"hair", "facial_hair"}


def test_no_beard_removes_the_beard(head_model):
    base = head_model.neutral().with_styles(facial_hair="full_beard")
    assert instant(head_model, "a man without a beard", base).styles.facial_hair == "none"


@pytest.mark.parametrize("prompt", ["a smiling woman", "a man laughing"])
def test_smiling_smiles(head_model, prompt):
    head = instant(head_model, prompt)
    for side in ("Left", "Right"):
        assert value(head_model, head, "expression", f"mouthSmile{side}") > 0.3


def test_not_smiling_removes_a_smile(head_model):
    smiling = instant(head_model, "a smiling man")
    head = instant(head_model, "a man, not smiling", smiling)
    assert value(head_model, head, "expression", "mouthSmileLeft") == 0.0
    assert value(head_model, head, "identity", "gender") < 0.1


def test_big_nose_grows_the_nose(head_model):
    big = instant(head_model, "a man with a big nose")
    small = instant(head_model, "a man with a small nose")
    for name in ("nose-volume-incr", "nose-scale-horiz-incr"):
        assert value(head_model, big, "local_shape", name) > 0.3
        assert value(head_model, small, "local_shape", name) < -0.3


def test_intensity_scales_and_stays_in_range(head_model):
    slight = instant(head_model, "a slightly smiling man")
    plain = instant(head_model, "a smiling man")
    extreme = instant(head_model, "an extremely extremely happy, very very fat man")
    smile = [value(head_model, h, "expression", "mouthSmileLeft") for h in (slight, plain)]
    assert 0 < smile[0] < smile[1]
    assert value(head_model, extreme, "identity", "weight") == pytest.approx(1.0)


def test_hair_colour_and_pose(head_model):
    blonde = instant(head_model, "a blonde woman looking left")
    assert value(head_model, blonde, "hair", "hair_eumelanin") < 0.2
    assert value(head_model, blonde, "pose", "yaw") > 20  # toward her own left (+X)
    black = instant(head_model, "an old man with black hair")
    assert value(head_model, black, "hair", "hair_grey") == 0.0


def test_what_cannot_be_shown_is_said(head_model):
    understanding = understand("a woman with green hair and freckles")
    notes = not_shown(understanding)
    assert len(notes) == 2 and "freckles" in notes[1]
    neutral = head_model.neutral()
    head = instant_head(head_model, understanding)
    assert torch.equal(head.hair, neutral.hair)  # no natural pigment is near green


def test_people_whose_hair_is_not_mentioned_are_not_bald(head_model):
    assert instant(head_model, "a young woman, smiling").styles.hair == "long01"
    assert instant(head_model, "an old man").styles.hair == "short02"
    assert instant(head_model, "a bald man").styles.hair == "none"
