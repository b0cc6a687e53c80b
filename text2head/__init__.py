"""text2head: text prompt to textured, animatable 3D human head.

`text2head.generate(prompt, out=...)` and `text2head.edit(params, instruction, out=...)` are
the two-line API (see `text2head.api`); they are imported on first use so that importing the
head model alone stays light.
"""

__version__ = "0.1.0"
_API = ("generate", "edit", "prepare", "finish")


def __getattr__(name: str):
    if name in _API:
        from text2head import api

        return getattr(api, name)
    raise AttributeError(f"module 'text2head' has no attribute {name!r}")
