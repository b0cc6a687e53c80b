"""Run inside Blender (`blender -b --factory-startup --python THIS -- ASSET.glb`): import
the GLB with Blender's own glTF add-on and print one line, `PROBE <json>`, describing the
materials and meshes it made (tests/test_blender_import.py reads it)."""

import json
import sys

import numpy

numpy.bool = bool  # Blender 3.4's glTF importer uses numpy.bool, gone from newer numpy
import bpy  # noqa: E402  (Blender's module, only inside Blender)

bpy.ops.wm.read_factory_settings(use_empty=True)
path = sys.argv[sys.argv.index("--") + 1]
bpy.ops.import_scene.gltf(filepath=path)
out = {"materials": {}, "meshes": {}}
for m in bpy.data.materials:
    nodes = m.node_tree.nodes if m.use_nodes else []
    bsdf = next((n for n in nodes if n.type == "BSDF_PRINCIPLED"), None)
    out["materials"][m.name] = {
        "blend_method": m.blend_method,
        "alpha_threshold": m.alpha_threshold,
        "normal_map": any(n.type == "NORMAL_MAP" for n in nodes),
        "clearcoat": bsdf.inputs["Clearcoat"].default_value if bsdf else None,
        "clearcoat_roughness": (bsdf.inputs["Clearcoat Roughness"].default_value
                                if bsdf else None),
        "ior": bsdf.inputs["IOR"].default_value if bsdf else None,
        "vertex_color": any(n.type in ("VERTEX_COLOR", "ATTRIBUTE") for n in nodes),
        "double_sided": not m.use_backface_culling,
    }
for o in bpy.data.objects:
    if o.type == "MESH":
        keys = o.data.shape_keys
        out["meshes"][o.name] = {
            "faces": len(o.data.polygons),
            "materials": [slot.material.name for slot in o.material_slots],
            "shape_keys": len(keys.key_blocks) if keys else 0,
        }
print("PROBE " + json.dumps(out))
