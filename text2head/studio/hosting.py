"""Where the studio meets Gradio's server: one checked boundary for every endpoint's inputs,
errors that say what was wrong, which sessions still have a page open, and unknown
endpoints answered as such.

Gradio itself lets NaN through a slider's range check, turns a string sent for a number or a
missing input into an unexplained error, and answers an unknown endpoint with HTTP 500.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import re
from collections.abc import Callable
from pathlib import Path

import gradio as gr
from gradio.route_utils import FnIndexInferError
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from text2head.studio.inputs import (
    InputError,
    check_choice,
    check_count,
    check_flag,
    check_number,
    check_text,
    describe,
)
from text2head.studio.session import SessionEnded
from text2head.studio.studio import Studio

HEARTBEAT_PATH = re.compile(r"^(?:/gradio_api)?/heartbeat/(?P<key>[^/]+)/?$")
SESSION_ENDED = "This session has ended (the page was closed or it was idle too long)."


class CheckedBlocks(gr.Blocks):
    """Blocks whose every event checks its inputs (how many, type, range, finiteness) before
    Gradio's own processing, so that no bad value reaches a handler or a session, and every
    rejection names the input and what it accepts."""

    async def preprocess_data(self, block_fn, inputs, state, explicit_call=False):
        try:
            check_event(block_fn, list(inputs))
        except InputError as error:
            raise gr.Error(str(error), print_exception=False) from None
        return await super().preprocess_data(block_fn, inputs, state, explicit_call)

    def forget_session(self, key: str) -> None:
        """Drop Gradio's per-session state (about 200 kB for this app) once the session has
        ended; Gradio keeps it until `state_session_capacity` sessions have come after it."""
        holder = getattr(self, "state_holder", None)
        if holder is None:  # not launched
            return
        with holder.lock:
            holder.session_data.pop(key, None)
            holder.time_last_used.pop(key, None)


def check_event(block_fn, values: list) -> None:
    """Check the values sent to one event against its input components."""
    name = f"/{block_fn.api_name}" if block_fn.api_name else (block_fn.name or "this event")
    components = list(block_fn.inputs)
    check_count(name, [label_of(c) for c in components], values)
    for component, value in zip(components, values, strict=True):
        check_value(component, value)


def label_of(component: gr.components.Component) -> str:
    return component.label or component.elem_id or type(component).__name__


def check_value(component: gr.components.Component, value: object) -> None:
    """The check for one component kind; a kind without a check is a programming error."""
    label = label_of(component)
    if isinstance(component, gr.Slider):
        whole = float(component.step).is_integer() and float(component.minimum).is_integer()
        check_number(label, value, component.minimum, component.maximum, whole)
    elif isinstance(component, gr.Number):
        low = -math.inf if component.minimum is None else component.minimum
        high = math.inf if component.maximum is None else component.maximum
        check_number(label, value, low, high, whole=component.precision == 0)
    elif isinstance(component, gr.Checkbox):
        check_flag(label, value)
    elif isinstance(component, gr.Dropdown):
        check_choice(label, value, [choice for _, choice in component.choices])
    elif isinstance(component, gr.Textbox):
        check_text(label, value)
    elif isinstance(component, gr.Dataset):  # gr.Examples: the index of a clicked example
        check_number(label, value, 0, len(component.raw_samples) - 1, whole=True)
    elif isinstance(component, gr.File):
        if value is not None and not (isinstance(value, dict)
                                      and isinstance(value.get("path"), str)):
            raise InputError(f"{label} must be an uploaded file; got {describe(value)}")
    else:
        raise TypeError(f"no input check for a {type(component).__name__} ({label})")


def rejecting(handler: Callable) -> Callable:
    """Turn the library's rejections into messages for the caller: a ValueError (bad input
    that only the library can judge, such as an unknown style or a bad params.json) becomes
    a gr.Error with its text, and a session that ended says so. Works for generators."""

    def reject(error: Exception) -> gr.Error:
        text = SESSION_ENDED if isinstance(error, SessionEnded) else str(error)
        return gr.Error(text, print_exception=False)

    if inspect.isgeneratorfunction(handler):
        @functools.wraps(handler)
        def stream(*args, **kwargs):
            try:
                yield from handler(*args, **kwargs)
            except (ValueError, SessionEnded) as error:
                raise reject(error) from None
        return stream

    @functools.wraps(handler)
    def call(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except (ValueError, SessionEnded) as error:
            raise reject(error) from None
    return call


class ConnectionTracker:
    """ASGI middleware: while a page or client holds its heartbeat stream open, its session
    is in use and never expires (it ends through Gradio's unload event instead)."""

    def __init__(self, app: ASGIApp, studio: Studio):
        self.app = app
        self.studio = studio

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = HEARTBEAT_PATH.match(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None:
            await self.app(scope, receive, send)
            return
        key = match["key"]
        self.studio.connect(key)
        try:
            await self.app(scope, receive, send)
        finally:
            self.studio.disconnect(key)


async def unknown_endpoint(request: Request, error: FnIndexInferError) -> JSONResponse:
    """404 naming the endpoint, instead of Gradio's HTTP 500."""
    name = request.path_params.get("api_name", "")
    return JSONResponse(status_code=404, content={
        "error": f"unknown endpoint /{name}; the endpoints are listed at /gradio_api/info"})


def app_kwargs(studio: Studio) -> dict:
    """FastAPI arguments for `launch(app_kwargs=...)`."""
    return {"middleware": [Middleware(ConnectionTracker, studio=studio)],
            "exception_handlers": {FnIndexInferError: unknown_endpoint}}


def discard_upload(path: str | Path | None) -> None:
    """Delete a file Gradio received for this event (its folder too, if left empty): the
    upload was read, and nothing should stay behind in Gradio's cache."""
    if not path:
        return
    path = Path(path)
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty (another upload of the same bytes) or gone
        path.parent.rmdir()
