"""What text the library accepts: valid Unicode that can be written as UTF-8.

A Python string can hold code points that no file, tokenizer or JSON writer downstream can
take (a lone surrogate fails at the first UTF-8 encode, after a whole run). Prompts are
checked against this before any work starts.
"""

from __future__ import annotations

import unicodedata

ALLOWED_CONTROLS = "\t\n\r"


def invalid_code_point(text: str) -> str | None:
    """None if `text` is acceptable, else a description of its first bad code point: a lone
    surrogate, a noncharacter (U+FDD0..U+FDEF, U+xxFFFE, U+xxFFFF) or a control character
    other than tab, newline and carriage return."""
    for index, char in enumerate(text):
        point = ord(char)
        if 0xD800 <= point <= 0xDFFF:
            kind = "a lone surrogate"
        elif 0xFDD0 <= point <= 0xFDEF or point & 0xFFFE == 0xFFFE:
            kind = "a noncharacter"
        elif unicodedata.category(char) == "Cc" and char not in ALLOWED_CONTROLS:
            kind = "a control character"
        else:
            continue
        return f"{kind} (U+{point:04X}) at character {index + 1}"
    return None


def check_text(label: str, text: str) -> None:
    """ValueError naming `label` when `text` holds a code point that cannot be accepted."""
    problem = invalid_code_point(text)
    if problem is not None:
        raise ValueError(f"{label} contains {problem}; only valid Unicode text is accepted")
