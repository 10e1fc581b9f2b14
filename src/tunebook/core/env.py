"""Numbers read from environment variables, checked like any other user input.

A variable is read when it is used, not at import: a bad value is one clear error from the
command that needs it, never a traceback from importing tunebook.
"""

from __future__ import annotations

import math
import os

from tunebook.core.errors import SpecError


def env_number(name: str, default: float, *, low: float, high: float,
               integer: bool = False, unit: str = "") -> float:
    """``$name`` as a number in ``[low, high]`` (``default`` when unset or empty)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    what = f"an integer between {low:g} and {high:g}" if integer else \
        f"a number between {low:g} and {high:g}{unit}"
    try:
        value = float(int(raw)) if integer else float(raw)
    except ValueError:
        raise SpecError(f"${name}", what, raw) from None
    if not math.isfinite(value) or not low <= value <= high:
        raise SpecError(f"${name}", what, raw)
    return value
