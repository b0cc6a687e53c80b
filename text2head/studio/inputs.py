"""The checks every value sent to the studio passes before anything touches a session.

Each check names the input by its label and says what is allowed, so a person calling the API
by hand learns exactly what to change. A failed check raises `InputError`, which the app turns
into the message its caller sees.
"""

from __future__ import annotations

import math

from text2head.text import check_text as check_unicode

MAX_TEXT = 2000  # characters of a prompt or other text input


class InputError(ValueError):
    """A value sent to the studio that it does not accept."""


def describe(value: object) -> str:
    """A short description of a bad value, with its type when that is the problem."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    shown = repr(value)
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{shown} (a {type(value).__name__})"
    return shown


def _span(low: float, high: float) -> str:
    return f"from {low:g} to {high:g}" if max(abs(low), abs(high)) < 1e15 else \
        f"from {int(low)} to {int(high)}"


def check_number(label: str, value: object, low: float, high: float,
                 whole: bool = False) -> None:
    """A finite number in [low, high] (a whole number if `whole`)."""
    kind = "a whole number" if whole else "a number"
    wanted = f"{label} must be {kind} {_span(low, high)}; got "
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(wanted + describe(value))
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(wanted + describe(value))
    if whole and value != int(value):
        raise InputError(wanted + describe(value))
    if not low <= value <= high:
        raise InputError(wanted + describe(value))


def check_text(label: str, value: object, limit: int = MAX_TEXT) -> None:
    """A string (or nothing) of at most `limit` characters of valid Unicode (no lone
    surrogate, noncharacter or control character but tab and newlines)."""
    if value is None:
        return
    if not isinstance(value, str):
        raise InputError(f"{label} must be text; got {describe(value)}")
    if len(value) > limit:
        raise InputError(f"{label} is {len(value)} characters long; at most {limit} are "
                         "accepted")
    try:
        check_unicode(label, value)
    except ValueError as error:
        raise InputError(str(error)) from None


def check_choice(label: str, value: object, choices: list) -> None:
    """One of the listed choices."""
    if value not in choices:
        listed = ", ".join(map(str, choices[:12])) + (", …" if len(choices) > 12 else "")
        raise InputError(f"{label} must be one of {listed}; got {describe(value)}")


def check_flag(label: str, value: object) -> None:
    if not isinstance(value, bool):
        raise InputError(f"{label} must be true or false; got {describe(value)}")


def check_count(endpoint: str, labels: list[str], values: list) -> None:
    """Exactly one value per input of the endpoint, named in order when they differ."""
    if len(values) == len(labels):
        return
    if not labels:
        raise InputError(f"{endpoint} takes no inputs; got {len(values)}")
    shown = ", ".join(labels[:8]) + (f", … ({len(labels)} in all)" if len(labels) > 8 else "")
    raise InputError(f"{endpoint} takes {len(labels)} input(s) ({shown}); got {len(values)}")
