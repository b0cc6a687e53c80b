"""Talk from typed text: letter-to-sound, viseme timing, ARKit mouth keys, viseme JSON."""

import json

import numpy as np
import pytest

from text2head.animation import speech
from text2head.animation.speech import (
    MOUTH_TARGETS,
    VISEME_SHAPES,
    check_line,
    mouth_keys,
    viseme_track,
    visemes_json,
    word_phonemes,
)

OCULUS_15 = {"sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "ih", "oh",
             "ou"}


@pytest.mark.parametrize("word, phonemes", [
    ("cat", "K AE T"), ("ship", "SH IH P"), ("the", "DH AH"), ("make", "M EY K"),
    ("phone", "F OW N"), ("night", "N AY T"), ("city", "S IH T IY"), ("thing", "TH IH NG"),
    ("hello", "HH AH L OW"), ("world", "W ER L D"), ("don't", "D OW N T"), ("it's", "IH T S"),
    ("cats", "K AE T S"), ("dogs", "D AA G Z"), ("wanted", "W AA N T IH D"),
    ("walked", "W AO K T"), ("making", "M EY K IH NG"), ("table", "T EY B AH L"),
    ("know", "N OW"), ("write", "R AY T"), ("school", "S K UW L"), ("nation", "N EY SH AH N"),
    ("rain", "R EY N"), ("food", "F UW D"), ("boat", "B OW T"), ("judge", "JH AH JH"),
    ("change", "CH EY N JH"), ("quick", "K W IH K"), ("my", "M AY"), ("happy", "HH AE P IY"),
    ("bigger", "B IH G ER"), ("boxes", "B AA K S IH Z"), ("join", "JH OY N"),
    ("measure", "M EH ZH ER"), ("pleasure", "P L EH ZH ER"), ("orange", "AO R AH N JH"),
    ("house", "HH AW S"),
])
def test_common_words_sound_right(word, phonemes):
    assert " ".join(word_phonemes(word)) == phonemes


def _keys_at(track, visemes):
    times, weights = mouth_keys(track, list(MOUTH_TARGETS))
    centres = [(v.start + v.end) / 2 for v in track if v.viseme in visemes]
    rows = [int(np.argmin(np.abs(times - c))) for c in centres]
    return {n: weights[rows, i] for i, n in enumerate(MOUTH_TARGETS)}


def test_bilabials_close_the_lips_between_open_vowels():
    track = viseme_track("Mom bought a map")
    pp = [v.phoneme for v in track if v.viseme == "PP"]
    assert pp == ["M", "M", "B", "M", "P"]
    keys = _keys_at(track, {"PP"})
    assert (keys["jawOpen"] <= 0.05).all()
    # Our mouthClose closes the lips only against jawOpen (alone it pushes the lower lip
    # through the upper), so m/b/p press the lips: mouthClose >= jawOpen, press and roll high.
    assert (keys["mouthClose"] >= keys["jawOpen"]).all()
    assert (keys["mouthPressLeft"] >= 0.4).all() and (keys["mouthPressRight"] >= 0.4).all()
    assert (keys["mouthRollLower"] > 0.1).all()


def test_open_vowels_open_the_jaw_and_rounded_ones_round():
    keys = _keys_at(viseme_track("Mom bought a map"), {"aa"})
    assert (keys["jawOpen"] >= 0.3).all()
    keys = _keys_at(viseme_track("Who knew you too"), {"ou"})
    assert (keys["mouthPucker"] >= 0.4).all()
    assert VISEME_SHAPES["aa"]["jawOpen"] >= 0.5
    assert VISEME_SHAPES["FF"]["mouthRollLower"] > 0.3


def test_rate_is_natural_and_duration_grows_with_text():
    line = "The quick brown fox jumps over the lazy dog, and then it runs into the forest."
    assert 60 <= len(line) <= 120
    track = viseme_track(line)
    document = visemes_json(line, track)
    assert 10 <= document["phonemes_per_second"] <= 14
    spoken = [v for v in track if v.viseme != "sil"]
    assert 10 <= len(spoken) / sum(v.end - v.start for v in spoken) <= 14
    durations = [viseme_track(" ".join(["hello there"] * n))[-1].end for n in (1, 2, 4, 8)]
    assert durations == sorted(durations) and durations[-1] > 4 * durations[0]
    assert viseme_track(line) == track  # deterministic


def test_punctuation_pauses_and_silence_at_the_ends():
    track = viseme_track("Hello, world. Nice to meet you! Really")
    pauses = [round(v.end - v.start, 3) for v in track if v.viseme == "sil"]
    assert track[0].viseme == "sil" and track[-1].viseme == "sil" and track[0].start == 0
    assert pauses[1:-1] == [speech.CLAUSE_PAUSE_S, speech.SENTENCE_PAUSE_S,
                            speech.SENTENCE_PAUSE_S]
    assert 0.2 <= speech.CLAUSE_PAUSE_S <= 0.3 and 0.35 <= speech.SENTENCE_PAUSE_S <= 0.5
    assert all(a.end == b.start for a, b in zip(track, track[1:], strict=False))
    trailing = viseme_track("Really.")
    assert trailing[-1].end - trailing[-1].start == pytest.approx(speech.END_PAUSE_S)


def test_digits_are_spoken():
    words = [v.word for v in viseme_track("I have 3 cats and 21 dogs") if v.word]
    assert "three" in words and "twenty" in words and "one" in words
    assert speech.number_words(1205) == ["one", "thousand", "two", "hundred", "five"]


@pytest.mark.parametrize("year, said", [
    (1999, "nineteen ninety nine"), (2026, "twenty twenty six"), (1905, "nineteen oh five"),
    (1900, "nineteen hundred"), (2005, None), (999, None), (2100, None),
])
def test_year_words(year, said):
    words = speech.year_words(year)
    assert (words and " ".join(words)) == said


@pytest.mark.parametrize("line, said", [
    ("in 1999", "in nineteen ninety nine"), ("2005", "two thousand five"),
    ("1,999", "one thousand nine hundred ninety nine"),
    ("1999.5", "one thousand nine hundred ninety nine point five"),
    ("1999th", "one thousand nine hundred ninety ninth"),
])
def test_a_plain_four_digit_number_is_a_year_and_others_are_quantities(line, said):
    words = [v.word for v in viseme_track(line) if v.word]
    # Each phoneme carries its word's name; these lines repeat no word back to back.
    assert " ".join(w for i, w in enumerate(words) if i == 0 or w != words[i - 1]) == said


def test_stress_marks_content_words_not_function_words():
    track = viseme_track("the cat sat on the mat")
    stressed = {v.word for v in track if v.stressed}
    assert stressed == {"cat", "sat", "mat"}
    assert {v.word for v in viseme_track("is it THE one? yes, the!") if v.stressed} >= {"THE",
                                                                                        "the"}


@pytest.mark.parametrize("text, problem", [
    ("", "empty"), ("   ", "empty"), ("a" * 201, "201 characters; the limit is 200"),
    ("?!... --", "no letters or digits"), (42, "must be text"),
])
def test_bad_lines_name_the_problem(text, problem):
    with pytest.raises(ValueError, match=problem):
        viseme_track(text)
    with pytest.raises(ValueError, match=problem):
        check_line(text)


def test_keys_are_increasing_bounded_and_rest_in_pauses():
    names = ["eyeBlinkLeft", *MOUTH_TARGETS]
    track = viseme_track("Well, this is it: the big day is here!")
    times, weights = mouth_keys(track, names)
    assert times.dtype == np.float32 and weights.dtype == np.float32
    assert weights.shape == (len(times), len(names))
    assert (np.diff(times) > 0).all()
    assert weights.min() >= 0 and weights.max() <= 1
    assert (weights[:, 0] == 0).all()  # not a mouth target
    for v in track:
        if v.viseme == "sil":
            rows = np.isin(times, np.float32([v.start, v.end]))
            assert rows.sum() == 2 and (weights[rows] == 0).all()


def test_shapes_use_only_mouth_targets_and_the_oculus_set():
    assert set(VISEME_SHAPES) == OCULUS_15 and VISEME_SHAPES["sil"] == {}
    assert all(n.startswith(("mouth", "jaw", "tongue")) for n in MOUTH_TARGETS)
    assert {v.viseme for v in viseme_track("The quick brown fox jumps over a lazy dog, "
                                           "she said; church, vision? Yes.")} <= OCULUS_15


def test_visemes_json_document():
    line = "  Mom bought a map.  "
    track = viseme_track(line)
    document = json.loads(json.dumps(visemes_json(line, track)))
    assert document["format"] == "text2head-visemes" and document["version"] == 1
    assert document["text"] == "Mom bought a map." and document["viseme_set"] == "oculus-15"
    assert document["duration_s"] == round(track[-1].end, 3)
    first = document["visemes"][1]
    assert first == {"viseme": "PP", "start": first["start"], "end": first["end"],
                     "phoneme": "M", "word": "Mom", "stressed": False}
    assert [v["start"] for v in document["visemes"]] == sorted(v["start"]
                                                               for v in document["visemes"])
