"""3D-printable busts: a head's parts -> one watertight solid on a plinth -> STL / 3MF.

```python
from text2head.printing import PrintOptions, print_head
files = print_head(model, head, "out", PrintOptions(height_mm=120))  # head_print.stl/.3mf
```
"""

from __future__ import annotations

from collections.abc import Sequence

from text2head.io import PathLike
from text2head.printing.bust import Bust, PrintOptions, Progress, make_bust
from text2head.printing.files import FORMATS, write_bust
from text2head.printing.parts import DROPPED_PARTS, bust_parts

__all__ = ["DROPPED_PARTS", "FORMATS", "Bust", "PrintOptions", "Progress", "bust_parts",
           "make_bust", "print_head", "write_bust"]


def print_head(model, head, out_dir: PathLike, options: PrintOptions | None = None, *,
               stem: str = "head_print", formats: Sequence[str] = FORMATS,
               progress: Progress | None = None) -> dict:
    """Make the bust of `head` and write it into `out_dir`; returns the paths by format."""
    bust = make_bust(bust_parts(model, head), options, progress)
    return write_bust(bust, out_dir, stem, formats)
