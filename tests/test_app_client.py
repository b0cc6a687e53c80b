"""The app through `gradio_client`, as a script or another Space calls it: streamed generation
ending in a valid GLB, live weights, Stop, two sessions at once, and the endpoints that need
no CLIP, on an app started with `python app.py` and no CLIP weights at all."""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

import pygltflib
import pytest
import torch
from app_server import app_process
from gltf_validator import assert_valid_glb
from gradio_client import Client

from text2head.edits import EDIT_CONTROLS, STYLE_MENUS, edit_values, style_values

pytestmark = pytest.mark.slow
RESULT_SECONDS = 600  # generous: other test runs share the two cores


@pytest.fixture(scope="module")
def app(studio_app):
    return studio_app


@pytest.fixture
def client(app):
    client = Client(app[0], verbose=False)
    yield client
    client.close()


def wait_for_output(job, predicate, timeout: float = RESULT_SECONDS):
    """The first streamed output satisfying `predicate` (fails on timeout or job end)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for output in job.outputs():
            if predicate(output):
                return output
        if job.done():
            pytest.fail(f"the run ended before the expected update; last: {job.outputs()[-1:]}")
        time.sleep(0.2)
    pytest.fail("no expected update before the timeout")


def test_generate_streams_updates_and_ends_with_valid_downloads(client):
    job = client.submit(prompt="an old man with a big nose, laughing", steps=12, views=1,
                        api_name="/generate")
    final = job.result(timeout=RESULT_SECONDS)
    outputs = job.outputs()
    assert len(outputs) >= 3, "expected several streamed updates and the final result"
    # First the instant head with what was understood, then the run's updates.
    assert "Understood: old man · big nose · laughing" in outputs[0][2]
    assert outputs[0][0] is not None
    assert "<progress" in outputs[1][2] and "RANDOM WEIGHTS" in outputs[1][2]
    preview, _, status, _, viewer, glb, obj_zip, ply, params = final
    assert "Done: 12 steps" in status and "Understood: old man" in status
    assert viewer != glb and glb.endswith(".glb") and ply.endswith(".ply")
    assert_valid_glb(glb)
    assert_valid_glb(viewer)
    targets = pygltflib.GLTF2().load(glb).meshes[0].primitives[0].targets
    assert len(targets) == 52  # the ARKit expressions, so the download is animatable
    parts = [mesh.name for mesh in pygltflib.GLTF2().load(glb).meshes]
    with zipfile.ZipFile(obj_zip) as archive:  # every part's texture travels with the OBJ
        assert sorted(archive.namelist()) == sorted(
            ["head.mtl", "head.obj", "head.png", "head_normal.png",  # the skin's detail
             *(f"head_{p}.png" for p in parts[1:])])
    assert json.loads(Path(params).read_text(encoding="utf-8"))["expression"]


def test_two_sessions_live_weights_stop_and_isolation(app):
    url, studio = app
    first, second = Client(url, verbose=False), Client(url, verbose=False)
    try:
        job_a = first.submit(prompt="a bald man", steps=300, views=1, seed=1,
                             api_name="/generate")
        job_b = second.submit(prompt="a smiling woman", steps=300, views=1, seed=2,
                              api_name="/generate")
        wait_for_output(job_a, lambda output: output[3])  # running: a weights line is shown
        wait_for_output(job_b, lambda output: output[3])
        first.predict(0.25, api_name="/set_clip")
        wait_for_output(job_a, lambda output: "clip 1 → 0.25" in (output[3] or ""))
        assert first.predict(api_name="/stop") == "Stopping after this step…"
        final_a = job_a.result(timeout=RESULT_SECONDS)
        assert "Done (stopped)" in final_a[2]
        assert not job_b.done(), "stopping one session's run must not stop another's"
        second.predict(api_name="/stop")
        final_b = job_b.result(timeout=RESULT_SECONDS)
        # Counted while both sessions are open: a closed session's folder is removed.
        folders = [p for p in studio.root.iterdir() if p.is_dir() and any(p.iterdir())]
        assert len(folders) >= 2  # a private folder per session
    finally:
        first.close()
        second.close()
    assert not any("clip 1 → 0.25" in (output[3] or "") for output in job_b.outputs())
    assert final_a[-1] != final_b[-1]
    assert Path(final_a[-1]).read_text() != Path(final_b[-1]).read_text()  # each its own head


def test_stop_without_a_run_says_so(client):
    assert client.predict(api_name="/stop") == "Nothing is running."


def test_without_clip_weights_the_app_starts_and_everything_but_generate_works(
        tmp_path, head_model):
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {"TEXT2HEAD_CLIP": "", "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
           "TMPDIR": str(temp), "GRADIO_TEMP_DIR": str(tmp_path / "gradio")}
    with app_process(env) as url:
        client = Client(url, verbose=False)
        try:
            # Without weights, Generate answers with the prompt reader's instant head.
            preview, _, status, _, viewer, glb, *_ = client.predict(
                prompt="a bald old man with a long white beard", steps=5, api_name="/generate")
            assert "Understood: old man · bald · long white beard" in status
            assert "instant — not refined by CLIP" in status
            assert "TEXT2HEAD_CLIP=ViT-B-32:/path/to/" in status
            assert_valid_glb(glb)
            with pytest.raises(Exception, match="TEXT2HEAD_CLIP="):  # continuing needs CLIP
                client.predict(prompt="make him smile", steps=5, api_name="/continue")
            random_preview, status = client.predict(3, api_name="/random_head")
            assert "seed 3" in status
            random = head_model.sample(torch.Generator().manual_seed(3))
            values = edit_values(head_model, random)
            smile = [c.label for c in EDIT_CONTROLS].index("Smile")
            values[smile] = 0.9
            styles = style_values(random)
            styles[[kind for _, kind in STYLE_MENUS].index("facial_hair")] = "full_beard"
            edited_preview = client.predict(*values, *styles, api_name="/edit")
            assert Path(edited_preview).read_bytes() != Path(random_preview).read_bytes()
            _, glb, obj_zip, ply, params = client.predict(api_name="/export")
        finally:
            client.close()
        assert_valid_glb(glb)
        head = head_model.from_json(Path(params).read_text(encoding="utf-8"))
        assert EDIT_CONTROLS[smile].read(head_model, head) == pytest.approx(0.9, abs=1e-4)
        assert head.styles.facial_hair == "full_beard"
        apps = tmp_path / "gradio" / "text2head"
        assert list(apps.glob("app-*")), "the sessions' folder is in Gradio's cache folder"
    assert not list(apps.glob("app-*")), "session files must go at shutdown"
    assert not list(temp.iterdir()), "nothing is left in TMPDIR"
