"""Tests for text2head.guidance with tiny random open_clip models (test fixtures, not real CLIP)."""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import huggingface_hub.constants
import numpy as np
import open_clip
import pytest
import torch
from open_clip.transform import PreprocessCfg, image_transform_v2
from PIL import Image
from safetensors.torch import save_file

from text2head.guidance import (
    CLIP_ENV_VAR,
    DEFAULT_CLIP_SPEC,
    AugmentConfig,
    CLIPGuide,
    CLIPModel,
    CLIPWeightsUnavailable,
    PromptTruncatedWarning,
    apply_augments,
    default_clip_spec,
    load_clip,
    parse_clip_spec,
    r_precision,
    sample_augments,
    to_clip_input,
    view_prompt,
)
from text2head.guidance.tower import PatchEmbedding, is_patchify, use_fast_layouts

TINY = "random:tiny"
TINY_CONFIG = Path(__file__).parents[1] / "text2head/guidance/model_configs/tiny.json"


def _tiny(seed: int) -> CLIPModel:
    torch.manual_seed(seed)
    return load_clip(TINY)


@pytest.fixture(scope="module")
def clip() -> CLIPModel:
    return _tiny(0)


def _render(views: int = 2, size: int = 48, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth random image with a disc-shaped alpha, standing in for a head render."""
    g = torch.Generator().manual_seed(seed)
    rgb = torch.nn.functional.interpolate(
        torch.rand(views, 3, 6, 6, generator=g), size=(size, size), mode="bilinear"
    )
    y, x = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    alpha = (x**2 + y**2 < 0.6).float().expand(views, 1, size, size).clone()
    return rgb, alpha


def _seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _assert_same_outputs(a: CLIPModel, b: CLIPModel) -> None:
    rgb, _ = _render()
    prompts = ["a bald man", "a woman with red hair"]
    torch.testing.assert_close(a.encode_images(rgb), b.encode_images(rgb), rtol=0, atol=1e-6)
    torch.testing.assert_close(a.encode_text(prompts), b.encode_text(prompts), rtol=0, atol=1e-6)


# --- specs -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "kind", "arch", "source"),
    [
        ("ViT-B-32:laion2b_s34b_b79k", "pretrained", "ViT-B-32", "laion2b_s34b_b79k"),
        ("random:tiny", "random", "tiny", None),
        ("random:ViT-B-32", "random", "ViT-B-32", None),
        ("ViT-B-32:/ckpt/model.safetensors", "file", "ViT-B-32", "/ckpt/model.safetensors"),
        ("tiny:weights.pt", "file", "tiny", "weights.pt"),
        ("ViT-B-16:./open_clip_model.bin", "file", "ViT-B-16", "open_clip_model.bin"),
        ("/snapshots/abc", "folder", None, "/snapshots/abc"),
        ("  random:tiny  ", "random", "tiny", None),
    ],
)
def test_parse_valid_specs(spec, kind, arch, source):
    parsed = parse_clip_spec(spec)
    assert (parsed.kind, parsed.arch, parsed.source) == (kind, arch, source)
    assert parse_clip_spec(str(parsed)) == parsed


def test_parse_expands_home(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert parse_clip_spec("tiny:~/w.pt").source == str(tmp_path / "w.pt")


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "ViT-B-32",  # no tag
        "NoSuchArch:laion2b_s34b_b79k",
        "random:NoSuchArch",
        "random:",
        ":laion2b_s34b_b79k",
        "ViT-B-32:no_such_tag",
        "/ckpt/model.safetensors",  # a lone file: arch cannot be inferred
    ],
)
def test_parse_invalid_specs(spec):
    with pytest.raises(ValueError) as info:
        parse_clip_spec(spec)
    message = str(info.value)
    assert repr(spec) in message
    assert "random:ARCH" in message and "ARCH:PRETRAINED_TAG" in message


def test_default_clip_spec_reads_env(monkeypatch):
    monkeypatch.delenv(CLIP_ENV_VAR, raising=False)
    assert default_clip_spec() == DEFAULT_CLIP_SPEC == "ViT-B-32:laion2b_s34b_b79k"
    monkeypatch.setenv(CLIP_ENV_VAR, "random:tiny")
    assert default_clip_spec() == "random:tiny"
    assert load_clip().is_random


# --- loading -----------------------------------------------------------------------------------


def test_random_model_is_labelled_and_frozen(clip):
    assert clip.is_random and CLIPGuide(clip).is_random
    assert "RANDOM WEIGHTS" in clip.description and clip.spec == "random:tiny"
    assert not clip.model.training
    assert all(not p.requires_grad for p in clip.model.parameters())
    assert clip.preprocess.size == (64, 64)


@pytest.mark.parametrize("suffix", [".safetensors", ".pt", ".bin"])
def test_checkpoint_round_trip(tmp_path, suffix):
    original = _tiny(1)
    path = tmp_path / f"model{suffix}"
    state = {k: v.contiguous() for k, v in original.model.state_dict().items()}
    if suffix == ".safetensors":
        save_file(state, path)
    else:
        torch.save({"state_dict": state} if suffix == ".pt" else state, path)

    loaded = load_clip(f"tiny:{path}")

    assert not loaded.is_random and "RANDOM" not in loaded.description
    assert all(not p.requires_grad for p in loaded.model.parameters())
    _assert_same_outputs(original, loaded)
    with pytest.raises(AssertionError):  # the comparison can fail: another random model differs
        _assert_same_outputs(_tiny(2), loaded)


@pytest.mark.parametrize("arch", ["tiny", "ViT-B-32"])
def test_image_tower_runs_in_fast_layouts_with_open_clips_results(arch):
    """load_clip switches the ViT image tower to cheaper layouts (guidance.tower); its
    embeddings and the gradients they send to the pixels are open_clip's own."""
    torch.manual_seed(4)
    fast = load_clip(f"random:{arch}")
    stock = open_clip.create_model(arch, pretrained_text=False).eval().requires_grad_(False)
    stock.load_state_dict(fast.model.state_dict())  # same keys: nothing renamed
    assert isinstance(fast.model.visual.conv1, PatchEmbedding)
    assert not fast.model.visual.transformer.batch_first
    assert isinstance(stock.visual.conv1, torch.nn.Conv2d) and stock.visual.transformer.batch_first

    size = fast.preprocess.size
    pixels = torch.randn(3, 3, *size, generator=_seeded(1))
    outputs = []
    for model in (fast.model, stock):
        leaf = pixels.clone().requires_grad_(True)
        embedding = model.encode_image(leaf)
        (embedding * torch.linspace(-1, 1, embedding.shape[-1])).sum().backward()
        outputs.append((embedding.detach(), leaf.grad))
    (fast_embedding, fast_grad), (stock_embedding, stock_grad) = outputs
    scale = stock_embedding.abs().max()
    torch.testing.assert_close(fast_embedding, stock_embedding, rtol=0, atol=1e-5 * scale)
    torch.testing.assert_close(fast_grad, stock_grad, rtol=0,
                               atol=1e-5 * stock_grad.abs().max())


def test_patch_embedding_matches_its_convolution_and_drops_the_remainder():
    conv = torch.nn.Conv2d(3, 8, kernel_size=4, stride=4, bias=True)
    assert is_patchify(conv)
    assert not is_patchify(torch.nn.Conv2d(3, 8, kernel_size=4, stride=2))
    assert not is_patchify(torch.nn.Conv2d(3, 8, kernel_size=4, stride=4, padding=1))
    images = torch.randn(2, 3, 18, 22, generator=_seeded(2))  # 18, 22: not multiples of 4
    patches = PatchEmbedding(conv)
    torch.testing.assert_close(patches(images), conv(images), rtol=1e-5, atol=1e-6)
    assert patches.weight is conv.weight and patches.bias is conv.bias


def test_towers_without_the_slow_layouts_are_left_alone():
    model = open_clip.create_model("RN50", pretrained_text=False)
    assert use_fast_layouts(model) == []
    assert isinstance(model.visual.conv1, torch.nn.Conv2d)


def test_folder_spec_takes_arch_and_preprocessing_from_config(tmp_path):
    original = _tiny(3)
    config = {
        "model_cfg": json.loads(TINY_CONFIG.read_text()),
        "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
    }
    (tmp_path / "open_clip_config.json").write_text(json.dumps(config))
    save_file(dict(original.model.state_dict()), tmp_path / "open_clip_model.safetensors")

    loaded = load_clip(str(tmp_path))

    assert loaded.preprocess.mean == (0.5, 0.5, 0.5) and loaded.preprocess.std == (0.25,) * 3
    torch.testing.assert_close(
        loaded.encode_text(["a head"]), original.encode_text(["a head"]), rtol=0, atol=1e-6
    )


def _assert_unavailable(spec: str, *expected: str, **kwargs) -> str:
    with pytest.raises(CLIPWeightsUnavailable) as info:
        load_clip(spec, **kwargs)
    message = str(info.value)
    assert f"{CLIP_ENV_VAR}=" in message and "/path/to/open_clip_model.safetensors" in message
    for text in expected:
        assert text in message
    return message


def test_missing_checkpoint_raises_clear_error(tmp_path):
    path = tmp_path / "absent.safetensors"
    _assert_unavailable(f"tiny:{path}", str(path), "no such checkpoint file")


def test_missing_folder_raises_clear_error(tmp_path):
    _assert_unavailable(str(tmp_path / "absent"), "open_clip folder")


@pytest.mark.parametrize(
    ("name", "content"),
    [("bad.safetensors", b"not a safetensors file"), ("bad.pt", b"not a torch checkpoint")],
)
def test_corrupt_checkpoint_raises_clear_error(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    _assert_unavailable(f"tiny:{path}", str(path))


def test_checkpoint_of_wrong_architecture_raises_clear_error(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"unrelated.weight": torch.zeros(2)}, path)
    _assert_unavailable(f"tiny:{path}", str(path))


class _Payload:
    """Unpickling this calls open(marker, "w"): proof that arbitrary code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_malicious_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    state = dict(_tiny(0).model.state_dict())
    state["payload"] = _Payload(marker)
    torch.save(state, path)

    _assert_unavailable(f"tiny:{path}", "weights_only")
    assert not marker.exists()

    torch.load(path, weights_only=False)  # the payload is live: an unsafe load runs it
    assert marker.exists()


def test_unreachable_pretrained_tag_raises_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    _assert_unavailable(
        DEFAULT_CLIP_SPEC,
        "laion2b_s34b_b79k",
        "https://huggingface.co/laion/CLIP-ViT-B-32-laion2B-s34B-b79K",
        f"{CLIP_ENV_VAR}=ViT-B-32:/path",
        cache_dir=str(tmp_path),
    )


# --- text --------------------------------------------------------------------------------------


def test_text_embeddings_are_cached_and_normalised(monkeypatch):
    clip = _tiny(0)
    calls = []
    encode = clip.model.encode_text
    monkeypatch.setattr(clip.model, "encode_text", lambda t: calls.append(len(t)) or encode(t))

    first = clip.encode_text(["a man", "a woman", "a man"])
    second = clip.encode_text(["a woman", "a man"])

    assert calls == [2]  # one batch, one row per distinct prompt; the second call hits the cache
    torch.testing.assert_close(first[0], first[2])
    torch.testing.assert_close(second, first[[1, 0]])
    torch.testing.assert_close(first.norm(dim=-1), torch.ones(3))
    assert not first.requires_grad


def test_long_prompt_truncation_is_reported(clip):
    words = clip.context_length - 2  # room left by the start and end tokens
    fits, overflows = "head " * words, "head " * (words + 1)
    assert len(clip.tokenizer.encode(fits)) == words  # one token per word
    assert clip.truncated([fits, overflows]) == [False, True]

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clip.encode_text([fits])
    with pytest.warns(PromptTruncatedWarning, match="truncated") as caught:
        embedding = clip.encode_text([overflows])
    assert torch.isfinite(embedding).all()
    # A person's prompt never goes to the log (issue 15, fault 5): its length and a hash do.
    message = str(caught[0].message)
    assert "head head" not in message and f"{len(overflows)} characters, sha256 " in message


def test_non_ascii_prompt(clip):
    prompts = ["vieil homme barbu, très ridé", "一个戴眼镜的老人 😀", "an old bearded man"]
    embeddings = clip.encode_text(prompts)
    assert torch.isfinite(embeddings).all()
    torch.testing.assert_close(embeddings.norm(dim=-1), torch.ones(3))
    assert not torch.allclose(embeddings[0], embeddings[1])


# --- preprocessing and augmentation ------------------------------------------------------------


def test_preprocessing_matches_open_clip_transform(clip):
    transform = image_transform_v2(
        PreprocessCfg(**open_clip.get_model_preprocess_cfg(clip.model)), is_train=False
    )
    rgb, _ = _render(views=1, size=160)
    pixels = (rgb[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    expected = transform(Image.fromarray(pixels))[None]

    ours = to_clip_input(torch.from_numpy(pixels).permute(2, 0, 1)[None] / 255.0, clip.preprocess)

    assert ours.shape == (1, 3, *clip.preprocess.size)
    torch.testing.assert_close(ours, expected, rtol=0, atol=0.03)


def test_preprocessing_uses_model_mean_and_std(clip):
    grey = torch.full((1, 3, 100, 100), 0.5)
    mean, std = torch.tensor(clip.preprocess.mean), torch.tensor(clip.preprocess.std)
    expected = ((0.5 - mean) / std).view(1, 3, 1, 1).expand(1, 3, 64, 64)
    torch.testing.assert_close(to_clip_input(grey, clip.preprocess), expected)


def test_preprocessing_crops_wide_images_to_the_centre(clip):
    wide, _ = _render(views=1, size=80)
    wide = wide[:, :, 16:64, :]  # 48 x 80
    centre = wide[:, :, :, 16:64]
    torch.testing.assert_close(
        to_clip_input(wide, clip.preprocess), to_clip_input(centre, clip.preprocess)
    )
    squash = dataclasses.replace(clip.preprocess, resize_mode="squash")
    assert not torch.allclose(to_clip_input(wide, squash), to_clip_input(centre, squash))


def test_augmentations_are_reproducible_and_differentiable():
    rgb, alpha = _render(views=2)
    rgb.requires_grad_(True)
    alpha.requires_grad_(True)

    def augmented(seed: int) -> torch.Tensor:
        return apply_augments(rgb, alpha, sample_augments(2, 3, (48, 48), _seeded(seed)))

    first, again, other = augmented(0), augmented(0), augmented(1)
    assert first.shape == (6, 3, 48, 48)
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    assert not torch.allclose(first, other)

    first.square().sum().backward()
    assert rgb.grad.abs().sum() > 0 and alpha.grad.abs().sum() > 0


def test_background_shows_through_transparent_render():
    rgb = torch.zeros(1, 3, 32, 32, requires_grad=True)
    alpha = torch.zeros(1, 1, 32, 32)
    params = sample_augments(1, 4, (32, 32), _seeded(0))
    torch.testing.assert_close(apply_augments(rgb, alpha, params), params.background)


def test_identity_augmentation_keeps_the_render():
    rgb, alpha = _render(views=1, size=32)
    still = AugmentConfig(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), perspective=0.0)
    params = sample_augments(1, 2, (32, 32), _seeded(0), still)
    out = apply_augments(rgb, torch.ones_like(alpha), params)
    torch.testing.assert_close(out, rgb.expand(2, 3, 32, 32), rtol=0, atol=1e-5)


# --- losses ------------------------------------------------------------------------------------


def test_clip_loss_decreases_when_optimising_an_image(clip):
    guide = CLIPGuide(clip, n_augment=2)
    logits = torch.zeros(1, 3, 48, 48, requires_grad=True)
    alpha = torch.ones(1, 1, 48, 48)
    prompt = "a portrait of a smiling woman"

    def loss(seed: int) -> torch.Tensor:
        return guide.loss(torch.sigmoid(logits), alpha, prompt, generator=_seeded(seed))["clip"]

    loss_before = loss(1234).item()
    score_before = guide.clip_score(torch.sigmoid(logits), prompt).item()
    optimiser = torch.optim.Adam([logits], lr=0.1)
    for step in range(15):
        optimiser.zero_grad()
        loss(step).backward()
        optimiser.step()

    assert loss(1234).item() < loss_before - 0.05
    # The independent score (100 cos, no augmentation) rises: the gradient points the right way.
    assert guide.clip_score(torch.sigmoid(logits), prompt).item() > score_before + 5


def test_all_loss_terms_present_and_finite(clip):
    rgb, alpha = _render()
    rgb.requires_grad_(True)
    neutral = _render(seed=1)
    terms = CLIPGuide(clip, n_augment=2).loss(
        rgb, alpha, "a pirate", negative=["blurry", "a cartoon"], neutral=neutral,
        generator=_seeded(0), yaw=[0.0, 180.0],
    )  # fmt: skip

    assert set(terms) == {"clip", "negative", "directional", "total"}
    assert all(torch.isfinite(t) and t.ndim == 0 for t in terms.values())
    expected = terms["clip"] + 0.5 * terms["negative"] + 1.0 * terms["directional"]
    torch.testing.assert_close(terms["total"], expected)
    terms["total"].backward()
    assert rgb.grad.abs().sum() > 0
    assert {"front view of a pirate", "back view of a pirate"} <= set(clip._text_cache)


def test_loss_and_gradient_are_bit_reproducible():
    clip = _tiny(0)  # a cold text cache on the first call, a warm one afterwards
    base, alpha = _render(views=3)

    def step() -> tuple[torch.Tensor, torch.Tensor]:
        rgb = base.clone().requires_grad_(True)
        terms = CLIPGuide(clip, n_augment=2).loss(
            rgb, alpha, "a pirate", negative="blurry", neutral=_render(views=3, seed=1),
            generator=_seeded(3), yaw=[0.0, 90.0, 180.0],
        )  # fmt: skip
        terms["total"].backward()
        return terms["total"].detach(), rgb.grad

    (loss_a, grad_a), (loss_b, grad_b) = step(), step()
    assert torch.equal(loss_a, loss_b) and torch.equal(grad_a, grad_b)


def test_directional_loss_is_finite_at_the_neutral_head(clip):
    rgb, alpha = _render()
    rgb.requires_grad_(True)
    terms = CLIPGuide(clip, n_augment=2).loss(
        rgb, alpha, "a pirate", neutral=(rgb.detach(), alpha), generator=_seeded(0)
    )
    torch.testing.assert_close(terms["directional"], torch.tensor(1.0))
    terms["directional"].backward()
    assert torch.isfinite(rgb.grad).all() and rgb.grad.abs().sum() > 0


def test_ensemble_is_the_weighted_mean_of_its_models():
    a, b = _tiny(5), _tiny(6)
    rgb, alpha = _render()
    kwargs = {"negative": "blurry", "neutral": _render(seed=1), "n_augment": 2}

    def terms(models) -> dict[str, torch.Tensor]:
        return CLIPGuide(models).loss(rgb, alpha, "a pirate", generator=_seeded(0), **kwargs)

    ensemble, only_a, only_b = terms([(a, 1.0), (b, 3.0)]), terms(a), terms(b)
    for name in ("clip", "negative", "directional", "total"):
        torch.testing.assert_close(ensemble[name], 0.25 * only_a[name] + 0.75 * only_b[name])
    assert not torch.allclose(only_a["clip"], only_b["clip"])


def test_clip_score_is_100_cos_on_unaugmented_images(clip):
    rgb, alpha = _render()
    guide = CLIPGuide([(clip, 1.0), (_tiny(7), 1.0)])
    scores = guide.clip_score(rgb, "a pirate", alpha=alpha)

    composited = rgb * alpha + (1 - alpha)
    expected = sum(
        0.5 * 100 * (m.encode_images(composited) * m.encode_text(["a pirate"])).sum(-1)
        for m, _ in guide.models
    )
    assert scores.shape == (2,) and not scores.requires_grad
    torch.testing.assert_close(scores, expected)


def test_r_precision_on_constructed_embeddings():
    text = torch.eye(4)
    assert r_precision(text + 0.1, text) == 1.0
    swapped = text[[0, 1, 3, 2]]  # results 2 and 3 look like each other's prompt
    assert r_precision(swapped, text) == 0.5
    # Results 0 and 1 both rank prompt 0 first; each prompt still has its own result on top.
    images = torch.stack([text[0], 0.9 * text[0] + 0.1 * text[1], text[2], text[3]])
    assert r_precision(images, text) == 0.75


@pytest.mark.parametrize(
    ("yaw", "side"),
    [(0, "front"), (45, "front"), (-30, "front"), (90, "side"), (-100, "side"), (180, "back"),
     (-170, "back"), (400, "front")],
)  # fmt: skip
def test_view_prompt(yaw, side):
    assert view_prompt("a pirate", yaw) == f"{side} view of a pirate"


def test_bad_inputs_are_rejected(clip):
    rgb, alpha = _render()
    guide = CLIPGuide(clip)
    with pytest.raises(ValueError, match="alpha"):
        guide.loss(rgb, alpha[:, :, :10], "a pirate")
    with pytest.raises(ValueError, match="yaw"):
        guide.loss(rgb, alpha, "a pirate", yaw=[0.0])
    with pytest.raises(ValueError, match="same cameras"):
        guide.loss(rgb, alpha, "a pirate", neutral=_render(views=1))
    with pytest.raises(ValueError):
        CLIPGuide([(clip, 0.0)])


def test_library_does_not_print(capsys):
    clip = _tiny(0)
    rgb, alpha = _render()
    guide = CLIPGuide(clip)
    with pytest.warns(PromptTruncatedWarning):
        guide.loss(rgb, alpha, "x " * 100, negative="y", generator=_seeded(0))
    guide.clip_score(rgb, "a pirate")
    assert capsys.readouterr().out == ""
