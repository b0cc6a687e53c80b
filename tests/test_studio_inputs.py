"""The studio's input checks without a server: each names the input and what it accepts, every
component kind of the app has a check, and Gradio's per-session state is dropped on request."""

from __future__ import annotations

import math
import time
import uuid

import gradio as gr
import pytest
from app_server import load_app
from gradio.state_holder import StateHolder

from text2head.seeds import MAX_SEED
from text2head.studio import Studio
from text2head.studio.hosting import CheckedBlocks, check_value
from text2head.studio.inputs import (
    MAX_TEXT,
    InputError,
    check_choice,
    check_count,
    check_flag,
    check_number,
    check_text,
)
from text2head.studio.limits import Limits


@pytest.mark.parametrize(("value", "whole", "message"), [
    (math.nan, False, "Steps must be a number from 5 to 300; got nan"),
    (math.inf, False, "got inf"),
    (-math.inf, False, "got -inf"),
    ("7", False, "got '7' (a str)"),
    (True, False, "got True (a bool)"),
    (None, False, "got None (a NoneType)"),
    ([5], False, "got [5] (a list)"),
    (4.999, False, "got 4.999"),
    (301, True, "Steps must be a whole number from 5 to 300; got 301"),
    (7.5, True, "must be a whole number"),
])
def test_numbers_are_finite_in_range_and_whole_when_asked(value, whole, message):
    with pytest.raises(InputError) as caught:
        check_number("Steps", value, 5, 300, whole)
    assert message in str(caught.value)
    assert str(caught.value).startswith("Steps must be")
    check_number("Steps", 300, 5, 300, whole)
    check_number("Steps", 5.0, 5, 300, whole)


def test_seeds_span_the_signed_64_bit_range_and_say_so_exactly():
    check_number("Seed", MAX_SEED, 0, MAX_SEED, whole=True)
    with pytest.raises(InputError, match=f"from 0 to {MAX_SEED}; got {2**70}$"):
        check_number("Seed", 2**70, 0, MAX_SEED, whole=True)


def test_text_choices_flags_and_counts():
    check_text("Prompt", None)
    check_text("Prompt", "a" * MAX_TEXT)
    with pytest.raises(InputError, match=f"Prompt is {MAX_TEXT + 1} characters long; at most"):
        check_text("Prompt", "a" * (MAX_TEXT + 1))
    with pytest.raises(InputError, match=r"Prompt must be text; got \{\}"):
        check_text("Prompt", {})
    with pytest.raises(InputError, match="Hair must be one of bald, long01; got 'mohawk'"):
        check_choice("Hair", "mohawk", ["bald", "long01"])
    with pytest.raises(InputError, match=r"Randomize seed must be true or false; got 1"):
        check_flag("Randomize seed", 1)
    with pytest.raises(InputError, match=r"^/stop takes no inputs; got 2$"):
        check_count("/stop", [], [1, 2])
    with pytest.raises(InputError, match=r"^/x takes 2 input\(s\) \(a, b\); got 3$"):
        check_count("/x", ["a", "b"], [1, 2, 3])


def test_every_input_component_of_the_app_has_a_check(head_model, tmp_path, monkeypatch):
    """A new kind of input in app.py without a check fails here, not in production."""
    monkeypatch.setenv("TEXT2HEAD_CLIP", "random:tiny")
    studio = Studio(model=head_model, root=tmp_path / "s", device="cpu")
    try:
        demo = load_app().build_app(studio)
        assert isinstance(demo, CheckedBlocks)
        inputs = {id(c): c for fn in demo.fns.values() for c in fn.inputs}
        assert inputs
        for component in inputs.values():
            with pytest.raises(InputError):  # a value of no kind any component accepts
                check_value(component, {"path": 1})
    finally:
        studio.close()
    with pytest.raises(TypeError, match="no input check for a Video"):
        check_value(gr.Video(label="clip"), None)


def test_gradio_state_of_an_ended_session_is_dropped(head_model, tmp_path):
    studio = Studio(model=head_model, root=tmp_path / "s", device="cpu",
                    limits=Limits(idle_seconds=0.2))
    try:
        demo = CheckedBlocks(uploads=studio.uploads)
        StateHolder().set_blocks(demo)
        studio.on_session_end(demo.forget_session)
        keys = [str(uuid.uuid4()) for _ in range(3)]
        for key in keys:
            demo.state_holder[key]  # what Gradio makes for every event of a session
            studio.session(key)
        studio.end_session(keys[0])
        assert keys[0] not in demo.state_holder.session_data
        studio.connect(keys[2])
        deadline = time.monotonic() + 10
        while keys[1] in demo.state_holder.session_data:  # expired by the reaper
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert keys[2] in demo.state_holder.session_data  # connected: stays
    finally:
        studio.close()
