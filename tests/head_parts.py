"""Synthetic head parts for the multi-part export tests: a strand-card "hair" strip with an
RGBA cut-out texture and an opaque "teeth" strip, both riding on the real head's 52 ARKit
morph targets the way the head model's own parts do (each vertex follows its nearest head
vertex).
"""

from __future__ import annotations

import numpy as np

from text2head.mesh import TexturedMesh


def strip(head: TexturedMesh, name: str, path: np.ndarray, across: np.ndarray,
          texture: np.ndarray) -> TexturedMesh:
    """Quads between `path` (N, 3) and `path + across`, facing cross(across, path tangent).

    UV u runs across the strip, v along it; morph deltas and default weights are the head's.
    """
    vertices = np.stack([path, path + across], axis=1).reshape(-1, 3).astype(np.float32)
    tangents = np.gradient(path, axis=0)
    normals = np.cross(np.broadcast_to(across, tangents.shape), tangents)
    normals = np.repeat(normals / np.linalg.norm(normals, axis=1, keepdims=True), 2, axis=0)
    rows = np.arange(len(path) - 1)[:, None] * 2
    faces = np.concatenate([rows + [0, 1, 3], rows + [0, 3, 2]]).astype(np.int32)
    v = np.linspace(0.0, 1.0, len(path))
    uvs = np.stack([np.tile([0.0, 1.0], len(path)), np.repeat(v, 2)], axis=1)
    nearest = np.linalg.norm(vertices[:, None] - head.vertices[None], axis=2).argmin(axis=1)
    return TexturedMesh(
        vertices=vertices,
        faces=faces,
        corner_uvs=uvs[faces].astype(np.float32),
        normals=normals.astype(np.float32),
        vertex_colors=np.tile(texture[..., :3].mean(axis=(0, 1)) / 255.0, (len(vertices), 1))
        .astype(np.float32),
        texture=texture,
        morph_names=list(head.morph_names),
        morph_deltas=head.morph_deltas[:, nearest],
        morph_weights=head.morph_weights.copy(),
        name=name,
    )


def hair(head: TexturedMesh) -> TexturedMesh:
    """A wide card arching over the scalp from the forehead to the back of the head, its
    texture opaque brown strands with fully transparent gaps (alpha 0 or 255)."""
    low, high = head.vertices.min(axis=0), head.vertices.max(axis=0)
    centre, radius = (low + high) / 2, (high - low) / 2 * 1.04
    angles = np.linspace(np.radians(25), np.radians(160), 12)
    path = centre + np.stack([np.full_like(angles, -0.7 * radius[0]),
                              radius[1] * np.sin(angles), radius[2] * np.cos(angles)], axis=1)
    texture = np.zeros((16, 32, 4), np.uint8)
    texture[..., :3] = (90, 60, 30)
    texture[:, ::2, 3] = 255
    return strip(head, "hair", path, np.array([1.4 * radius[0], 0, 0]), texture)


def teeth(head: TexturedMesh) -> TexturedMesh:
    """A small opaque white strip inside the lower face, facing forward."""
    low, high = head.vertices.min(axis=0), head.vertices.max(axis=0)
    centre = (low + high) / 2
    path = centre + np.stack([np.linspace(-0.02, 0.02, 5), np.full(5, -0.3 * (high - low)[1]),
                              np.full(5, 0.2 * (high - low)[2])], axis=1)
    texture = np.full((4, 8, 3), 235, np.uint8)
    return strip(head, "teeth", path, np.array([0, -0.01, 0]), texture)


def empty_part(head: TexturedMesh, name: str) -> TexturedMesh:
    """A part with no geometry, e.g. the facial hair of a clean-shaven head."""
    return TexturedMesh(
        vertices=np.zeros((0, 3), np.float32), faces=np.zeros((0, 3), np.int32),
        corner_uvs=np.zeros((0, 3, 2), np.float32), normals=np.zeros((0, 3), np.float32),
        vertex_colors=np.zeros((0, 3), np.float32), texture=np.zeros((1, 1, 4), np.uint8),
        morph_names=list(head.morph_names),
        morph_deltas=np.zeros((len(head.morph_names), 0, 3), np.float32),
        morph_weights=head.morph_weights.copy(), name=name,
    )
