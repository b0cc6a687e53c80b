"""The app's one checked boundary, over plain HTTP and gradio_client as a hosting user calls
it: every rejection is a specific message naming the input and what it accepts (never
`{"error": null}`, HTTP 500 or a printed traceback), an unknown endpoint is a 404, a bad
value never reaches a session, /open takes only the caller's own upload, and every file a
page is shown lies in its session's folder, so that it goes with the session. The app keeps
its sessions in Gradio's cache folder, as `python app.py` does."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import pytest
import torch
from app_server import running_app
from gradio_client import Client

from text2head.edits import EDIT_CONTROLS, STYLE_MENUS, edit_values, style_values
from text2head.heads.params import MAX_FILE_BYTES

pytestmark = pytest.mark.slow
SECONDS = 300


@pytest.fixture(scope="module")
def app(studio_app):
    return studio_app


def call(url: str, endpoint: str, body: str, session: str | None = None) -> tuple[str, object]:
    """(event, data) of one call through Gradio's HTTP API; `body` is the raw JSON of the
    inputs, so that NaN and huge integers are sent exactly as a hand-written caller would.
    `session` joins a gradio_client's session (only while it streams nothing else)."""
    extra = f', "session_hash": "{session}"' if session else ""
    posted = httpx.post(f"{url}gradio_api/call/{endpoint}", timeout=30,
                        content=f'{{"data": {body}{extra}}}',
                        headers={"content-type": "application/json"})
    assert posted.status_code == 200, posted.text
    event_id = posted.json()["event_id"]
    with httpx.stream("GET", f"{url}gradio_api/call/{endpoint}/{event_id}",
                      timeout=SECONDS) as stream:
        event = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                event = line[len("event: "):]
            elif line.startswith("data: ") and event in ("complete", "error"):
                return event, json.loads(line[len("data: "):])
    pytest.fail(f"{endpoint}: the stream ended without a result")


def rejection(url: str, endpoint: str, body: str, session: str | None = None) -> str:
    event, data = call(url, endpoint, body, session)
    assert event == "error", f"{endpoint} {body} was accepted: {data}"
    assert data and data.get("error"), f"{endpoint} {body}: an unexplained error {data}"
    return data["error"]


def upload(url: str, name: str, content: bytes) -> str:
    """Upload a file as the page (or gradio_client.handle_file) does; returns its path."""
    answer = httpx.post(f"{url}gradio_api/upload", files={"files": (name, content)},
                        timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()[0]


def file_data(path: str) -> str:
    """The JSON inputs of /open naming `path`."""
    return json.dumps([{"path": path, "meta": {"_type": "gradio.FileData"}}])


def defaults(endpoint: str) -> list:
    """The default value of every input of an endpoint, as /gradio_api/info lists them."""
    return [p.get("parameter_default") for p in ENDPOINTS[endpoint]["parameters"]]


ENDPOINTS: dict = {}


@pytest.fixture(scope="module", autouse=True)
def endpoints(app):
    ENDPOINTS.update(httpx.get(f"{app[0]}gradio_api/info", timeout=30).json()["named_endpoints"])


def test_unknown_endpoints_are_404_naming_the_endpoint(app):
    url, _ = app
    for route in ("call", "run"):
        answer = httpx.post(f"{url}gradio_api/{route}/teleport", json={"data": []}, timeout=30)
        assert answer.status_code == 404
        assert "unknown endpoint /teleport" in answer.json()["error"]


@pytest.mark.parametrize(("endpoint", "replace", "expected"), [
    # Seeds: integers within 0…2**63−1 (fault 6: 2**70 gave "Overflow when unpacking").
    ("/random_head", {0: "1180591620717411303424"},
     "Seed must be a whole number from 0 to 9223372036854775807; got 1180591620717411303424"),
    ("/random_head", {0: '"abc"'}, "Seed must be a whole number from 0 to 9223372036854775807; "
                                   "got 'abc' (a str)"),
    ("/random_head", {0: "NaN"}, "Seed must be a whole number from 0 to 9223372036854775807; "
                                 "got nan"),
    ("/random_head", {0: "-1"}, "Seed must be a whole number"),
    ("/random_head", {0: "2.5"}, "Seed must be a whole number"),
    # Loss weights: finite, within the slider's range, with or without a run.
    ("/set_clip", {0: "NaN"}, "CLIP (match the prompt) must be a number from 0 to 3; got nan"),
    ("/set_clip", {0: "Infinity"}, "got inf"),
    ("/set_clip", {0: '"x"'}, "CLIP (match the prompt) must be a number from 0 to 3; got 'x'"),
    ("/set_clip", {0: "true"}, "got True (a bool)"),
    ("/set_texture_smoothness", {0: "99"}, "Texture smoothness must be a number from 0 to 5"),
    ("/set_learning_rate", {0: "0"}, "Learning rate × must be a number from 0.1 to 3; got 0"),
    # A run's settings, before any work starts.
    ("/generate", {0: "42"}, "Prompt must be text; got 42"),
    ("/generate", {3: "NaN"}, "Steps must be a whole number from 5 to 300; got nan"),
    ("/generate", {3: "1e9"}, "Steps must be a whole number from 5 to 300"),
    ("/generate", {4: "7"}, "Views per step must be a whole number from 1 to 6; got 7"),
    ("/generate", {5: '"ViT-H-14:evil"'}, "CLIP model must be one of"),
    ("/continue", {7: "-0.5"}, "CLIP (match the prompt) must be a number from 0 to 3"),
    # Edit sliders and style menus (fault 5: NaN used to reach the session's head).
    ("/edit", {0: "NaN"}, f"{EDIT_CONTROLS[0].label} must be a number"),
    ("/edit", {len(EDIT_CONTROLS): '"mohawk"'}, f"{STYLE_MENUS[0][0]} must be one of"),
    # The candidates grid: a place in it, and only once there is one.
    ("/choose", {0: "7"}, "Candidate must be a whole number from 0 to 3; got 7"),
    ("/choose", {0: "null"}, "Candidate must be a whole number from 0 to 3; got None"),
    ("/choose", {0: "1"}, "There are no candidates yet: press Generate first"),
    ("/more_like", {}, "There are no candidates yet: press Generate first"),
])
def test_rejections_name_the_input_and_what_it_accepts(app, endpoint, replace, expected,
                                                       capfd):
    url, _ = app
    values = [json.dumps(v) for v in defaults(endpoint)]
    for index, text in replace.items():
        values[index] = text
    message = rejection(url, endpoint.lstrip("/"), f"[{', '.join(values)}]")
    assert expected in message
    assert "Traceback" not in capfd.readouterr().err  # an ordinary rejection prints nothing


def test_input_counts_are_checked(app):
    url, _ = app
    message = rejection(url, "edit", "[0.1]")
    assert message.startswith(f"/edit takes {len(EDIT_CONTROLS) + len(STYLE_MENUS)} input(s) "
                              f"({EDIT_CONTROLS[0].label}")
    assert message.endswith("got 1")
    assert rejection(url, "export", "[1]") == "/export takes no inputs; got 1"


def test_nan_during_a_run_is_refused_and_the_run_goes_on(app):
    """Fault 6: NaN sent to /set_* during a run was an HTTP 500."""
    url, _ = app
    client = Client(url, verbose=False)
    try:
        job = client.submit(prompt="a bald man", steps=300, views=1, api_name="/generate")
        deadline = time.monotonic() + SECONDS
        while not any(output[3] for output in job.outputs()):  # a weights line: running
            assert time.monotonic() < deadline and not job.done()
            time.sleep(0.2)
        answer = httpx.post(f"{url}gradio_api/run/set_clip", timeout=30,
                            content=f'{{"data": [NaN], "session_hash": "{client.session_hash}"}}',
                            headers={"content-type": "application/json"})
        assert answer.status_code != 200
        assert answer.json()["error"].startswith("CLIP (match the prompt) must be a number")
        client.predict(0.5, api_name="/set_clip")
        client.predict(api_name="/stop")
        final = job.result(timeout=SECONDS)
    finally:
        client.close()
    # The run either took the Stop or, on a fast machine, finished its 300 steps first:
    # both mean the refused NaN left it running to a normal end.
    assert re.search(r"Done (\(stopped\)|: 300 steps)", final[2]), final[2]
    assert "longer than CLIP reads" not in final[2]
    assert not any("nan" in (output[3] or "") for output in job.outputs())


def test_a_rejected_edit_leaves_the_head_and_later_calls_working(app, head_model):
    url, _ = app
    client = Client(url, verbose=False)
    try:
        client.predict(5, api_name="/random_head")
        before = Path(client.predict(api_name="/export")[-1]).read_text()
        head = head_model.from_json(before)
        values = [json.dumps(v) for v in (*edit_values(head_model, head), *style_values(head))]
        values[0] = "NaN"  # gradio_client refuses to send NaN; a hand-written caller can
        message = rejection(url, "edit", f"[{', '.join(values)}]", session=client.session_hash)
        assert message.startswith(f"{EDIT_CONTROLS[0].label} must be a number")
        after = Path(client.predict(api_name="/export")[-1]).read_text()
    finally:
        client.close()
    assert json.loads(after) == json.loads(before)


def test_every_file_a_page_is_shown_lies_in_its_session_folder_and_goes_with_it(
        tmp_path, monkeypatch):
    """Fault 4: Gradio copied every file into its cache, where nothing tied the copy to the
    session (13 MB per run, kept for hours)."""
    cache = tmp_path / "gradio"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(cache))
    with running_app(None) as (url, studio):
        client = Client(url, verbose=False)
        try:
            session = client.session_hash
            _, (preview, _) = call(url, "random_head", "[3]", session=session)
            _, (viewer, *downloads) = call(url, "export", "[]", session=session)
            folder = studio.session(session).folder
            for shown in (preview, viewer, *downloads):
                assert Path(shown["path"]).is_relative_to(folder), shown["path"]
            assert folder.is_relative_to(cache)
            # Issue 15, fault 3: every /open left an empty temp file in the cache.
            saved = Path(downloads[-1]["path"]).read_bytes()
            event, _ = call(url, "open", file_data(upload(url, "p.json", saved)), session)
            assert event == "complete"
            upload(url, "never-opened.json", saved + b" ")  # deleted at shutdown at the latest
        finally:
            client.close()  # the heartbeat ends: Gradio's unload event ends the session
        deadline = time.monotonic() + 60
        while folder.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not folder.exists()
        left = [p for p in cache.rglob("*") if p.is_file() and p.name != ".lock"
                and p.name != "never-opened.json"]
        assert left == [], left
    assert not studio.root.exists()
    assert list(cache.rglob("*")) == [], "the app leaves nothing in Gradio's cache"


def test_the_status_line_says_when_the_prompt_was_cut(app, capfd):
    """Fault 8: a prompt cut to CLIP's 77 tokens was only logged; issue 15, fault 5: and it
    was logged in full (a person's prompt is theirs, not the server log's)."""
    url, _ = app
    long_prompt = "a portrait of an old sailor with " + ", ".join(
        f"a scar number {i} on the left cheek" for i in range(20))
    client = Client(url, verbose=False)
    try:  # a cached prompt and a short one: tests/test_stop_and_notices.py
        final = client.predict(prompt=long_prompt, steps=5, views=1, api_name="/generate")
    finally:
        client.close()
    assert "longer than CLIP reads (77 tokens)" in final[2]
    assert "scar number" not in "".join(capfd.readouterr())


def open_cases(saved: str) -> dict[str, tuple[bytes, str]]:
    """Bad params.json files (name -> (bytes, what the error must say)), made from a good one."""
    data = json.loads(saved)
    nan = saved.replace('"age": ' + json.dumps(data["identity"]["age"]), '"age": NaN', 1)
    huge = json.dumps({**data, "identity": {**data["identity"], "age": 1e308}})
    unknown = json.dumps({**data, "hats": 1, "identity": {**data["identity"], "agee": 0.5}})
    return {
        "empty": (b"", "is empty"),
        "malformed": (saved[:200].encode(), "line"),
        "glb": (b"glTF\x02\x00\x00\x00" + bytes(64), "GLB"),
        "nested": (b"[" * 1_000_000, "nested too deeply"),  # 1 MB of nesting
        "nan": (nan.encode(), "identity parameter 'age' is NaN"),
        "huge": (huge.encode(), "is outside"),
        "types": (json.dumps({**data, "pose": [1, 2]}).encode(), "pose"),
        "unknown": (unknown.encode(), "'agee'"),
        "version": (json.dumps({**data, "format": "text2head.params/9"}).encode(), "/9"),
    }


def test_open_accepts_a_saved_head_and_refuses_bad_files_leaving_the_head(app, head_model,
                                                                          tmp_path):
    """A params.json opens into the session; every bad file is named with what is wrong, the
    head on show stays, and Gradio's copy of the upload is deleted."""
    from gradio.utils import get_upload_folder
    from gradio_client import handle_file

    url, studio = app
    saved = head_model.to_json(head_model.sample(torch.Generator().manual_seed(11)))
    good = tmp_path / "good-head.json"
    good.write_text(saved)
    client = Client(url, verbose=False)

    def on_show() -> str:  # the session's head, read in-process (an /export per case is slow)
        return studio.model.to_json(studio.session(client.session_hash).head)

    try:
        _, preview, status = client.predict(handle_file(str(good)), api_name="/open")
        assert "Opened a saved head" in status and Path(preview).is_file()
        shown = Path(client.predict(api_name="/export")[-1]).read_text()
        assert json.loads(shown) == json.loads(saved) == json.loads(on_show())
        for name, (content, expected) in open_cases(saved).items():
            bad = tmp_path / f"bad-{name}.json"
            bad.write_bytes(content)
            with pytest.raises(Exception) as caught:
                client.predict(handle_file(str(bad)), api_name="/open")
            assert expected in str(caught.value), (name, str(caught.value))
            assert json.loads(on_show()) == json.loads(saved), name
        big = tmp_path / "bad-big.json"
        big.write_bytes(b" " * (MAX_FILE_BYTES + 1))
        with pytest.raises(Exception, match="(?i)size|large"):  # refused by the upload limit
            client.predict(handle_file(str(big)), api_name="/open")
    finally:
        client.close()
    uploads = [p.name for p in Path(get_upload_folder()).rglob("*.json")
               if p.name.startswith(("good-head", "bad-"))]
    assert uploads == [], "the uploads were read and must be gone"


OWN_UPLOAD = "takes only a file uploaded with this request"


def test_open_takes_only_the_callers_own_upload_never_another_sessions_file(app, capfd,
                                                                             head_model):
    """Issue 15, fault 1: /open opened (and then deleted) any file in Gradio's cache, such as
    another session's params.json; fault 4: a server path or a URL answered
    `{"error": null}` with a logged traceback, and a URL was even fetched."""
    url, studio = app
    owner, other = Client(url, verbose=False), Client(url, verbose=False)
    try:
        owner.predict(4, api_name="/random_head")
        _, (*_, shown) = call(url, "export", "[]", session=owner.session_hash)
        params = shown["path"]  # as the server names it (gradio_client hands out a copy)
        assert Path(params).is_relative_to(studio.root)
        saved = Path(params).read_text()
        message = rejection(url, "open", file_data(params), session=other.session_hash)
        assert OWN_UPLOAD in message
        assert Path(params).read_text() == saved, "the owner's file is untouched"
        assert httpx.get(f"{url}gradio_api/file={params}", timeout=30).status_code == 200
        for path in ("/etc/passwd", "../../../../../etc/passwd", str(studio.root / ".lock"),
                     "http://127.0.0.1:9/params.json", "https://example.com/params.json"):
            assert OWN_UPLOAD in rejection(url, "open", file_data(path),
                                           session=other.session_hash), path
        # The caller's own upload opens, once per upload of it.
        path = upload(url, "params.json", saved.encode())
        assert upload(url, "params.json", saved.encode()) == path  # Gradio: same bytes, same path
        for _ in range(2):
            event, (_, _, status) = call(url, "open", file_data(path), session=other.session_hash)
            assert event == "complete" and "Opened a saved head" in status
        assert not Path(path).exists(), "read, then deleted"
        assert OWN_UPLOAD in rejection(url, "open", file_data(path), session=other.session_hash)
        opened = Path(other.predict(api_name="/export")[-1]).read_text()
    finally:
        owner.close()
        other.close()
    assert json.loads(opened) == json.loads(saved)
    assert "Traceback" not in capfd.readouterr().err


def test_a_refused_upload_is_deleted_without_a_traceback(app, capfd):
    url, _ = app
    picture = upload(url, "head.png", b"\x89PNG\r\n\x1a\n" + bytes(64))
    message = rejection(url, "open", file_data(picture))
    assert message == "Open a saved head (params.json) must be a .json file; got a .png"
    assert not Path(picture).exists()
    assert "Traceback" not in capfd.readouterr().err


def test_text_that_is_not_valid_unicode_is_refused_before_anything_changes(app, capfd):
    """Issue 15, fault 2: a lone surrogate passed the check, the whole run executed, then
    failed writing its files, leaving a changed head and a half-written run folder."""
    url, studio = app
    client = Client(url, verbose=False)
    try:
        client.predict(6, api_name="/random_head")
        before = Path(client.predict(api_name="/export")[-1]).read_text()
        values = [json.dumps(v) for v in defaults("/generate")]
        for index, text, problem in ((0, r'"\ud800 an old man"', "a lone surrogate (U+D800)"),
                                     (1, r'"blurry\u0007"', "a control character (U+0007)")):
            sent = list(values)
            sent[0] = '"an old man"'
            sent[index] = text
            message = rejection(url, "generate", f"[{', '.join(sent)}]",
                                session=client.session_hash)
            assert "contains " + problem in message and "valid Unicode" in message
        after = Path(client.predict(api_name="/export")[-1]).read_text()
        folder = studio.session(client.session_hash).folder
        assert not list(folder.glob("run-*")) and not list(folder.glob("instant-*"))
    finally:
        client.close()
    assert json.loads(after) == json.loads(before)
    assert "Traceback" not in capfd.readouterr().err
