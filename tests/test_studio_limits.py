"""What one app lets its visitors hold (issue 15): a cap on live sessions with a "server busy"
answer beyond it, a disk allowance per session, random file names, uploads that can be taken
once and are deleted, a CLIP download failure remembered for every session, settings read
from the environment with errors naming the variable."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from text2head.guidance import CLIPWeightsUnavailable
from text2head.studio import Studio
from text2head.studio.limits import Limits
from text2head.studio.session import Session, SessionFull
from text2head.studio.storage import LOCK_NAME
from text2head.studio.studio import ServerBusy
from text2head.studio.uploads import Uploads
from text2head.text import invalid_code_point

PRETRAINED = "ViT-B-32:laion2b_s34b_b79k"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def make_studio(head_model, tmp_path):
    made = []

    def make(**limits) -> Studio:
        studio = Studio(model=head_model, root=tmp_path / f"app{len(made)}", device="cpu",
                        limits=Limits(**limits))
        made.append(studio)
        return studio

    yield make
    for studio in made:
        studio.close()


def test_limits_come_from_the_environment_and_bad_values_name_the_variable():
    assert Limits.from_env({}) == Limits()
    limits = Limits.from_env({"TEXT2HEAD_MAX_SESSIONS": "3", "TEXT2HEAD_SESSION_MB": "12.5",
                              "TEXT2HEAD_IDLE_SECONDS": " ", "TEXT2HEAD_UPLOAD_SECONDS": "9"})
    assert (limits.max_sessions, limits.session_bytes, limits.idle_seconds,
            limits.upload_seconds) == (3, 12_500_000, 600, 9)
    for variable, bad in (("TEXT2HEAD_MAX_SESSIONS", "2.5"), ("TEXT2HEAD_MAX_SESSIONS", "0"),
                          ("TEXT2HEAD_SESSION_MB", "nan"), ("TEXT2HEAD_IDLE_SECONDS", "-1"),
                          ("TEXT2HEAD_CLIP_RETRY_SECONDS", "soon")):
        with pytest.raises(ValueError, match=variable):
            Limits.from_env({variable: bad})


def test_beyond_the_session_cap_the_server_is_busy_until_one_ends(make_studio):
    studio = make_studio(max_sessions=2)
    first, _ = studio.session("a"), studio.session("b")
    assert studio.session("a") is first  # an existing session is never turned away
    with pytest.raises(ServerBusy, match="server is busy: 2 sessions.*TEXT2HEAD_MAX_SESSIONS"):
        studio.session("c")
    studio.end_session("b")
    assert studio.session("c") is not None


def test_idle_sessions_make_room_before_anyone_is_turned_away(make_studio):
    studio = make_studio(max_sessions=1, idle_seconds=0.05)
    studio.session("a")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # "a" idles past its time (the reaper may end it)
        try:
            studio.session("b")
            break
        except ServerBusy:
            time.sleep(0.02)
    assert studio.session_count == 1 and studio.session("b")


def test_session_folders_and_file_sets_have_unguessable_names(make_studio):
    studio = make_studio()
    key = "gradio-session-hash-1234"
    one, two = studio.session(key), studio.session("b")
    names = []
    for session in (one, two, one):
        with session.writing("export") as folder:
            names.append(folder.name)
    assert one.folder.parent == two.folder.parent == studio.root
    assert key not in one.folder.name and len(one.folder.name) >= 20
    assert len(set(names)) == 3
    for name in names:  # "export-" and at least 96 random bits
        assert re.fullmatch(r"export-[A-Za-z0-9_-]{16,}", name), name


def fill(session: Session, kind: str, megabytes: float) -> None:
    with session.writing(kind) as folder:
        (folder / "data.bin").write_bytes(bytes(int(megabytes * 1_000_000)))


def test_a_session_keeps_within_its_disk_allowance_oldest_files_first(make_studio):
    studio = make_studio(session_megabytes=1.0)
    session = studio.session("a")
    fill(session, "run", 0.4)
    fill(session, "export", 0.4)
    first_export = sorted(session.folder.glob("export-*"))
    fill(session, "print", 0.4)  # 1.2 MB: the oldest set (the run) goes
    assert not list(session.folder.glob("run-*")) and first_export[0].exists()
    with pytest.raises(SessionFull, match="at most 1 MB.*TEXT2HEAD_SESSION_MB"):
        fill(session, "export", 1.5)
    assert not list(session.folder.glob("*/data.bin")) or all(
        p.stat().st_size < 1_000_000 for p in session.folder.glob("*/data.bin"))
    fill(session, "export", 0.3)  # the session goes on


def test_a_set_of_files_whose_writing_fails_is_removed(make_studio):
    session = make_studio().session("a")
    with pytest.raises(UnicodeEncodeError), session.writing("run") as folder:
        (folder / "head.glb").write_bytes(b"half")
        (folder / "config.json").write_text("\ud800", encoding="utf-8")
    assert list(session.folder.iterdir()) == []


def test_uploads_are_taken_once_and_deleted_when_done(tmp_path):
    uploads = Uploads(max_age=60)
    folder = tmp_path / "abc123"
    folder.mkdir()
    path = folder / "params.json"
    path.write_text("{}")
    assert not uploads.take(str(path)), "a file nobody uploaded"
    uploads.record([str(path), str(path)])  # the same bytes uploaded by two callers
    assert uploads.take(str(path))
    uploads.discard(str(path))
    assert path.exists(), "the other caller's upload of the same bytes is still pending"
    assert uploads.take(str(tmp_path / "abc123" / ".." / "abc123" / "params.json"))
    assert not uploads.take(str(path)), "each upload is taken once"
    uploads.discard(str(path))
    assert not path.exists() and not folder.exists() and len(uploads) == 0


def test_uploads_nobody_takes_expire_and_all_go_at_shutdown(tmp_path):
    uploads = Uploads(max_age=5)
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    for path in (old, new):
        path.write_text("{}")
    uploads.record([str(old)], now=100.0)
    uploads.record([str(new)], now=104.0)
    assert uploads.expire(now=106.0) == [str(old)] and not old.exists() and new.exists()
    uploads.clear()
    assert not new.exists() and len(uploads) == 0


def test_a_failed_clip_download_is_remembered_for_every_session(make_studio, monkeypatch):
    """Fault 6: without network each Generate waited through the hub's retries again."""
    from text2head import api

    calls = []
    released = threading.Event()

    def offline(spec, device):
        calls.append(spec)
        released.wait(5)  # the hub retrying: every other session's Generate waits on this
        raise CLIPWeightsUnavailable("Could not load CLIP weights: no network")

    monkeypatch.setattr(api, "load_guide", offline)
    studio = make_studio(clip_retry_seconds=0.5)
    errors = []

    def generate() -> None:
        try:
            studio.guide(PRETRAINED)
        except CLIPWeightsUnavailable as error:
            errors.append(str(error))

    threads = [threading.Thread(target=generate) for _ in range(4)]
    for thread in threads:
        thread.start()
    released.set()
    for thread in threads:
        thread.join(10)
    assert len(calls) == 1 and len(errors) == 4
    assert all("tries the download again 0.5 s after" in text for text in errors)
    with pytest.raises(CLIPWeightsUnavailable):
        studio.guide(PRETRAINED)
    assert len(calls) == 1, "answered from memory, without loading again"
    deadline = time.monotonic() + 10
    while len(calls) == 1 and time.monotonic() < deadline:  # retried after its time
        with pytest.raises(CLIPWeightsUnavailable):
            studio.guide(PRETRAINED)
        time.sleep(0.05)
    assert len(calls) == 2


def test_a_missing_local_checkpoint_is_looked_for_again_at_once(make_studio, tmp_path):
    studio = make_studio()
    spec = f"ViT-B-32:{tmp_path / 'missing.safetensors'}"
    for _ in range(2):
        with pytest.raises(CLIPWeightsUnavailable, match="missing.safetensors"):
            studio.guide(spec)
    assert studio._failed_guides == {}


def test_an_unusable_temp_dir_is_one_error_naming_the_variable(tmp_path, monkeypatch,
                                                                head_model):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(not_a_folder / "gradio"))
    from text2head.studio.storage import StorageUnavailable

    with pytest.raises(StorageUnavailable, match=r"GRADIO_TEMP_DIR \(.*file/gradio\): Not a "):
        Studio(model=head_model, device="cpu")


def test_app_py_with_an_unusable_temp_dir_exits_with_one_line_naming_it(tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    env = {**os.environ, "GRADIO_TEMP_DIR": str(not_a_folder / "gradio"),
           "GRADIO_ANALYTICS_ENABLED": "False"}
    done = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 1
    assert done.stderr.strip() == (f"text2head: cannot keep the app's files in GRADIO_TEMP_DIR "
                                   f"({not_a_folder / 'gradio'}): Not a directory; set "
                                   "GRADIO_TEMP_DIR to a writable folder"), done.stderr


@pytest.mark.parametrize(("text", "problem"), [
    ("\ud800 an old man", "a lone surrogate (U+D800) at character 1"),
    ("an old man\udfff", "a lone surrogate (U+DFFF) at character 11"),
    ("a man\x00", "a control character (U+0000) at character 6"),
    ("a man\x1b[31m", "a control character (U+001B) at character 6"),
    ("a man\ufffe", "a noncharacter (U+FFFE) at character 6"),
    ("a man \U0010ffff", "a noncharacter (U+10FFFF) at character 7"),
    ("a man\x85", "a control character (U+0085) at character 6"),
])
def test_text_that_is_not_valid_unicode_is_named(text, problem):
    assert invalid_code_point(text) == problem


def test_ordinary_text_in_any_script_passes():
    for text in ("an old man,\tlaughing\r\n", "une vieille femme à lunettes", "老人 😀",
                 "a man \u200d\u2028"):
        assert invalid_code_point(text) is None


def test_a_run_refuses_text_that_is_not_valid_unicode(make_studio):
    from text2head import api

    with pytest.raises(ValueError, match=r"prompt contains a lone surrogate \(U\+D800\)"):
        api.instant("\ud800 an old man")
    studio = make_studio()
    with pytest.raises(ValueError, match="negative prompt contains a control character"):
        studio.start_run("a", "an old man", clip="random:tiny", editing=False, weights={},
                         learning_rate_scale=1.0, negative="blurry\x07", steps=5)
    assert [p.name for p in studio.root.iterdir()] == [LOCK_NAME]
