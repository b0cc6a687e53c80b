"""The seeds every command, run and page accepts."""

from __future__ import annotations

MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed takes a signed 64-bit integer


def check_seed(seed: int, count: int = 1) -> int:
    """`seed` if it and the `count - 1` seeds after it (a candidate per seed) are whole numbers
    from 0 to MAX_SEED, else ValueError naming the range (torch's own message for a seed past
    it was "Overflow when unpacking long long")."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED - (
            count - 1):
        last = "" if count == 1 else f" (and the {count - 1} after it)"
        raise ValueError(f"seed{last} must be a whole number from 0 to {MAX_SEED}, got {seed!r}")
    return seed
