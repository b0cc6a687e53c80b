"""three.js (npm `three`, in tests/js) in headless Chromium with a GLB loaded by the probe page
(tests/js/threejs_probe.html), for the tests that check how web viewers see our GLBs.

WebGL runs on SwiftShader (CPU), the same on every machine; every request is answered by the
page's route handler, never the network.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pytest
from gltf_validator import INSTALL_COMMAND, JS_DIR

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--use-gl=angle", "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run"]
ORIGIN = "http://text2head.test"
CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript",
                 ".glb": "model/gltf-binary"}
STALL = "GPU stall due to ReadPixels"  # SwiftShader's performance note, not a problem
TIMEOUT_MS = 120_000  # SwiftShader on two shared cores


@contextmanager
def probe_page(glb: Path) -> Iterator:
    """A Playwright page with `glb` loaded (window.probe set, no browser errors or warnings)."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (scripts/test.sh does)")
    if not (JS_DIR / "node_modules" / "three").is_dir():
        pytest.fail(f"three.js is not installed; run `{INSTALL_COMMAND}` from the repository root")
    from playwright.sync_api import sync_playwright

    def serve(route) -> None:
        """/head.glb, and files under tests/js (node_modules may be a symlink)."""
        relative = urlparse(route.request.url).path.lstrip("/")
        file = glb if relative == "head.glb" else JS_DIR / relative
        if ".." in Path(relative).parts or file.suffix not in CONTENT_TYPES or not file.is_file():
            route.fulfill(status=404)
        else:
            route.fulfill(path=file, content_type=CONTENT_TYPES[file.suffix])

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda message: errors.append(message.text) if message.type in (
                "error", "warning") and not message.text.endswith(STALL) else None)
            page.route(f"{ORIGIN}/**", serve)
            page.goto(f"{ORIGIN}/threejs_probe.html?model=/head.glb")
            page.wait_for_function("window.probe !== undefined")
            probe = page.evaluate("window.probe")
            assert "error" not in probe, f"three.js failed: {probe['error']}\n{errors}"
            assert not errors, f"browser errors or warnings: {errors}"
            yield page
        finally:
            browser.close()
