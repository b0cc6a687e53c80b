"""The binary side of a GLB: one buffer of aligned chunks, with the bufferViews, accessors,
images and textures that point into it (the exporter and the materials both add to it)."""

from __future__ import annotations

import io

import numpy as np
import pygltflib
from PIL import Image

_ALIGNMENT = 4  # glTF: accessor data and bufferViews start on 4-byte boundaries
PNG_LEVEL = 3
_FLOAT_TYPES = {2: pygltflib.VEC2, 3: pygltflib.VEC3, 4: pygltflib.VEC4}


class GlbBuilder:
    """Accumulates aligned binary chunks with their bufferViews, accessors and textures.

    Every texture samples with the one sampler (trilinear, clamped): parts' UV islands never
    wrap, and mipmaps keep strand textures from sparkling when a head is seen small.
    """

    def __init__(self) -> None:
        self.gltf = pygltflib.GLTF2()
        self.gltf.samplers = [pygltflib.Sampler(
            magFilter=pygltflib.LINEAR, minFilter=pygltflib.LINEAR_MIPMAP_LINEAR,
            wrapS=pygltflib.CLAMP_TO_EDGE, wrapT=pygltflib.CLAMP_TO_EDGE)]
        self.blob = bytearray()
        self._textures: dict[bytes, int] = {}  # PNG bytes -> texture index

    def buffer_view(self, data: bytes, target: int | None = None) -> int:
        self.blob += b"\0" * (-len(self.blob) % _ALIGNMENT)
        self.gltf.bufferViews.append(pygltflib.BufferView(
            buffer=0, byteOffset=len(self.blob), byteLength=len(data), target=target))
        self.blob += data
        return len(self.gltf.bufferViews) - 1

    def accessor(self, array: np.ndarray, target: int | None, with_bounds: bool = False) -> int:
        """Add an accessor over `array`; bounds are taken from the float32 data, so exact.
        Animation data has no `target` (it is not vertex or index data)."""
        component_type, accessor_type = _accessor_format(array)
        bounds = {}
        if with_bounds:
            bounds = {"min": np.atleast_1d(array.min(axis=0)).tolist(),
                      "max": np.atleast_1d(array.max(axis=0)).tolist()}
        self.gltf.accessors.append(pygltflib.Accessor(
            bufferView=self.buffer_view(np.ascontiguousarray(array).tobytes(), target),
            componentType=component_type, count=len(array), type=accessor_type, **bounds))
        return len(self.gltf.accessors) - 1

    def texture(self, image: np.ndarray) -> int:
        """Embed `image` (uint8, grey, RGB or RGBA) as a PNG and return its texture index.

        An image equal to one already embedded (brows and lashes share a strand tile and
        often a colour) reuses its texture instead of storing the bytes twice.
        """
        png = png_bytes(image)
        if png not in self._textures:
            gltf = self.gltf
            gltf.images.append(pygltflib.Image(bufferView=self.buffer_view(png),
                                               mimeType="image/png"))
            gltf.textures.append(pygltflib.Texture(source=len(gltf.images) - 1, sampler=0))
            self._textures[png] = len(gltf.textures) - 1
        return self._textures[png]

    def use_extension(self, name: str) -> None:
        """Declare a material extension once (glTF requires extensionsUsed to list it)."""
        if name not in self.gltf.extensionsUsed:
            self.gltf.extensionsUsed.append(name)

    def to_bytes(self) -> bytes:
        self.blob += b"\0" * (-len(self.blob) % _ALIGNMENT)
        self.gltf.buffers = [pygltflib.Buffer(byteLength=len(self.blob))]
        self.gltf.set_binary_blob(bytes(self.blob))
        return b"".join(self.gltf.save_to_bytes())


def png_bytes(image: np.ndarray) -> bytes:
    """Grey, RGB or RGBA (a cut-out part's alpha) as PNG. zlib level 3 rather than Pillow's 6:
    a head's textures encode 2.5 times faster (0.34 s instead of 0.84 s at 1024 px on two
    cores) for files about a fifth larger."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=PNG_LEVEL)
    return buffer.getvalue()


def _accessor_format(array: np.ndarray) -> tuple[int, str]:
    """glTF componentType and type for float32 (N, 2|3|4) vertex data, float32 (N,) scalars
    (animation times and weights) or uint16/32 indices."""
    if array.dtype == np.float32 and array.ndim == 2 and array.shape[1] in _FLOAT_TYPES:
        return pygltflib.FLOAT, _FLOAT_TYPES[array.shape[1]]
    if array.dtype == np.float32 and array.ndim == 1:
        return pygltflib.FLOAT, pygltflib.SCALAR
    unsigned = {np.dtype(np.uint16): pygltflib.UNSIGNED_SHORT,
                np.dtype(np.uint32): pygltflib.UNSIGNED_INT}
    if array.dtype in unsigned and array.ndim == 1:
        return unsigned[array.dtype], pygltflib.SCALAR
    raise TypeError(f"no glTF accessor format for {array.dtype} {array.shape}")
