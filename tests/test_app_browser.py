"""The studio in a real headless Chromium (Debian's /usr/bin/chromium driven by playwright), used
as a person would: type a prompt, Generate, watch the preview change, move a weight slider
mid-run and see the engine use it, Stop, see the 3D viewer load the result, download it; and
the candidates grid: four thumbnails after Generate, a click refines the one clicked; and
Animate: the 3D viewer plays the clip.

Screenshots go to $TEXT2HEAD_TEST_ARTIFACTS (default: the test's tmp folder).
"""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from gltf_validator import assert_valid_glb
from PIL import Image, ImageStat

pytestmark = pytest.mark.slow
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 300_000  # generous: the two cores are shared with other test runs


@pytest.fixture
def artifacts(tmp_path) -> Path:
    folder = Path(os.environ.get("TEXT2HEAD_TEST_ARTIFACTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(studio_app):
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (scripts/test.sh does)")
    from playwright.sync_api import sync_playwright

    url, _ = studio_app
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(url)
            yield page
        finally:
            browser.close()


def set_number(page, elem_id: str, value: float) -> None:
    """Type a value into a slider's number box, as a person would."""
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def wait_for_text(page, selector: str, text: str) -> None:
    page.locator(selector).filter(has_text=text).wait_for()


def wait_until(condition, what: str) -> None:
    """Poll `condition` until it holds (fails after the test's timeout)."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"never saw {what}")
        time.sleep(0.1)


def wait_for_model(page) -> None:
    """Until the 3D viewer's canvas draws something besides its plain background."""
    canvas = page.locator("#viewer canvas")
    canvas.wait_for()
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        pixels = Image.open(io.BytesIO(canvas.screenshot())).convert("L")
        if ImageStat.Stat(pixels).stddev[0] > 5:
            return
        time.sleep(0.5)
    pytest.fail("the 3D viewer never showed a model")


def test_generate_live_weight_stop_and_viewer_in_a_real_browser(page, artifacts):
    assert "RANDOM WEIGHTS" in page.locator("#clip-label").inner_text()
    page.locator("#prompt textarea").fill("an old man with a big nose, laughing")
    set_number(page, "steps", 300)
    page.locator("#generate").click()

    sources: list[str] = []  # the preview image changes as the run goes on
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while len(sources) < 3 and time.monotonic() < deadline:
        image = page.locator("#preview img")
        source = image.first.get_attribute("src") if image.count() else None
        if source and source not in sources:
            sources.append(source)
        time.sleep(0.1)
    assert len(sources) >= 3, f"the preview changed {len(sources) - 1} times, expected >= 2"

    set_number(page, "weight-clip", 0.3)  # mid-run: the engine must use it from a later step
    wait_for_text(page, "#weights-line", "clip 1 → 0.3")
    assert "step" in page.locator("#status-text").inner_text()
    page.screenshot(path=artifacts / "studio-mid-run.png")

    page.locator("#stop").click()
    wait_for_text(page, "#status-text", "Done (stopped)")
    status = page.locator("#status-text").inner_text()
    assert "Understood: old man" in status  # what the prompt reader took from the prompt
    steps_run = int(status.split("Done (stopped):")[1].split()[0])
    assert steps_run < 300
    wait_for_model(page)  # the 3D viewer shows the final GLB
    page.screenshot(path=artifacts / "studio-done.png", full_page=True)
    with page.expect_download() as download:
        page.locator("#download-glb").click()
    assert download.value.suggested_filename == "head.glb"
    download.value.save_as(artifacts / "head.glb")
    assert_valid_glb(artifacts / "head.glb")


def test_four_candidates_appear_and_a_click_refines_the_one_clicked(page, studio_app,
                                                                      artifacts):
    _, studio = studio_app
    prompt = "a young woman with freckles"
    page.locator("#prompt textarea").fill(prompt)
    page.locator("#seed input").fill("40")
    set_number(page, "steps", 300)
    page.locator("#generate").click()

    thumbnails = page.locator("#candidates .thumbnail-item")
    wait_until(lambda: thumbnails.count() == 4 and
               page.locator("#candidates .thumbnail-item img").count() == 4,
               "four candidate thumbnails")
    labels = page.locator("#candidates .caption-label")
    wait_until(lambda: "★ best" in " ".join(labels.all_inner_texts()), "the candidates ranked")
    captions = labels.all_inner_texts()
    assert [c.split(" · ")[0] for c in captions] == [f"seed {s}" for s in range(40, 44)]
    chosen = next(i for i, caption in enumerate(captions) if "★ best" not in caption)
    page.screenshot(path=artifacts / "studio-candidates.png")

    thumbnails.nth(chosen).click()
    wait_for_text(page, "#status-text", f"seed {40 + chosen} · step")
    page.locator("#stop").click()
    wait_for_text(page, "#status-text", "Done (stopped)")
    assert f"seed {40 + chosen} · Done (stopped)" in page.locator("#status-text").inner_text()
    configs = [json.loads(path.read_text(encoding="utf-8"))
               for path in studio.root.glob("*/run-*/config.json")]
    [config] = [config for config in configs if config["prompt"] == prompt]
    assert config["seed"] == 40 + chosen
    assert [c["seed"] for c in config["candidates"]] == [40, 41, 42, 43]


def viewer_picture(page) -> np.ndarray:
    """The 3D viewer's canvas now, in grey levels."""
    shot = page.locator("#viewer canvas").screenshot()
    return np.asarray(Image.open(io.BytesIO(shot)).convert("L"), dtype=np.int16)


def test_animate_idle_plays_in_the_3d_viewer(page, artifacts):
    """Gradio's Model3D (Babylon.js viewer) autoplays a GLB's first animation: after Animate
    with idle, the viewer's picture changes by itself (blinks, glances); the still head
    before it does not. A busy SwiftShader takes seconds a screenshot while the clip plays,
    so the test waits (with a deadline) for a picture unlike the first."""
    page.locator("#random").click()
    wait_for_model(page)
    still = [viewer_picture(page) for _ in range(3)]
    assert max(np.abs(f - still[0]).max() for f in still) <= 8, "the still head moves"
    page.locator("#animate-clip label").filter(has_text="idle").click()
    page.locator("#animate").click()
    page.locator("#animation-preview img").wait_for()
    wait_for_model(page)
    first = viewer_picture(page)
    wait_until(lambda: (np.abs(viewer_picture(page) - first) > 40).sum() > 30,
               "the 3D viewer play the idle clip")
    page.screenshot(path=artifacts / "studio-animated.png", full_page=True)
