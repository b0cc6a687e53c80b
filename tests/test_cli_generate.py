"""`text2head generate` / `edit` and the two-line Python API, with random CLIP weights."""

from __future__ import annotations

import csv
import json
import re

import pytest
from gltf_validator import assert_valid_glb
from PIL import Image

import text2head
from text2head.cli import main

# Runs whose point is not the image or the style choice: one view, fixed hair, small exported
# textures (seconds less).
SMALL_FILES = ["--texture-size", "128"]
SMALL = ["--views", "1", "--augmentations", "1", "--style", "hair=none",
         "--style", "facial_hair=none", *SMALL_FILES]
RUN_FILES = ("head.glb", "head.obj", "head.mtl", "head.png", "head.ply", "params.json",
             "config.json", "losses.csv", "preview.png", "turntable.gif")


@pytest.mark.slow
def test_generate_writes_every_file(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["generate", "a smiling old woman", "--clip", "random:ViT-B-32", "--steps", "3",
                 "--views", "1", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    for name in RUN_FILES:
        assert (out / name).stat().st_size > 0, name
    assert_valid_glb(out / "head.glb")
    config = json.loads((out / "config.json").read_text())
    assert config["prompt"] == "a smiling old woman" and config["steps"] == 3
    assert config["clip"] == "random:ViT-B-32" and "RANDOM WEIGHTS" in config["clip_description"]
    # CLIP scored every hair and facial-hair style at three-quarter, a shortlist from the front
    # too, and kept the best of the shortlist.
    scores = config["style_scores"]
    assert set(scores["hair"]) >= {"none", "long01", "afro01"} and len(scores["facial_hair"]) == 5
    for kind in ("hair", "facial_hair"):
        assert all("three_quarter" in views for views in scores[kind].values())
        finalists = {style: sum(views.values()) / len(views)
                     for style, views in scores[kind].items() if len(views) == 2}
        assert config["styles"][kind] == max(finalists, key=finalists.get)
    assert json.loads((out / "params.json").read_text())["styles"] == config["styles"]
    rows = list(csv.DictReader((out / "losses.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3]
    assert {"clip", "total", "prior_identity"} <= set(rows[0])
    assert "RANDOM WEIGHTS" in capsys.readouterr().err


def test_generate_from_a_prompt_file(tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a zombie\n# skipped\nZoë, a smiling grandmother\n", encoding="utf-8")
    code = main(["generate", "--prompts", str(prompts), "--clip", "random:tiny", "--steps", "1",
                 *SMALL, "--out", str(tmp_path / "many")])
    assert code == 0
    folders = sorted(p.name for p in (tmp_path / "many").iterdir())
    assert folders == ["001-a-zombie", "002-zoë-a-smiling-grandmother"]
    assert all((tmp_path / "many" / f / "head.glb").is_file() for f in folders)


def test_edit_starts_from_saved_parameters(tmp_path):
    assert main(["random", "--seed", "2", "--out", str(tmp_path / "a"), "--texture-size",
                 "64"]) == 0
    code = main(["edit", str(tmp_path / "a" / "params.json"), "make her smile", "--clip",
                 "random:tiny", "--steps", "2", "--identity-weight", "5", *SMALL, "--out",
                 str(tmp_path / "b")])
    assert code == 0
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    assert config["weights"]["identity_preservation"] == 5.0
    start = json.loads((tmp_path / "a" / "params.json").read_text())
    edited = json.loads((tmp_path / "b" / "params.json").read_text())
    assert abs(edited["identity"]["age"] - start["identity"]["age"]) < 0.2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["generate", "  ", "--clip", "random:tiny"], "prompt is empty"),
        (["generate", "x", "--steps", "0", "--clip", "random:tiny"], "steps must be"),
        (["generate", "x", "--weight", "clip=-1", "--clip", "random:tiny"], "must be >= 0"),
        (["generate", "x", "--weight", "clip=nan", "--clip", "random:tiny"], "must be finite"),
        (["generate", "x", "--weight", "clip", "--clip", "random:tiny"], "NAME=NUMBER"),
        (["generate", "x", "--clip", "ViT-B-32:/no/such/file.safetensors"], "local checkpoint"),
        (["generate", "x", "--clip", "not a spec"], "not a spec"),
        (["generate", "x", "--candidates", "0", "--clip", "random:tiny"], "candidates must be"),
        (["generate", "x", "--candidates", "3", "--steps", "0", "--clip", "random:tiny"],
         "steps must be"),
        (["generate", "x", "--variety", "1.5", "--instant"], "variety must be"),
        (["generate", "x", "--variety", "nan", "--clip", "random:tiny"], "variety must be"),
        (["generate", "x", "--device", "tpu", "--clip", "random:tiny"], "unknown device 'tpu'"),
    ],
)
def test_bad_input_fails_before_work(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    assert main([*args, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["generate", "x", "--instant", "--texture-size", "5000"],
         "argument --texture-size: texture size must be a power of two from 64 to 4096, got 5000"),
        (["generate", "x", "--instant", "--texture-size", "0"], "got 0"),
        (["generate", "x", "--instant", "--texture-size", "1k"], "not a whole number: '1k'"),
        (["edit", "params.json", "x", "--texture-size", "100"], "got 100"),
        (["random", "--texture-size", "8192"], "got 8192"),
        (["export", "params.json", "--texture-size", "32"], "got 32"),
        (["animate", "params.json", "--clip", "idle", "--texture-size", "-64"], "got -64"),
        (["random", "--seed", str(2**70)],
         f"argument --seed: seed must be a whole number from 0 to {2**63 - 1}, got {2**70}"),
        (["generate", "x", "--instant", "--seed", "-1"], "got -1"),
        (["export", "params.json", "--seed", "1.5"], "not a whole number: '1.5'"),
    ],
)
def test_numbers_out_of_range_are_refused_before_work(tmp_path, capsys, args, message):
    """Checked as the command line is read: a texture 5000 on a side took 20 GB and three
    minutes to export, and a seed past 2**63 failed with torch's "Overflow when unpacking
    long long"."""
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--out", str(out)])
    assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert not out.exists()


def test_the_api_refuses_a_texture_size_or_seeds_out_of_range_before_writing(tmp_path):
    with pytest.raises(ValueError, match="power of two from 64 to 4096, got 1000"):
        text2head.api.instant("a man", out=tmp_path / "out", texture_size=1000)
    last = 2**63 - 1
    with pytest.raises(ValueError, match=re.escape(f"seed (and the 2 after it) must be a whole "
                                                   f"number from 0 to {last}, got {last - 1}")):
        text2head.api.candidates("a man", count=3, seed=last - 1, out=tmp_path / "out")
    assert not (tmp_path / "out").exists()
    text2head.api.candidates("a man", count=3, seed=last - 2)  # the last three seeds


def test_two_line_python_api(tmp_path):
    result = text2head.generate("a bald man", clip="random:tiny", steps=2, out=tmp_path,
                                export_texture_size=128)
    assert result.steps_run == 2 and result.files["glb"].is_file()
    with Image.open(tmp_path / "head.png") as texture:
        assert texture.size == (128, 128)
    assert "RANDOM WEIGHTS" in result.clip_description


def test_generate_says_once_that_a_long_prompt_was_cut(tmp_path, capsys):
    prompt = " ".join(["a very old wrinkled man with a long white beard"] * 12)  # 120 words
    notice = ("the prompt is longer than CLIP reads (77 tokens); only its first 77 tokens "
              "guide the run")
    code = main(["generate", prompt, "--clip", "random:tiny", "--steps", "1", "--views", "1",
                 "--augmentations", "1", "--start", "neutral", *SMALL_FILES, "--out",
                 str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert err.count(notice) == 1 and "truncated" not in err  # the note, not also the warning
    assert json.loads((tmp_path / "config.json").read_text())["notices"] == [notice]


def test_instant_candidates_are_one_head_per_seed_and_a_sheet(tmp_path, capsys):
    args = ["generate", "a woman", "--instant", "--candidates", "3", "--seed", "5",
            *SMALL_FILES]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0, capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    folders = sorted(p.name for p in (tmp_path / "a").iterdir() if p.is_dir())
    assert folders == ["seed-5", "seed-6", "seed-7"]
    params = [(tmp_path / "a" / f / "params.json").read_text() for f in folders]
    assert len(set(params)) == 3  # three different women
    assert params == [(tmp_path / "b" / f / "params.json").read_text() for f in folders]
    config = json.loads((tmp_path / "a" / "seed-6" / "config.json").read_text())
    assert config["seed"] == 6 and config["variety"] == 1.0 and config["refined"] is False
    assert [c["seed"] for c in config["candidates"]] == [5, 6, 7]
    assert_valid_glb(tmp_path / "a" / "seed-7" / "head.glb")
    with Image.open(tmp_path / "a" / "seed-7" / "head.png") as texture:  # --texture-size
        assert texture.size == (128, 128)
    sheet = Image.open(tmp_path / "a" / "candidates.png")
    assert sheet.width >= 2 * 2 * 192 and sheet.height >= 2 * 192


def test_generate_refines_the_best_of_its_candidates(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["generate", "a man", "--candidates", "2", "--seed", "3", "--clip",
                 "random:tiny", "--steps", "1", "--views", "1", "--augmentations", "1",
                 *SMALL_FILES, "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    config = json.loads((out / "config.json").read_text())
    scores = {c["seed"]: c["clip_score"] for c in config["candidates"]}
    assert set(scores) == {3, 4} and all(isinstance(v, float) for v in scores.values())
    assert config["seed"] == max(scores, key=scores.get)
    # The refinement keeps the chosen candidate's styles (no style choice).
    best = json.loads((out / "candidates" / f"seed-{config['seed']}" / "params.json").read_text())
    assert config["styles"] == best["styles"] and config["style_scores"] == {}
    assert (out / "candidates" / "candidates.png").is_file()


def test_variety_zero_keeps_the_neutral_head(tmp_path, head_model):
    assert main(["generate", "a portrait", "--instant", "--variety", "0", "--seed", "9",
                 "--out", str(tmp_path)]) == 0
    head = head_model.read_params(tmp_path / "params.json")
    assert head_model.to_json(head) == head_model.to_json(head_model.neutral())
