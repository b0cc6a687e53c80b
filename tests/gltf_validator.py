"""Run the Khronos glTF Validator (npm `gltf-validator`, in tests/js) from pytest.

Shared by every test that writes a GLB. A missing validator is a hard failure, not a skip:
a silently skipped validation would let broken assets pass CI.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

JS_DIR = Path(__file__).resolve().parent / "js"
SCRIPT = JS_DIR / "validate_gltf.mjs"
INSTALL_COMMAND = "npm ci --prefix tests/js"
SEVERITIES = ("error", "warning", "info", "hint")  # index = the report's numeric severity


def validate_glb(path: str | Path) -> dict:
    """Return the validator's report (parsed JSON) for a .glb or .gltf file."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH; the glTF validator needs Node.js >= 18")
    if not (JS_DIR / "node_modules" / "gltf-validator").is_dir():
        pytest.fail(f"gltf-validator is not installed; run `{INSTALL_COMMAND}` "
                    "from the repository root")
    result = subprocess.run([node, str(SCRIPT), str(path)], capture_output=True, text=True,
                            timeout=120, check=False)
    if result.returncode != 0:
        pytest.fail(f"glTF validator crashed on {path}:\n{result.stderr}")
    return json.loads(result.stdout)


def issue_lines(report: dict, severity: str) -> list[str]:
    """Human-readable `CODE at pointer: message` lines for one severity."""
    level = SEVERITIES.index(severity)
    return [f"{message['code']} at {message.get('pointer', message.get('offset', '?'))}: "
            f"{message['message']}"
            for message in report["issues"]["messages"] if message["severity"] == level]


def assert_valid_glb(path: str | Path) -> dict:
    """Fail the test with every error message if the validator finds errors; return report."""
    report = validate_glb(path)
    errors = issue_lines(report, "error")
    assert not errors, f"glTF validator found {len(errors)} error(s) in {path}:\n" + "\n".join(
        errors)
    return report
