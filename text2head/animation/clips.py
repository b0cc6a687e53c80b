"""The three clips a head comes with: `idle`, `expression` and `talk`.

Every clip starts from the head's own morph weights (its expression) and is seeded, so the
same head and seed always move the same way. Timings follow what faces do: blinks every
3-6 s lasting 0.10-0.15 s (closing faster than opening), about 15 breaths a minute, gaze
shifts (saccades) of about 50 ms between fixations of a second or two.
"""

from __future__ import annotations

import numpy as np

from text2head.animation import speech
from text2head.animation.clip import Clip, Curves

CLIP_NAMES = ("idle", "expression", "talk")
IDLE_SECONDS = 8.0  # two breaths of 4 s, so the loop closes on a breath
BREATH_SECONDS = 4.0
BREATH_KEYS = 8  # keys per breath: a raised cosine, smooth enough under linear interpolation
BREATH = {"jawOpen": 0.03, "noseSneerLeft": 0.05, "noseSneerRight": 0.05}
BLINK_GAP = (3.0, 6.0)
BLINK_LENGTH = (0.10, 0.15)
BLINK_CLOSING = 0.4  # of a blink's length; the lid opens more slowly than it closes
SACCADE_SECONDS = 0.05
FIXATION_SECONDS = (0.8, 2.2)
GAZE_REACH = (0.3, 0.15)  # largest eyeLook weights sideways and up/down during idle
# The expression clip: rest, ease in, hold, ease out, rest (seconds).
EXPRESSION_PHASES = (0.5, 0.7, 1.8, 0.7, 0.5)
EASE_KEYS = 6
STRESS_BROWS = {"browInnerUp": 0.3, "browOuterUpLeft": 0.15, "browOuterUpRight": 0.15}
STRESS_LEAD, STRESS_TAIL = 0.08, 0.2  # brows rise just before a stressed vowel, fall after


def idle(targets: tuple[str, ...], base: np.ndarray, seed: int = 0) -> Clip:
    """A seamless loop: the head's own expression with blinks, breathing and saccades."""
    rng = np.random.default_rng(seed)
    curves = Curves(targets, base, IDLE_SECONDS)
    _breathe(curves)
    _blink(curves, rng, IDLE_SECONDS)
    _look_around(curves, rng)
    return curves.clip("idle", loops=True)


def expression(targets: tuple[str, ...], base: np.ndarray, seed: int = 0) -> Clip:
    """Neutral, the head's expression eased in, held, eased out, neutral; with blinks."""
    if not np.any(base > 0):
        raise ValueError("the head's expression is neutral: the expression clip has nothing to "
                         "perform (give the head one with the prompt or the sliders)")
    rest, rise, hold, fall, _ = EXPRESSION_PHASES
    duration = sum(EXPRESSION_PHASES)
    ramp = np.linspace(0.0, 1.0, EASE_KEYS)
    eased = ramp * ramp * (3 - 2 * ramp)  # smoothstep
    up, down = rest + rise * ramp, rest + rise + hold + fall * ramp
    curves = Curves(targets, base, duration)
    curves.scale_base(np.concatenate([up, down]), np.concatenate([eased, 1 - eased]))
    _blink(curves, np.random.default_rng(seed), duration)
    return curves.clip("expression")


def talk(targets: tuple[str, ...], base: np.ndarray, line: str, seed: int = 0) -> Clip:
    """The head says `line`: visemes own the mouth and jaw, the rest of its expression stays
    (a smiling head talks smiling); brows rise on stressed words; blinks. The clip lasts as
    long as the line, and carries its viseme track."""
    line = speech.check_line(line)
    track = speech.viseme_track(line)
    times, mouth = speech.mouth_keys(track, list(targets))
    curves = Curves(targets, base, float(times[-1]))
    for name in speech.MOUTH_TARGETS:
        curves.set(name, times, mouth[:, targets.index(name)])
    for viseme in track:
        if viseme.stressed:
            middle = (viseme.start + viseme.end) / 2
            for name, height in STRESS_BROWS.items():
                curves.add(name, [middle - STRESS_LEAD, middle, middle + STRESS_TAIL],
                           [0.0, height, 0.0])
    _blink(curves, np.random.default_rng(seed), float(times[-1]))
    return curves.clip("talk", visemes=speech.visemes_json(line, track))


def make_clip(name: str, targets: tuple[str, ...], base: np.ndarray, *, line: str | None = None,
              seed: int = 0) -> Clip:
    """The clip called `name` (one of `CLIP_NAMES`); `talk` needs the `line` to say."""
    if name == "talk":
        if line is None:
            raise ValueError("the talk clip needs a line to say (--say in the CLI)")
        return talk(targets, base, line, seed)
    if name == "idle":
        return idle(targets, base, seed)
    if name == "expression":
        return expression(targets, base, seed)
    raise ValueError(f"unknown clip {name!r}; known clips: {', '.join(CLIP_NAMES)}")


def _breathe(curves: Curves) -> None:
    """A raised cosine per breath on the jaw and nostrils, ending where it began."""
    breaths = round(curves.duration / BREATH_SECONDS)
    times = np.linspace(0.0, curves.duration, breaths * BREATH_KEYS + 1)
    depth = 0.5 - 0.5 * np.cos(2 * np.pi * times / BREATH_SECONDS)
    for name, amplitude in BREATH.items():
        curves.add(name, times, amplitude * depth)


def _blink(curves: Curves, rng: np.random.Generator, duration: float) -> None:
    """Both eyes close and reopen at irregular intervals; none is cut by the clip's end."""
    start = rng.uniform(0.6, 1.6)
    while True:
        length = rng.uniform(*BLINK_LENGTH)
        if start + length > duration - 0.1:
            return
        keys = [start, start + BLINK_CLOSING * length, start + length]
        for name in ("eyeBlinkLeft", "eyeBlinkRight"):
            curves.add(name, keys, [0.0, 1.0, 0.0])
        start += length + rng.uniform(*BLINK_GAP)


def _look_around(curves: Curves, rng: np.random.Generator) -> None:
    """Fixations at small random gaze angles joined by quick saccades, back to centre before
    the loop ends."""
    gaze = {name: [(0.0, 0.0)] for name in _GAZE_TARGETS}
    time = rng.uniform(*FIXATION_SECONDS)
    while time + SACCADE_SECONDS < curves.duration - FIXATION_SECONDS[0]:
        sideways = rng.uniform(-1, 1) * GAZE_REACH[0]
        vertical = rng.uniform(-1, 1) * GAZE_REACH[1]
        _move_gaze(gaze, time, sideways, vertical)
        time += SACCADE_SECONDS + rng.uniform(*FIXATION_SECONDS)
    _move_gaze(gaze, min(time, curves.duration - SACCADE_SECONDS), 0.0, 0.0)
    for name, keys in gaze.items():
        times, values = zip(*keys, strict=True)
        curves.add(name, times, values)


# A gaze to the head's left turns the left eye outward and the right eye inward.
_GAZE_TARGETS = ("eyeLookOutLeft", "eyeLookInRight", "eyeLookOutRight", "eyeLookInLeft",
                 "eyeLookUpLeft", "eyeLookUpRight", "eyeLookDownLeft", "eyeLookDownRight")


def _move_gaze(gaze: dict[str, list[tuple[float, float]]], time: float, sideways: float,
               vertical: float) -> None:
    """A saccade starting at `time` to (sideways > 0: the head's left, vertical > 0: up)."""
    left, right = max(sideways, 0.0), max(-sideways, 0.0)
    up, down = max(vertical, 0.0), max(-vertical, 0.0)
    targets = dict(zip(_GAZE_TARGETS, (left, left, right, right, up, up, down, down),
                       strict=True))
    for name, value in targets.items():
        held = gaze[name][-1][1]
        gaze[name] += [(time, held), (time + SACCADE_SECONDS, value)]
