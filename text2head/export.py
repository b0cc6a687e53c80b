"""Write a `TexturedMesh` as binary glTF (GLB), Wavefront OBJ (+MTL+PNG) and binary PLY.

GLB is the primary deliverable: one file with the texture, vertex colours and the ARKit
morph targets that three.js, Blender and game engines animate. OBJ and PLY are for tools
that read nothing else (OBJ keeps the texture, PLY keeps only vertex colours). Every file is
written atomically through `text2head.io`.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pygltflib
from PIL import Image

from text2head.io import PathLike, atomic_paths, write_bytes_atomic
from text2head.mesh import TexturedMesh

ROUGHNESS = 0.6
_ALIGNMENT = 4  # glTF: accessor data and bufferViews start on 4-byte boundaries


# ---------------------------------------------------------------------------------------------
# Public API


def export_glb(mesh: TexturedMesh, path: PathLike) -> Path:
    """Write `mesh` as a self-contained binary glTF 2.0 file and return its path."""
    path = _checked_path(path, ".glb")
    _check_mesh(mesh)
    write_bytes_atomic(path, _glb_bytes(mesh))
    return path


def export_obj(mesh: TexturedMesh, path: PathLike) -> dict[str, Path]:
    """Write `path` (.obj) with a .mtl and .png of the same stem beside it.

    Returns {"obj": ..., "mtl": ..., "png": ...}. The three files are moved into place only
    after all three were written.
    """
    path = _checked_path(path, ".obj")
    if any(character.isspace() for character in path.stem):
        raise ValueError(f"OBJ file name must not contain whitespace (mtllib/map_Kd would "
                         f"break): {path.name!r}")
    _check_mesh(mesh)
    paths = {"obj": path, "mtl": path.with_suffix(".mtl"), "png": path.with_suffix(".png")}
    contents = {
        "obj": _obj_text(mesh, mtl_name=paths["mtl"].name, material=path.stem).encode(),
        "mtl": _mtl_text(material=path.stem, texture_name=paths["png"].name).encode(),
        "png": _png_bytes(mesh.texture),
    }
    with atomic_paths(list(paths.values())) as temporaries:
        for key, temporary in zip(paths, temporaries, strict=True):
            temporary.write_bytes(contents[key])
    return paths


def export_ply(mesh: TexturedMesh, path: PathLike) -> Path:
    """Write `mesh` as binary little-endian PLY with normals and uchar RGB vertex colours."""
    path = _checked_path(path, ".ply")
    _check_mesh(mesh)
    write_bytes_atomic(path, _ply_bytes(mesh))
    return path


def export_all(mesh: TexturedMesh, out_dir: PathLike, stem: str = "head") -> dict[str, Path]:
    """Write `<stem>.glb`, `<stem>.obj/.mtl/.png` and `<stem>.ply` into `out_dir` (created).

    Returns the written paths keyed "glb", "obj", "mtl", "png", "ply".
    """
    if not stem or Path(stem).name != stem:
        raise ValueError(f"stem must be a plain file name without folders, got {stem!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return {
        "glb": export_glb(mesh, out_dir / f"{stem}.glb"),
        **export_obj(mesh, out_dir / f"{stem}.obj"),
        "ply": export_ply(mesh, out_dir / f"{stem}.ply"),
    }


# ---------------------------------------------------------------------------------------------
# Input checks and shared conversions


def _checked_path(path: PathLike, suffix: str) -> Path:
    """Reject a wrong extension early: a viewer picks the format from it."""
    path = Path(path)
    if path.suffix.lower() != suffix:
        raise ValueError(f"expected a {suffix} path, got {str(path)!r}")
    return path


def _check_mesh(mesh: TexturedMesh) -> None:
    """Checks `TexturedMesh` leaves to exporters: things that would write an invalid file."""
    if not isinstance(mesh, TexturedMesh):
        raise TypeError(f"expected a TexturedMesh, got {type(mesh).__name__}")
    if len(mesh.faces) == 0:
        raise ValueError("mesh has no faces: nothing to export")
    if not np.issubdtype(mesh.faces.dtype, np.integer):
        raise ValueError(f"faces must be integers, got {mesh.faces.dtype}")
    if mesh.texture.shape[0] == 0 or mesh.texture.shape[1] == 0:
        raise ValueError(f"texture is empty: shape {mesh.texture.shape}")
    lengths = np.linalg.norm(mesh.normals.astype(np.float64), axis=1)
    if (lengths < 1e-8).any():
        raise ValueError(f"{int((lengths < 1e-8).sum())} normals have zero length")
    if mesh.morph_names:
        if len(set(mesh.morph_names)) != len(mesh.morph_names) or not all(mesh.morph_names):
            raise ValueError(f"morph target names must be unique and non-empty: "
                             f"{mesh.morph_names}")
        for name in ("morph_deltas", "morph_weights"):
            if not np.isfinite(getattr(mesh, name)).all():
                raise ValueError(f"{name} contains NaN or inf")


def _unit_normals(mesh: TexturedMesh) -> np.ndarray:
    """Renormalise in float64: glTF validators reject normals whose length drifts from 1."""
    normals = mesh.normals.astype(np.float64)
    return (normals / np.linalg.norm(normals, axis=1, keepdims=True)).astype(np.float32)


def _srgb_colors(mesh: TexturedMesh) -> np.ndarray:
    """Vertex colours clipped to the documented [0, 1] sRGB range."""
    return np.clip(mesh.vertex_colors.astype(np.float32), 0.0, 1.0)


def _srgb_to_linear(srgb: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB decoding; glTF COLOR_0 is linear."""
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def _png_bytes(texture: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(texture, mode="RGB").save(buffer, format="PNG")
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# GLB


def _split_uv_seams(mesh: TexturedMesh) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split vertices so every (vertex, UV) pair becomes one glTF vertex.

    glTF has one index per vertex for all attributes, while the mesh stores UVs per face
    corner. Returns (source, uvs, faces): `source[i]` is the mesh vertex that split vertex
    i copies (use it to gather positions, normals, colours and morph deltas), `uvs` (N, 2)
    are in the mesh's OBJ convention and `faces` (F, 3) index the split vertices.
    """
    corner_vertex = mesh.faces.reshape(-1).astype(np.int64)
    corner_uv = mesh.corner_uvs.reshape(-1, 2).astype(np.float32) + np.float32(0.0)  # -0 -> 0
    keys = np.column_stack([corner_vertex, corner_uv.view(np.uint32).astype(np.int64)])
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    faces = inverse.reshape(mesh.faces.shape)
    return corner_vertex[first], corner_uv[first], faces


class _GlbBuilder:
    """Accumulates aligned binary chunks with their bufferViews and accessors."""

    def __init__(self) -> None:
        self.gltf = pygltflib.GLTF2()
        self.blob = bytearray()

    def buffer_view(self, data: bytes, target: int | None = None) -> int:
        self.blob += b"\0" * (-len(self.blob) % _ALIGNMENT)
        self.gltf.bufferViews.append(pygltflib.BufferView(
            buffer=0, byteOffset=len(self.blob), byteLength=len(data), target=target))
        self.blob += data
        return len(self.gltf.bufferViews) - 1

    def accessor(self, array: np.ndarray, target: int, with_bounds: bool = False) -> int:
        """Add an accessor over `array`; bounds are taken from the float32 data, so exact."""
        component_type, accessor_type = _accessor_format(array)
        bounds = {}
        if with_bounds:
            bounds = {"min": array.min(axis=0).tolist(), "max": array.max(axis=0).tolist()}
        self.gltf.accessors.append(pygltflib.Accessor(
            bufferView=self.buffer_view(np.ascontiguousarray(array).tobytes(), target),
            componentType=component_type, count=len(array), type=accessor_type, **bounds))
        return len(self.gltf.accessors) - 1

    def to_bytes(self) -> bytes:
        self.blob += b"\0" * (-len(self.blob) % _ALIGNMENT)
        self.gltf.buffers = [pygltflib.Buffer(byteLength=len(self.blob))]
        self.gltf.set_binary_blob(bytes(self.blob))
        return b"".join(self.gltf.save_to_bytes())


def _accessor_format(array: np.ndarray) -> tuple[int, str]:
    """glTF componentType and type for float32 (N, 2|3) vertex data or uint16/32 indices."""
    if array.dtype == np.float32 and array.ndim == 2 and array.shape[1] in (2, 3):
        return pygltflib.FLOAT, {2: pygltflib.VEC2, 3: pygltflib.VEC3}[array.shape[1]]
    unsigned = {np.dtype(np.uint16): pygltflib.UNSIGNED_SHORT,
                np.dtype(np.uint32): pygltflib.UNSIGNED_INT}
    if array.dtype in unsigned and array.ndim == 1:
        return unsigned[array.dtype], pygltflib.SCALAR
    raise TypeError(f"no glTF accessor format for {array.dtype} {array.shape}")


def _glb_bytes(mesh: TexturedMesh) -> bytes:
    source, uvs, faces = _split_uv_seams(mesh)
    builder = _GlbBuilder()
    vertex_data = pygltflib.ARRAY_BUFFER
    attributes = pygltflib.Attributes(
        POSITION=builder.accessor(mesh.vertices[source].astype(np.float32), vertex_data,
                                  with_bounds=True),
        NORMAL=builder.accessor(_unit_normals(mesh)[source], vertex_data),
        TEXCOORD_0=builder.accessor(  # glTF puts the UV origin at the top-left
            np.column_stack([uvs[:, 0], 1.0 - uvs[:, 1]]).astype(np.float32), vertex_data),
        COLOR_0=builder.accessor(
            _srgb_to_linear(_srgb_colors(mesh)[source]).astype(np.float32), vertex_data),
    )
    # 65535 is the uint16 primitive-restart value, which glTF forbids as an index.
    index_dtype = np.uint16 if len(source) <= np.iinfo(np.uint16).max else np.uint32
    indices = builder.accessor(faces.reshape(-1).astype(index_dtype),
                               pygltflib.ELEMENT_ARRAY_BUFFER)
    targets = [
        pygltflib.Attributes(POSITION=builder.accessor(
            deltas[source].astype(np.float32), vertex_data, with_bounds=True))
        for deltas in (mesh.morph_deltas if mesh.morph_names else [])
    ]
    _add_material(builder, mesh.texture)
    gltf = builder.gltf
    gltf.meshes = [pygltflib.Mesh(
        name="head",
        primitives=[pygltflib.Primitive(attributes=attributes, indices=indices, material=0,
                                        mode=pygltflib.TRIANGLES, targets=targets)],
        weights=[float(weight) for weight in mesh.morph_weights] if targets else None,
        extras={"targetNames": list(mesh.morph_names)} if targets else {},
    )]
    gltf.nodes = [pygltflib.Node(name="head", mesh=0)]
    gltf.scenes = [pygltflib.Scene(nodes=[0])]
    gltf.scene = 0
    gltf.asset = pygltflib.Asset(version="2.0", generator="text2head")
    return builder.to_bytes()


def _add_material(builder: _GlbBuilder, texture: np.ndarray) -> None:
    """One PBR material whose base colour is the PNG texture, embedded in the buffer."""
    gltf = builder.gltf
    gltf.images = [pygltflib.Image(bufferView=builder.buffer_view(_png_bytes(texture)),
                                   mimeType="image/png")]
    gltf.samplers = [pygltflib.Sampler(
        magFilter=pygltflib.LINEAR, minFilter=pygltflib.LINEAR_MIPMAP_LINEAR,
        wrapS=pygltflib.CLAMP_TO_EDGE, wrapT=pygltflib.CLAMP_TO_EDGE)]
    gltf.textures = [pygltflib.Texture(source=0, sampler=0)]
    gltf.materials = [pygltflib.Material(
        name="head",
        pbrMetallicRoughness=pygltflib.PbrMetallicRoughness(
            baseColorTexture=pygltflib.TextureInfo(index=0),
            metallicFactor=0.0, roughnessFactor=ROUGHNESS),
        doubleSided=False,
    )]


# ---------------------------------------------------------------------------------------------
# OBJ + MTL


def _obj_text(mesh: TexturedMesh, mtl_name: str, material: str) -> str:
    """OBJ with per-attribute indices: positions and normals share indices, UVs are pooled."""
    uvs, uv_index = np.unique(mesh.corner_uvs.reshape(-1, 2), axis=0, return_inverse=True)
    vertex_index = mesh.faces.reshape(-1, 1).astype(np.int64) + 1
    corners = np.column_stack([vertex_index, uv_index.reshape(-1, 1) + 1, vertex_index])
    sections = [
        f"# text2head\nmtllib {mtl_name}\no head\n",
        _rows("v", np.column_stack([mesh.vertices, _srgb_colors(mesh)]), "%.7g"),
        _rows("vt", uvs, "%.7g"),
        _rows("vn", _unit_normals(mesh), "%.7g"),
        f"usemtl {material}\n",
        _rows("f", corners.reshape(-1, 9), "%d/%d/%d", group=3),
    ]
    return "".join(sections)


def _rows(keyword: str, array: np.ndarray, number_format: str, group: int = 1) -> str:
    """One `keyword` line per array row; `group` columns share one `number_format` field."""
    fields = " ".join([number_format] * (array.shape[1] // group))
    buffer = io.StringIO()
    np.savetxt(buffer, array, fmt=f"{keyword} {fields}")
    return buffer.getvalue()


def _mtl_text(material: str, texture_name: str) -> str:
    return (f"# text2head\nnewmtl {material}\nKa 1 1 1\nKd 1 1 1\nKs 0 0 0\nd 1\nillum 1\n"
            f"map_Kd {texture_name}\n")


# ---------------------------------------------------------------------------------------------
# PLY


def _ply_bytes(mesh: TexturedMesh) -> bytes:
    vertex = np.empty(len(mesh.vertices), dtype=[
        ("position", "<f4", 3), ("normal", "<f4", 3), ("color", "u1", 3)])
    vertex["position"] = mesh.vertices
    vertex["normal"] = _unit_normals(mesh)
    vertex["color"] = np.round(_srgb_colors(mesh) * 255.0).astype(np.uint8)
    face = np.empty(len(mesh.faces), dtype=[("count", "u1"), ("indices", "<i4", 3)])
    face["count"] = 3
    face["indices"] = mesh.faces
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment text2head\n"
        f"element vertex {len(vertex)}\n"
        "property float x\nproperty float y\nproperty float z\n"
        "property float nx\nproperty float ny\nproperty float nz\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\n"
        f"element face {len(face)}\nproperty list uchar int vertex_indices\nend_header\n"
    )
    return header.encode("ascii") + vertex.tobytes() + face.tobytes()
