"""Hosting files agree with each other: the README's Spaces front matter, its commands and the
Dockerfile (same requirements installed the same way, Spaces' uid 1000, port 7860)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def front_matter() -> dict:
    match = re.match(r"---\n(.*?)\n---\n", README, re.DOTALL)
    assert match, "README.md must start with the Hugging Face Spaces front matter"
    return yaml.safe_load(match.group(1))


def pinned(name: str) -> str:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.split("==")[0].strip().lower() == name:
            return line.split("==")[1].split()[0]
    raise AssertionError(f"{name} is not pinned in requirements.txt")


def pip_installs(text: str) -> list[str]:
    """The arguments of every `pip install` in a text, without --quiet/--user/cache flags."""
    noise = {"--no-cache-dir", "--user", "--quiet", "-q"}
    commands = re.findall(r"pip install ([^&\n]+)", text)
    return sorted(" ".join(a for a in c.split() if a not in noise) for c in commands)


def test_front_matter_describes_a_gradio_space():
    config = front_matter()
    for key in ("title", "emoji", "sdk", "app_file", "suggested_hardware", "license",
                "short_description"):
        assert config.get(key), f"front matter lacks {key}"
    assert config["sdk"] == "gradio" and (ROOT / config["app_file"]).is_file()
    assert str(config["sdk_version"]) == pinned("gradio")
    assert len(config["short_description"]) <= 60  # the Hub's limit


def test_dockerfile_installs_what_the_readme_installs_and_fits_docker_spaces():
    quick_start = README[README.index("## Quick start"):README.index("## Web app")]
    assert pip_installs(DOCKERFILE) == pip_installs(quick_start.split("```bash")[1])
    assert "python app.py" in quick_start
    assert re.search(r"useradd .*-u 1000", DOCKERFILE) and "\nUSER user\n" in DOCKERFILE
    assert "HF_HOME=" in DOCKERFILE and "GRADIO_SERVER_NAME=0.0.0.0" in DOCKERFILE
    assert "EXPOSE 7860" in DOCKERFILE and "GRADIO_SERVER_PORT=7860" in DOCKERFILE
    assert DOCKERFILE.rstrip().endswith('CMD ["python", "app.py"]')
