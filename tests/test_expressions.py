"""Issue 17: expressions that read. The instant head's front view (224 px, the size CLIP scores)
is measured with MediaPipe's face mesh against the neutral head of the same person: each
expression moves the mouth, eyes and brows the way faces do, by a clear margin, and "slightly"
moves less than plain, which moves less than "very".

Thresholds are about half to two thirds of what the heads measure (in units of the distance
between the outer eye corners; the figures in the comments are the measured changes)."""

from __future__ import annotations

from itertools import pairwise

import pytest

pytest.importorskip("mediapipe", reason="MediaPipe 0.10.14 (scripts/test.sh installs it)")
from face_check import FaceChecker, FaceMeasures, measure_face, render_views  # noqa: E402

from text2head.instant import instant_head  # noqa: E402
from text2head.understand import understand  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:SymbolDatabase.GetPrototype:UserWarning")
RESOLUTION = 224
NEUTRAL = {"man": "a man", "woman": "a woman"}

# prompt: {measure: change from the neutral head it must exceed (a minimum when positive, a
# maximum when negative)}.
MOVES: dict[str, dict[str, float]] = {
    # cheeks up, eyes narrowed, corners up, wider: +0.053 lift, +0.12 width, -0.019 eyes
    "a smiling man": {"corner_lift": 0.03, "mouth_width": 0.07, "eye_open": -0.01},
    # teeth show as well: +0.056 lift, +0.13 width, +0.038 open, -0.018 eyes
    "a man grinning": {"corner_lift": 0.03, "mouth_width": 0.07, "mouth_open": 0.02,
                       "eye_open": -0.01},
    # inner brows up, corners down, mouth narrower: +0.024 brows, -0.019 lift, -0.024 width
    "a sad woman": {"brow_height": 0.015, "corner_lift": -0.012, "mouth_width": -0.012},
    # eyes wide, brows up, mouth open: +0.019 eyes, +0.035 brows, +0.016 open
    "a frightened man": {"eye_open": 0.01, "brow_height": 0.02, "mouth_open": 0.008},
    # brows down, eyes narrowed, upper lip up (the lips part), corners down:
    # -0.036 brows, -0.019 eyes, +0.028 open, -0.011 lift
    "a disgusted woman": {"brow_height": -0.02, "eye_open": -0.01, "mouth_open": 0.012,
                          "corner_lift": -0.005},
    # upper lids half down: -0.037 eyes
    "a drowsy man": {"eye_open": -0.022},
    # lids narrowed, brows down: -0.030 eyes, -0.031 brows
    "a man squinting": {"eye_open": -0.018, "brow_height": -0.015},
    # lips pushed together and forward: -0.057 width
    "a woman puckering her lips": {"mouth_width": -0.03},
}
# Prompts of one expression from weak to strong, the measure that must grow along them, and
# the least step between neighbours (measured: lift +0.029, +0.053, +0.074; width +0.066,
# +0.121, +0.168; brows +0.007, +0.024, +0.035; eyes -0.020, -0.037, -0.044).
SCALES = (
    (("a slightly smiling man", "a smiling man", "a very smiling man"), "corner_lift", 0.01),
    (("a slightly smiling man", "a smiling man", "a very smiling man"), "mouth_width", 0.02),
    (("a slightly sad woman", "a sad woman", "a very sad woman"), "brow_height", 0.005),
    (("a slightly drowsy man", "a drowsy man", "a very drowsy man"), "eye_open", 0.004),
)


def _person(prompt: str) -> str:
    return "woman" if "woman" in prompt else "man"


@pytest.fixture(scope="module")
def measures(head_model) -> dict[str, FaceMeasures]:
    """Face-mesh measures of the front view of every prompt's instant head, rendered once as
    the studio shows it (its ambient occlusion shades the open mouth: without it the mesh
    sees half of a grin's opening)."""
    prompts = {*NEUTRAL.values(), *MOVES, *(p for chain, _, _ in SCALES for p in chain)}
    checker = FaceChecker()
    found = {}
    try:
        for prompt in sorted(prompts):
            head = instant_head(head_model, understand(prompt))
            image, mask = render_views(head_model, head, ("front",), RESOLUTION)["front"]
            landmarks = checker.landmarks(image, mask)
            assert landmarks is not None, f"no face found for {prompt!r}"
            found[prompt] = measure_face(landmarks)
    finally:
        checker.close()
    return found


def _change(measures: dict[str, FaceMeasures], prompt: str, name: str) -> float:
    neutral = measures[NEUTRAL[_person(prompt)]]
    return getattr(measures[prompt], name) - getattr(neutral, name)


@pytest.mark.slow
@pytest.mark.parametrize("prompt", list(MOVES))
def test_expression_moves_the_face_the_right_way(measures, prompt):
    changes = {name: _change(measures, prompt, name) for name in measures[prompt].as_dict()}
    shown = ", ".join(f"{name} {change:+.3f}" for name, change in changes.items())
    for name, bound in MOVES[prompt].items():
        moved = changes[name] >= bound if bound > 0 else changes[name] <= bound
        assert moved, f"{prompt}: {name} should move past {bound:+.3f}; changes: {shown}"


@pytest.mark.slow
@pytest.mark.parametrize(("chain", "name", "step"), SCALES,
                         ids=[f"{chain[1]}-{name}" for chain, name, _ in SCALES])
def test_slightly_plain_very_grow(measures, chain, name, step):
    changes = [_change(measures, prompt, name) for prompt in chain]
    sign = 1.0 if changes[-1] > 0 else -1.0
    steps = [sign * (later - earlier) for earlier, later in pairwise(changes)]
    assert sign * changes[0] > 0 and min(steps) >= step, (
        f"{name} over {chain}: {', '.join(f'{c:+.3f}' for c in changes)}")
