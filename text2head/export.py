"""Write a head as binary glTF (GLB), Wavefront OBJ (+MTL+PNGs) and binary PLY.

A head is one `TexturedMesh` or several named parts (head, hair, eyebrows, teeth, ...).
GLB is the primary deliverable: one file with every part's texture and the ARKit morph
targets that three.js, Blender and game engines animate. OBJ and PLY are for tools that
read nothing else (OBJ keeps the textures and vertex colours, PLY merges the parts and keeps
only vertex colours). Every file is written atomically through `text2head.io`.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pygltflib

from text2head.animation.clip import Clip
from text2head.animation.gltf import add_animations
from text2head.glb_builder import GlbBuilder, png_bytes
from text2head.gltf_materials import part_primitives
from text2head.io import PathLike, atomic_paths, write_bytes_atomic
from text2head.mesh import TexturedMesh
from text2head.occlusion_bake import base_colour_texture, base_colour_vertices, occlusion_factor
from text2head.tangents import vertex_tangents

Parts = TexturedMesh | Sequence[TexturedMesh]
"""One mesh, or the uniquely named parts of one head, all with the same morph targets."""


# ---------------------------------------------------------------------------------------------
# Public API


def export_glb(parts: Parts, path: PathLike, clips: Sequence[Clip] = ()) -> Path:
    """Write the parts as one self-contained binary glTF 2.0 file and return its path.

    The scene lists one node per part, named after it, each with its own mesh (same name),
    material and texture; parts with no faces are left out. `clips` become glTF animations of
    every part's morph weights, in order (viewers that autoplay start the first).
    """
    path = _checked_path(path, ".glb")
    write_bytes_atomic(path, _glb_bytes(_checked_parts(parts), clips))
    return path


def export_obj(parts: Parts, path: PathLike) -> dict[str, Path]:
    """Write `path` (.obj) with a .mtl and one .png per part beside it (two for a part
    with a detail normal map).

    Each part is an `o <name>` block with its own material. The texture of the part named
    "head" is `<stem>.png`, any other part's `<stem>_<name>.png`, and each material is named
    after its texture's stem; a normal map is `<texture stem>_normal.png`. Returns {"obj",
    "mtl", "png" (the head part's), "png_<name>" (the other parts'), "png_normal" /
    "png_<name>_normal" (normal maps)}; nothing is moved into place before every file was
    written.
    """
    path = _checked_obj_path(path)
    meshes = _checked_parts(parts)
    images = _obj_images(path, meshes)
    paths = {"obj": path, "mtl": path.with_suffix(".mtl"),
             **{key: file for key, (file, _) in images.items()}}
    textures = [images[_png_key(mesh)][0].name for mesh in meshes]
    contents = {
        "obj": _obj_text(meshes, textures, mtl_name=paths["mtl"].name).encode(),
        "mtl": _mtl_text(meshes, textures).encode(),
        **{key: png_bytes(image) for key, (_, image) in images.items()},
    }
    with atomic_paths(list(paths.values())) as temporaries:
        for key, temporary in zip(paths, temporaries, strict=True):
            temporary.write_bytes(contents[key])
    return paths


def export_ply(parts: Parts, path: PathLike) -> Path:
    """Write the parts merged into one binary little-endian PLY mesh with normals and uchar
    RGB vertex colours (PLY has no notion of parts or textures)."""
    path = _checked_path(path, ".ply")
    write_bytes_atomic(path, _ply_bytes(_checked_parts(parts)))
    return path


def export_all(parts: Parts, out_dir: PathLike, stem: str = "head",
               clips: Sequence[Clip] = ()) -> dict[str, Path]:
    """Write `<stem>.glb` (animated by `clips`), `<stem>.obj/.mtl/.png` (+ `<stem>_<part>.png`,
    `<stem>_normal.png`) and `<stem>.ply` into `out_dir` (created).

    Returns the written paths keyed "glb", "obj", "mtl", "png", "png_<part>", "png_normal"
    (the head's detail normal map), "ply". Bad input is rejected before any file is written.
    """
    if not stem or Path(stem).name != stem:
        raise ValueError(f"stem must be a plain file name without folders, got {stem!r}")
    out_dir = Path(out_dir)
    meshes = _checked_parts(parts)
    _checked_obj_path(out_dir / f"{stem}.obj")
    out_dir.mkdir(parents=True, exist_ok=True)
    return {
        "glb": export_glb(meshes, out_dir / f"{stem}.glb", clips),
        **export_obj(meshes, out_dir / f"{stem}.obj"),
        "ply": export_ply(meshes, out_dir / f"{stem}.ply"),
    }


# ---------------------------------------------------------------------------------------------
# Input checks and shared conversions


def _checked_path(path: PathLike, suffix: str) -> Path:
    """Reject a wrong extension early: a viewer picks the format from it."""
    path = Path(path)
    if path.suffix.lower() != suffix:
        raise ValueError(f"expected a {suffix} path, got {str(path)!r}")
    return path


def _checked_obj_path(path: PathLike) -> Path:
    path = _checked_path(path, ".obj")
    if any(character.isspace() for character in path.stem):
        raise ValueError(f"OBJ file name must not contain whitespace (mtllib/map_Kd would "
                         f"break): {path.name!r}")
    return path


def _checked_parts(parts: Parts) -> list[TexturedMesh]:
    """The parts worth writing, after the checks that would otherwise write a bad file.

    Parts without faces (a clean-shaven head's facial hair) are left out rather than
    rejected; the rest must share morph target names and default weights, so that one
    expression (an animation drives targets by name or index) moves all parts together.
    """
    meshes = [parts] if isinstance(parts, TexturedMesh) else parts
    if not isinstance(meshes, Sequence):
        raise TypeError(f"expected a TexturedMesh or a sequence of them, got "
                        f"{type(parts).__name__}")
    for mesh in meshes:
        if not isinstance(mesh, TexturedMesh):
            raise TypeError(f"expected a TexturedMesh, got {type(mesh).__name__}")
    names = [mesh.name for mesh in meshes]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"part names must be unique: {name!r} appears {names.count(name)} "
                             f"times")
    meshes = [mesh for mesh in meshes if len(mesh.faces)]
    if not meshes:
        raise ValueError("no part has faces: nothing to export")
    for mesh in meshes:
        _check_mesh(mesh)
    first = meshes[0]
    for mesh in meshes[1:]:
        expected, actual = list(first.morph_names), list(mesh.morph_names)
        if actual != expected:
            raise ValueError(f"part {mesh.name!r} must have the same morph target names in the "
                             f"same order as part {first.name!r}: "
                             f"{_first_difference(expected, actual)}")
        if mesh.morph_names and not np.allclose(mesh.morph_weights, first.morph_weights,
                                                rtol=0.0, atol=1e-6):
            raise ValueError(f"part {mesh.name!r} has other default morph weights than part "
                             f"{first.name!r}: their rest expressions would differ")
    return meshes


def _first_difference(expected: list[str], actual: list[str]) -> str:
    index = next((i for i, (a, b) in enumerate(zip(expected, actual, strict=False))
                  if a != b), min(len(expected), len(actual)))
    return (f"{len(expected)} vs {len(actual)} names, first difference at index {index}: "
            f"{expected[index:index + 1]} vs {actual[index:index + 1]}")


def _check_mesh(mesh: TexturedMesh) -> None:
    """Checks `TexturedMesh` leaves to exporters: things that would write an invalid file."""
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


def _glb_bytes(meshes: list[TexturedMesh], clips: Sequence[Clip] = ()) -> bytes:
    builder = GlbBuilder()
    gltf = builder.gltf
    for mesh in meshes:
        _add_part(builder, mesh)
    gltf.nodes = [pygltflib.Node(name=mesh.name, mesh=index)
                  for index, mesh in enumerate(meshes)]
    gltf.scenes = [pygltflib.Scene(nodes=list(range(len(meshes))))]
    gltf.scene = 0
    if clips:
        add_animations(builder, [tuple(mesh.morph_names) or None for mesh in meshes], clips)
    gltf.asset = pygltflib.Asset(version="2.0", generator="text2head")
    return builder.to_bytes()


def _add_part(builder: GlbBuilder, mesh: TexturedMesh) -> None:
    """Append the part's glTF mesh: one set of vertex data and morph targets shared by its
    primitives, which differ in faces and material (see `text2head.gltf_materials`).

    TANGENT goes only to primitives whose material has a normal map (the eyes have none).
    COLOR_0 only carries occlusion for parts that have it per vertex but not as a texture
    (strand cards, whose UVs repeat a tile): glTF multiplies it with the base colour texture,
    which holds the albedo, so an albedo in COLOR_0 would be squared (too dark).
    """
    source, uvs, faces = _split_uv_seams(mesh)
    vertex_data = pygltflib.ARRAY_BUFFER
    positions = mesh.vertices[source].astype(np.float32)
    normals = _unit_normals(mesh)[source]
    attributes = pygltflib.Attributes(
        POSITION=builder.accessor(positions, vertex_data, with_bounds=True),
        NORMAL=builder.accessor(normals, vertex_data),
        TEXCOORD_0=builder.accessor(  # glTF puts the UV origin at the top-left
            np.column_stack([uvs[:, 0], 1.0 - uvs[:, 1]]).astype(np.float32), vertex_data),
    )
    if mesh.normal_texture is not None:
        attributes.TANGENT = builder.accessor(
            vertex_tangents(positions, normals, uvs, faces), vertex_data)
    if mesh.occlusion is not None and mesh.occlusion_texture is None:
        factor = occlusion_factor(mesh.occlusion)[source]
        attributes.COLOR_0 = builder.accessor(np.repeat(factor[:, None], 3, axis=1),
                                              vertex_data)
    targets = [
        pygltflib.Attributes(POSITION=builder.accessor(
            deltas[source].astype(np.float32), vertex_data, with_bounds=True))
        for deltas in (mesh.morph_deltas if mesh.morph_names else [])
    ]
    # 65535 is the uint16 primitive-restart value, which glTF forbids as an index.
    index_dtype = np.uint16 if len(source) <= np.iinfo(np.uint16).max else np.uint32
    indices: dict[bytes, int] = {}  # primitives over the same faces share their indices
    primitives = []
    for selected, material in part_primitives(builder, mesh):
        key = np.packbits(selected).tobytes()
        if key not in indices:
            indices[key] = builder.accessor(faces[selected].reshape(-1).astype(index_dtype),
                                            pygltflib.ELEMENT_ARRAY_BUFFER)
        used = copy.copy(attributes)
        if builder.gltf.materials[material].normalTexture is None:
            used.TANGENT = None
        primitives.append(pygltflib.Primitive(attributes=used, indices=indices[key],
                                              material=material, mode=pygltflib.TRIANGLES,
                                              targets=targets))
    builder.gltf.meshes.append(pygltflib.Mesh(
        name=mesh.name, primitives=primitives,
        weights=[float(weight) for weight in mesh.morph_weights] if targets else None,
        extras={"targetNames": list(mesh.morph_names)} if targets else {},
    ))


# ---------------------------------------------------------------------------------------------
# OBJ + MTL


def _texture_stem(stem: str, mesh: TexturedMesh) -> str:
    """The head part keeps the single-mesh names (`head.png`, material `head`)."""
    return stem if mesh.name == "head" else f"{stem}_{mesh.name}"


def _png_key(mesh: TexturedMesh) -> str:
    return "png" if mesh.name == "head" else f"png_{mesh.name}"


def _normal_key(mesh: TexturedMesh) -> str:
    """"png_normal" for the head: a "png" key, so whatever bundles the PNGs takes it too."""
    return f"{_png_key(mesh)}_normal"


def _normal_png(texture_stem: str) -> str:
    return f"{texture_stem}_normal.png"


def _obj_images(path: Path, meshes: list[TexturedMesh]) -> dict[str, tuple[Path, np.ndarray]]:
    """Every PNG beside the OBJ by its key: the colour (with occlusion baked in, MTL has no
    occlusion map) and any detail normal map. Rejects parts whose files would collide."""
    images = {}
    for mesh in meshes:
        stem = _texture_stem(path.stem, mesh)
        images[_png_key(mesh)] = (path.with_name(f"{stem}.png"), base_colour_texture(mesh))
        if mesh.normal_texture is not None:
            images[_normal_key(mesh)] = (path.with_name(_normal_png(stem)),
                                         mesh.normal_texture)
    names = [file.name for file, _ in images.values()]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"two images of these parts would both be written as {name!r}")
    return images


def _obj_text(meshes: list[TexturedMesh], textures: list[str], mtl_name: str) -> str:
    """One `o` block per part, using the material named after its texture's stem.

    Per-attribute indices: positions and normals share indices, UVs are pooled per part.
    OBJ indices count from the file's start, so each block is offset by those before it.
    """
    sections = [f"# text2head\nmtllib {mtl_name}\n"]
    vertex_offset = uv_offset = 1
    for mesh, texture in zip(meshes, textures, strict=True):
        uvs, uv_index = np.unique(mesh.corner_uvs.reshape(-1, 2), axis=0, return_inverse=True)
        vertex_index = mesh.faces.reshape(-1, 1).astype(np.int64) + vertex_offset
        corners = np.column_stack([vertex_index, uv_index.reshape(-1, 1) + uv_offset,
                                   vertex_index])
        sections += [
            f"o {mesh.name}\n",
            _rows("v", np.column_stack([mesh.vertices, base_colour_vertices(mesh)]), "%.7g"),
            _rows("vt", uvs, "%.7g"),
            _rows("vn", _unit_normals(mesh), "%.7g"),
            f"usemtl {Path(texture).stem}\n",
            _rows("f", corners.reshape(-1, 9), "%d/%d/%d", group=3),
        ]
        vertex_offset += len(mesh.vertices)
        uv_offset += len(uvs)
    return "".join(sections)


def _rows(keyword: str, array: np.ndarray, number_format: str, group: int = 1) -> str:
    """One `keyword` line per array row; `group` columns share one `number_format` field."""
    fields = " ".join([number_format] * (array.shape[1] // group))
    buffer = io.StringIO()
    np.savetxt(buffer, array, fmt=f"{keyword} {fields}")
    return buffer.getvalue()


def _mtl_text(meshes: list[TexturedMesh], textures: list[str]) -> str:
    """One material per part named after its texture; cut-outs take their alpha from it.

    A normal map is named twice: `map_Bump` is what Blender's and Babylon's OBJ readers take
    as a normal map, `norm` (the PBR extension of MTL) what three.js and tinyobjloader do.
    """
    materials = []
    for mesh, texture in zip(meshes, textures, strict=True):
        stem = Path(texture).stem
        lines = [f"newmtl {stem}", "Ka 1 1 1", "Kd 1 1 1", "Ks 0 0 0", "d 1", "illum 1",
                 f"map_Kd {texture}"]
        if mesh.cutout:
            lines.append(f"map_d {texture}")
        if mesh.normal_texture is not None:
            lines += [f"map_Bump {_normal_png(stem)}", f"norm {_normal_png(stem)}"]
        materials.append("\n".join(lines) + "\n")
    return "# text2head\n" + "\n".join(materials)


# ---------------------------------------------------------------------------------------------
# PLY


def _ply_bytes(meshes: list[TexturedMesh]) -> bytes:
    """All parts as one mesh: their vertices one after another, faces offset to match."""
    offsets = np.cumsum([0] + [len(mesh.vertices) for mesh in meshes])
    vertex = np.empty(offsets[-1], dtype=[
        ("position", "<f4", 3), ("normal", "<f4", 3), ("color", "u1", 3)])
    vertex["position"] = np.concatenate([mesh.vertices for mesh in meshes])
    vertex["normal"] = np.concatenate([_unit_normals(mesh) for mesh in meshes])
    colors = np.concatenate([base_colour_vertices(mesh) for mesh in meshes])
    vertex["color"] = np.round(colors * 255.0).astype(np.uint8)
    faces = np.concatenate([mesh.faces + offset
                            for mesh, offset in zip(meshes, offsets[:-1], strict=True)])
    face = np.empty(len(faces), dtype=[("count", "u1"), ("indices", "<i4", 3)])
    face["count"] = 3
    face["indices"] = faces
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment text2head\n"
        f"element vertex {len(vertex)}\n"
        "property float x\nproperty float y\nproperty float z\n"
        "property float nx\nproperty float ny\nproperty float nz\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\n"
        f"element face {len(face)}\nproperty list uchar int vertex_indices\nend_header\n"
    )
    return header.encode("ascii") + vertex.tobytes() + face.tobytes()
