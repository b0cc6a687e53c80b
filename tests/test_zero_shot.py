"""CLIP's text space fills in what the lexicon misses; the lexicon wins where both speak."""

from __future__ import annotations

import torch

from text2head.guidance.attributes import NEUTRAL_PHRASE, PHRASES, with_zero_shot
from text2head.understand import understand


class ScriptedGuide:
    """Text embeddings chosen by the test: each phrase its own axis; prompts point where told."""

    def __init__(self, prompt_axes: dict[str, dict[str, float]]):
        self.axes = [NEUTRAL_PHRASE, *(phrase for *_, phrase in PHRASES)]
        self.prompt_axes = prompt_axes

    def encode_text(self, texts):
        rows = []
        for text in texts:
            row = torch.zeros(len(self.axes))
            if text in self.axes:
                row[self.axes.index(text)] = 1.0
            for phrase, weight in self.prompt_axes.get(text, {}).items():
                row[self.axes.index(phrase)] = weight
            rows.append(row)
        return torch.stack(rows)


def test_clip_adds_what_the_lexicon_misses_and_the_lexicon_wins():
    guide = ScriptedGuide({
        "a pirate captain": {NEUTRAL_PHRASE: 0.5, "a photo of a man with a beard": 0.8,
                             "a photo of a man": 0.7, "a photo of a sad person": 0.4},
        "a clean-shaven pirate captain": {NEUTRAL_PHRASE: 0.5,
                                          "a photo of a man with a beard": 0.8},
    })
    pirate = with_zero_shot(understand("a pirate captain"), guide)
    found = {(a.family, a.name) for a in pirate.attributes}
    assert found == {("facial_hair", "beard"), ("gender", "man")}  # sad is below the neutral
    assert all(a.words.startswith("(CLIP) ") for a in pirate.attributes)
    shaven = with_zero_shot(understand("a clean-shaven pirate captain"), guide)
    assert [a.words for a in shaven.attributes if a.family == "facial_hair"] == ["clean-shaven"]


def test_nothing_clearly_closer_adds_nothing():
    guide = ScriptedGuide({"a portrait": {NEUTRAL_PHRASE: 1.0}})
    assert not with_zero_shot(understand("a portrait"), guide)
