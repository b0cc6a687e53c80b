"""How studio sessions end and what they leave: nothing. Runs abandoned by their page write
nothing after the session ended, idle sessions of callers that never say goodbye expire
(but not while a page is connected, a run goes or an event is handled), the folders of apps
that died are removed by the next app, and bad values never reach a session's head."""

from __future__ import annotations

import math
import os
import threading
import time

import pytest
import torch

from text2head.studio import SessionEnded, Studio
from text2head.studio.limits import Limits
from text2head.studio.storage import LOCK_NAME, Storage, remove_abandoned

CLIP = "random:tiny"
SMALL_RUN = {"clip": CLIP, "editing": False, "weights": {}, "learning_rate_scale": 1.0,
             "views": 1, "augmentations": 1, "resolution": 64}


@pytest.fixture
def studio(head_model, tmp_path):
    studio = Studio(model=head_model, root=tmp_path / "sessions", device="cpu",
                    limits=Limits(idle_seconds=0.5))
    yield studio
    studio.close()


def wait_until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_a_run_abandoned_mid_way_writes_nothing_after_its_session_ended(studio):
    """Fault 1: the page went away mid-run; the handler still tries to finish and show the
    result after the unload event removed the session."""
    worker = studio.start_run("gone", "an old man", steps=300, **SMALL_RUN)
    session = studio.session("gone")
    for update in worker.updates(interval=0.0):
        if update.step >= 1:
            break
    studio.end_session("gone")
    assert worker.join(timeout=60), "ending the session stops its run"
    with pytest.raises(SessionEnded):
        session.finish_run(worker)
    with pytest.raises(SessionEnded):
        session.viewer_glb(session.head)
    with pytest.raises(SessionEnded):
        session.export()
    assert not session.folder.exists()
    assert list(studio.root.iterdir()) == [studio.root / LOCK_NAME]


def test_a_session_does_not_expire_while_its_run_is_being_prepared(studio, monkeypatch):
    """Issue 15: on a busy machine, preparing a run (loading CLIP, the instant head, choosing
    styles) outlasted the idle time, the reaper ended the session meanwhile, and `start_run`
    itself raised SessionEnded."""
    from text2head import api

    prepare = api.prepare

    def slow_prepare(*args, **kwargs):
        assert studio.expire(now=time.monotonic() + 3600) == []  # long idle: still in use
        return prepare(*args, **kwargs)

    monkeypatch.setattr(api, "prepare", slow_prepare)
    worker = studio.start_run("slow", "an old man", steps=2, **SMALL_RUN)
    assert worker.join(timeout=120) and studio.session("slow").worker is worker


def test_files_being_written_when_the_session_ends_are_removed(studio):
    session = studio.session("a")
    session.adopt(studio.model.sample(torch.Generator().manual_seed(2)))

    def leave_midway(fraction: float, text: str) -> None:
        if fraction > 0.3:
            studio.end_session("a")

    with pytest.raises(SessionEnded):
        session.print_stl(leave_midway)
    assert not session.folder.exists()


def test_idle_sessions_expire_unless_connected_running_or_in_use(studio):
    """Fault 3: an HTTP-only caller never ends its session."""
    studio.connect("page")
    for key in ("quiet", "page"):
        with studio.using(key) as session:  # as every handler does: no expiry meanwhile
            session.export()
    quiet, connected = (studio.session(key) for key in ("quiet", "page"))
    worker = studio.start_run("running", "a bald man", steps=400, **SMALL_RUN)
    in_use = threading.Event()
    release = threading.Event()
    held = []

    def hold() -> None:
        # The session is made in use: made beforehand, it could expire while the run above
        # was being prepared (it did, once, on a busy machine).
        with studio.using("busy") as session:
            held.append(session)
            in_use.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert in_use.wait(10)
    busy = held[0]
    assert wait_until(lambda: not quiet.folder.exists(), timeout=30), "idle session removed"
    time.sleep(1.0)  # twice the idle time: the others must still be there
    assert connected.folder.exists() and studio.session("page") is connected
    assert worker.done is False and studio.session("running").worker is worker
    assert studio.session("busy") is busy
    release.set()
    holder.join()
    studio.disconnect("page")
    assert wait_until(lambda: not connected.folder.exists(), timeout=30)
    studio.session("running").stop()
    assert worker.join(timeout=60)
    assert wait_until(lambda: studio.session_count <= 2, timeout=30)  # "running", "busy" touched


def test_idle_time_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("TEXT2HEAD_IDLE_SECONDS", raising=False)
    assert Limits.from_env().idle_seconds == 600
    monkeypatch.setenv("TEXT2HEAD_IDLE_SECONDS", "2.5")
    assert Limits.from_env().idle_seconds == 2.5
    for bad in ("0", "-1", "nan", "soon"):
        monkeypatch.setenv("TEXT2HEAD_IDLE_SECONDS", bad)
        with pytest.raises(ValueError, match="TEXT2HEAD_IDLE_SECONDS"):
            Limits.from_env()


def test_the_folders_of_apps_that_died_are_removed_at_the_next_start(tmp_path, monkeypatch,
                                                                     head_model):
    """An app killed without cleanup (SIGKILL, out of memory) leaves its folder; the next
    app removes it, but never the folder of an app still running."""
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    running = Studio(model=head_model, device="cpu")
    assert running.root.parent == tmp_path / "gradio" / "text2head"
    dead = running.root.parent / "app-dead"
    (dead / "abc").mkdir(parents=True)
    (dead / LOCK_NAME).touch()
    (dead / "abc" / "head.glb").write_bytes(b"x" * 100)
    starting = running.root.parent / "app-starting"  # no lock yet: an app starting up
    starting.mkdir()
    after = Studio(model=head_model, device="cpu")
    try:
        assert not dead.exists()
        assert running.root.exists() and starting.exists()
        old = time.time() - 3600
        os.utime(starting, (old, old))
        assert remove_abandoned(running.root.parent) == [starting]
    finally:
        running.close()
        after.close()
    assert not running.root.exists() and not after.root.exists()
    assert not running.root.parent.exists(), "the last app out removes text2head/ too"


def test_an_explicit_folder_is_locked_and_removed(tmp_path):
    storage = Storage(tmp_path / "mine")
    assert remove_abandoned(tmp_path) == []  # held while it runs
    storage.close()
    assert not (tmp_path / "mine").exists()


def test_bad_values_never_reach_the_session_head(studio):
    """Fault 5: a NaN slider value must not be stored in the session's head."""
    with studio.using("a") as session:
        before = studio.model.to_json(session.head)
        with pytest.raises(ValueError, match="NaN"):
            session.edit({"Smile": math.nan})
        with pytest.raises(ValueError, match="unknown facial_hair style"):
            session.edit({"Smile": 0.5}, {"facial_hair": "mullet"})
        assert studio.model.to_json(session.head) == before
        session.export()  # still works


def test_weights_are_checked_even_without_a_run(studio):
    """Fault 6: /set_* with no run accepted NaN silently."""
    session = studio.session("a")
    for bad in (math.nan, math.inf, -1.0):
        with pytest.raises(ValueError, match="loss weight 'clip'"):
            session.set_weight("clip", bad)
        with pytest.raises(ValueError, match="learning rate"):
            session.set_learning_rate_scale(bad)
    with pytest.raises(ValueError, match="unknown loss weight"):
        session.set_weight("sparkle", 1.0)
    session.set_weight("clip", 0.5)  # fine: nothing to change without a run


def test_after_close_nothing_can_start(studio):
    studio.close()
    with pytest.raises(SessionEnded):
        studio.session("late")
    assert not studio.root.exists()
