"""The app through `gradio_client`, as a script or another Space calls it: streamed generation
ending in a valid GLB, the candidates grid (a click refines the one chosen, "More like this"),
live weights, Stop, two sessions at once, Animate, and the endpoints that need no CLIP, on an app
started with `python app.py` and no CLIP weights at all."""

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
from PIL import Image

from text2head import api
from text2head.edits import EDIT_CONTROLS, STYLE_MENUS, edit_values, style_values

pytestmark = pytest.mark.slow
RESULT_SECONDS = 600  # generous: other test runs share the two cores
PARAMS = 8  # the params.json download among a run's outputs (before the candidates grid)


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


def captions(output) -> list[str]:
    """The captions of the candidates grid in a run event's output (its last)."""
    grid = output[-1]
    return [item["caption"] for item in grid] if isinstance(grid, list) else []


def run_configs(studio, client) -> list[dict]:
    """The config.json of every run the client's session has written."""
    folder = studio.session(client.session_hash).folder
    return [json.loads(path.read_text(encoding="utf-8"))
            for path in folder.glob("run-*/config.json")]


def test_generate_streams_updates_and_ends_with_valid_downloads(client):
    job = client.submit(prompt="an old man with a big nose, laughing", steps=12, views=1,
                        api_name="/generate")
    final = job.result(timeout=RESULT_SECONDS)
    outputs = job.outputs()
    assert len(outputs) >= 4, "expected several streamed updates and the final result"
    # First the four candidates with what was understood, then their CLIP scores and the
    # best one marked, then the run's updates.
    assert "Understood: old man · big nose · laughing" in outputs[0][2]
    assert captions(outputs[0]) == ["seed 0", "seed 1", "seed 2", "seed 3"]
    ranked = captions(outputs[1])
    assert all("CLIP" in caption for caption in ranked)
    best = next(i for i, caption in enumerate(ranked) if "★ best" in caption)
    assert any("<progress" in output[2] and "RANDOM WEIGHTS" in output[2]
               for output in outputs[2:])
    preview, _, status, _, viewer, glb, obj_zip, ply, params, _ = final
    assert "Done: 12 steps" in status and "Understood: old man" in status
    assert f"seed {best}" in status  # the best candidate was refined
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


def test_a_click_on_a_candidate_refines_that_one_with_its_seed_and_styles(app, client):
    url, studio = app
    job = client.submit(prompt="a smiling woman", seed=20, steps=300, views=1,
                        api_name="/generate")
    ranked = captions(wait_for_output(job, lambda output: "★ best" in str(output[-1])))
    assert [caption.split(" · ")[0] for caption in ranked] == [f"seed {s}" for s in range(20, 24)]
    chosen = next(i for i, caption in enumerate(ranked) if "★ best" not in caption)
    final = client.predict(chosen, steps=5, views=1, api_name="/choose")
    assert f"seed {20 + chosen} · Done: 5 steps" in final[2]
    job.result(timeout=RESULT_SECONDS)  # the best one's run, replaced by the chosen one's
    assert not any("Done" in str(output[2]) for output in job.outputs())
    [config] = run_configs(studio, client)  # the replaced run wrote nothing
    assert config["seed"] == 20 + chosen and config["choose_styles"] == []
    assert [c["seed"] for c in config["candidates"]] == [20, 21, 22, 23]
    assert all(c["clip_score"] is not None for c in config["candidates"])
    assert config["styles"] == config["candidates"][chosen]["styles"]  # its styles stay


def test_more_like_this_keeps_the_chosen_heads_styles_with_new_seeds(app, client):
    url, studio = app
    job = client.submit(prompt="a bearded man", seed=30, steps=5, views=1,
                        api_name="/generate")
    job.result(timeout=RESULT_SECONDS)
    [config] = run_configs(studio, client)
    best = next(c for c in config["candidates"] if c["seed"] == config["seed"])
    grid, status = client.predict(api_name="/more_like")
    assert [item["caption"].split(" · ")[0] for item in grid] == \
        [f"seed {s}" for s in range(34, 38)]
    assert f"more like seed {best['seed']}" in status
    near = studio.session(client.session_hash).grid.shown
    assert [c.head.styles.to_dict() for c in near] == [best["styles"]] * 4
    assert len({c.head.identity.numpy().tobytes() for c in near}) == 4  # four other people


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
    params_a, params_b = final_a[PARAMS], final_b[PARAMS]
    assert params_a != params_b
    assert Path(params_a).read_text() != Path(params_b).read_text()  # each its own head


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
            prompt = "a bald old man with a long white beard"
            job = client.submit(prompt=prompt, steps=5, api_name="/generate")
            preview, _, status, _, viewer, glb, *_ = job.result(timeout=RESULT_SECONDS)
            assert "Understood: old man · bald · long white beard" in status
            assert "seed 0, instant — not refined by CLIP" in status
            assert "TEXT2HEAD_CLIP=ViT-B-32:/path/to/" in status
            assert captions(job.outputs()[0]) == [f"seed {s}" for s in range(4)]
            assert_valid_glb(glb)
            # A click on a candidate puts it in the editor, with its downloads.
            *_, status, _, _, glb, _, _, params, _ = client.predict(2, api_name="/choose")
            assert "seed 2, instant — not refined by CLIP" in status
            assert_valid_glb(glb)
            chosen = head_model.from_json(Path(params).read_text(encoding="utf-8"))
            shown = Path(client.predict(api_name="/export")[-1]).read_text(encoding="utf-8")
            assert head_model.from_json(shown).styles == chosen.styles  # what the editor has
            instant, _, _ = api.instant(prompt, model=head_model, seed=2)
            assert chosen.styles == instant.styles
            assert torch.allclose(chosen.identity, instant.identity, atol=1e-5)
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


def test_animate_puts_the_clip_in_the_viewer_and_the_download_with_a_preview(client):
    client.predict(3, api_name="/random_head")
    viewer, glb, preview = client.predict("talk", "Bob may map a path.", api_name="/animate")
    for path in (viewer, glb):
        assert_valid_glb(path)
        assert [a.name for a in pygltflib.GLTF2.load(path).animations] == ["talk"]
    with Image.open(preview) as image:
        assert image.format == "WEBP" and image.is_animated and image.n_frames > 5
    viewer, glb, preview = client.predict("none", "ignored", api_name="/animate")
    assert pygltflib.GLTF2.load(glb).animations == [] and preview is None
    with pytest.raises(Exception, match="needs a line to say"):
        client.predict("talk", "  ", api_name="/animate")
    with pytest.raises(Exception, match="has 201 characters"):
        client.predict("talk", "a" * 201, api_name="/animate")
