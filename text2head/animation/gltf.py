"""Clips as glTF animations: one animation per clip, one `weights` channel per part node.

Every part carries the same morph targets in the same order, so the channels of one clip
share its key times and weights; each has a sampler of its own (glTF ties a sampler to
nothing, but viewers differ on shared samplers). Keys are interpolated LINEAR.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pygltflib

from text2head.animation.clip import Clip
from text2head.glb_builder import GlbBuilder


def add_animations(builder: GlbBuilder, targets_by_node: Sequence[tuple[str, ...] | None],
                   clips: Sequence[Clip]) -> None:
    """Append one glTF animation per clip, animating every node whose mesh has morph targets
    (`targets_by_node[i]`: node i's target names, None for a node without targets)."""
    names = [clip.name for clip in clips]
    if len(set(names)) != len(names):
        raise ValueError(f"clip names must differ, got {names}")
    animated = [node for node, targets in enumerate(targets_by_node) if targets]
    for clip in clips:
        for node in animated:
            if tuple(targets_by_node[node]) != clip.targets:
                raise ValueError(f"clip {clip.name!r} animates other morph targets than "
                                 f"node {node} has")
        if not animated:
            raise ValueError(f"clip {clip.name!r}: no part has morph targets to animate")
        times = builder.accessor(clip.times.astype(np.float32), None, with_bounds=True)
        weights = builder.accessor(clip.weights.astype(np.float32).reshape(-1), None)
        samplers = [pygltflib.AnimationSampler(input=times, output=weights,
                                               interpolation="LINEAR")
                    for _ in animated]
        channels = [pygltflib.AnimationChannel(
            sampler=index, target=pygltflib.AnimationChannelTarget(node=node, path="weights"))
            for index, node in enumerate(animated)]
        extras = {"loops": clip.loops}
        builder.gltf.animations.append(pygltflib.Animation(
            name=clip.name, samplers=samplers, channels=channels, extras=extras))
