"""Where the studio meets Gradio's server: one checked boundary for every endpoint's inputs,
errors that say what was wrong, which sessions still have a page open, which files were
uploaded, and unknown endpoints answered as such.

Gradio itself lets NaN through a slider's range check, turns a string sent for a number or a
missing input into an unexplained error, accepts any file in its cache (every session's) as
an "upload", and answers an unknown endpoint with HTTP 500.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import math
import re
from collections.abc import Callable, Collection
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
from text2head.studio.session import SessionEnded, SessionFull
from text2head.studio.studio import ServerBusy, Studio
from text2head.studio.uploads import Uploads

HEARTBEAT_PATH = re.compile(r"^(?:/gradio_api)?/heartbeat/(?P<key>[^/]+)/?$")
UPLOAD_PATH = re.compile(r"^(?:/gradio_api)?/upload/?$")
SESSION_ENDED = "This session has ended (the page was closed or it was idle too long)."
REJECTED = (ValueError, SessionEnded, SessionFull, ServerBusy)  # told to the caller as they are


class CheckedBlocks(gr.Blocks):
    """Blocks whose every event checks its inputs (how many, type, range, finiteness, and
    that a file is an upload of the caller's that no event has taken yet) before Gradio's
    own processing, so that no bad value reaches a handler or a session, and every rejection
    names the input and what it accepts. A refused event's uploads are deleted; a handler
    that is given an upload discards it through `uploads` when done. (File inputs are best
    wired with `preprocess=False`: Gradio's File with type="filepath" leaves an empty
    temporary file in its cache on every call.)"""

    def __init__(self, *args, uploads: Uploads, **kwargs):
        self.uploads = uploads
        super().__init__(*args, **kwargs)

    async def preprocess_data(self, block_fn, inputs, state, explicit_call=False):
        taken = take_uploads(block_fn, list(inputs), self.uploads)
        try:
            check_event(block_fn, list(inputs), taken)
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except BaseException as error:
            for path in taken:
                self.uploads.discard(path)
            if isinstance(error, InputError):
                raise gr.Error(str(error), print_exception=False) from None
            raise

    def forget_session(self, key: str) -> None:
        """Drop Gradio's per-session state (about 200 kB for this app) once the session has
        ended; Gradio keeps it until `state_session_capacity` sessions have come after it."""
        holder = getattr(self, "state_holder", None)
        if holder is None:  # not launched
            return
        with holder.lock:
            holder.session_data.pop(key, None)
            holder.time_last_used.pop(key, None)


def check_event(block_fn, values: list, uploads: list[str]) -> None:
    """Check the values sent to one event against its input components; `uploads` are the
    file paths among them that this event took as the caller's own uploads."""
    name = f"/{block_fn.api_name}" if block_fn.api_name else (block_fn.name or "this event")
    components = list(block_fn.inputs)
    check_count(name, [label_of(c) for c in components], values)
    for component, value in zip(components, values, strict=True):
        check_value(component, value, uploads)


def take_uploads(block_fn, values: list, uploads: Uploads) -> list[str]:
    """Take, for this event, the pending uploads its file inputs name."""
    return [value["path"] for component, value in zip(block_fn.inputs, values, strict=False)
            if isinstance(component, gr.File) and isinstance(value, dict)
            and isinstance(value.get("path"), str) and uploads.take(value["path"])]


def label_of(component: gr.components.Component) -> str:
    return component.label or component.elem_id or type(component).__name__


def check_value(component: gr.components.Component, value: object,
                uploads: Collection[str] = ()) -> None:
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
    elif isinstance(component, gr.Dropdown | gr.Radio):
        check_choice(label, value, [choice for _, choice in component.choices])
    elif isinstance(component, gr.Textbox):
        check_text(label, value)
    elif isinstance(component, gr.Dataset):  # gr.Examples: the index of a clicked example
        check_number(label, value, 0, len(component.raw_samples) - 1, whole=True)
    elif isinstance(component, gr.File):
        check_upload(component, value, uploads)
    else:
        raise TypeError(f"no input check for a {type(component).__name__} ({label})")


def check_upload(component: gr.File, value: object, uploads: Collection[str]) -> None:
    """A file the caller uploaded for this event (a server path, a URL or another event's
    upload is refused before anything reads it), of one of the component's file types."""
    if value is None:
        return
    label = label_of(component)
    if not (isinstance(value, dict) and isinstance(value.get("path"), str)):
        raise InputError(f"{label} must be an uploaded file; got {describe(value)}")
    if value["path"] not in uploads:
        raise InputError(f"{label} takes only a file uploaded with this request (the page's "
                         "upload button, or gradio_client.handle_file); a server path, a URL "
                         "or an earlier upload is not accepted")
    suffix = Path(value["path"]).suffix.lower()
    if component.file_types and suffix not in component.file_types:
        raise InputError(f"{label} must be a {' or '.join(component.file_types)} file; got "
                         f"a {suffix or 'file without an extension'}")


def rejecting(handler: Callable) -> Callable:
    """Turn the library's rejections into messages for the caller: a ValueError (bad input
    that only the library can judge, such as an unknown style or a bad params.json) becomes
    a gr.Error with its text, and so do a busy server and a full session; a session that
    ended says so. Works for generators."""

    def reject(error: Exception) -> gr.Error:
        text = SESSION_ENDED if isinstance(error, SessionEnded) else str(error)
        return gr.Error(text, print_exception=False)

    if inspect.isgeneratorfunction(handler):
        @functools.wraps(handler)
        def stream(*args, **kwargs):
            try:
                yield from handler(*args, **kwargs)
            except REJECTED as error:
                raise reject(error) from None
        return stream

    @functools.wraps(handler)
    def call(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except REJECTED as error:
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


class UploadRecorder:
    """ASGI middleware: records the paths Gradio's upload route returns, the only files an
    event may then take as the caller's upload (`Uploads`)."""

    def __init__(self, app: ASGIApp, uploads: Uploads):
        self.app = app
        self.uploads = uploads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or \
                not UPLOAD_PATH.match(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        status, body = 0, []

        async def recording(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                body.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, recording)
        if status == 200:
            with contextlib.suppress(ValueError):
                paths = json.loads(b"".join(body))
                if isinstance(paths, list):
                    self.uploads.record([path for path in paths if isinstance(path, str)])


async def unknown_endpoint(request: Request, error: FnIndexInferError) -> JSONResponse:
    """404 naming the endpoint, instead of Gradio's HTTP 500."""
    name = request.path_params.get("api_name", "")
    return JSONResponse(status_code=404, content={
        "error": f"unknown endpoint /{name}; the endpoints are listed at /gradio_api/info"})


def app_kwargs(studio: Studio) -> dict:
    """FastAPI arguments for `launch(app_kwargs=...)`."""
    return {"middleware": [Middleware(ConnectionTracker, studio=studio),
                           Middleware(UploadRecorder, uploads=studio.uploads)],
            "exception_handlers": {FnIndexInferError: unknown_endpoint}}
