"""Reading data back out of a GLB we wrote (pygltflib gives the JSON, not the arrays)."""

from __future__ import annotations

import numpy as np
import pygltflib


def read_accessor(gltf: pygltflib.GLTF2, index: int) -> np.ndarray:
    """Decode one tightly packed accessor from a loaded GLB's binary chunk."""
    accessor = gltf.accessors[index]
    view = gltf.bufferViews[accessor.bufferView]
    dtype = {pygltflib.FLOAT: "<f4", pygltflib.UNSIGNED_SHORT: "<u2",
             pygltflib.UNSIGNED_INT: "<u4"}[accessor.componentType]
    width = {pygltflib.SCALAR: 1, pygltflib.VEC2: 2, pygltflib.VEC3: 3,
             pygltflib.VEC4: 4}[accessor.type]
    start = view.byteOffset + (accessor.byteOffset or 0)
    data = np.frombuffer(gltf.binary_blob(), dtype=dtype, count=accessor.count * width,
                         offset=start)
    return data.reshape(accessor.count, width) if width > 1 else data
