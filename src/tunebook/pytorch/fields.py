"""Reading hyperparameters out of a trial config, with the project's one error formula.

Config values come from YAML, the searcher or the user; ``1e-4`` may arrive as a string (YAML
1.1) and booleans are ints in Python, so every number is coerced and checked here once.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import Any

from tunebook.core.errors import SpecError


def number(config: Mapping[str, Any], key: str, default: float | None = None, *,
           low: float | None = None, high: float | None = None, low_open: bool = False,
           high_open: bool = False, where: str = "config") -> float | None:
    """``config[key]`` as a finite float inside the bounds, else ``default`` when absent.

    >>> number({"lr": "1e-3"}, "lr", low=0, low_open=True)
    0.001
    """
    if key not in config or config[key] is None:
        return default
    raw = config[key]
    expected = _range_text(low, high, low_open, high_open)
    if isinstance(raw, bool):
        raise SpecError(f"{where}.{key}", expected, raw)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise SpecError(f"{where}.{key}", expected, raw) from None
    bad = not math.isfinite(value)
    if low is not None:
        bad |= value <= low if low_open else value < low
    if high is not None:
        bad |= value >= high if high_open else value > high
    if bad:
        raise SpecError(f"{where}.{key}", expected, raw)
    return value


def integer(config: Mapping[str, Any], key: str, default: int | None = None, *,
            low: int | None = None, where: str = "config") -> int | None:
    """``config[key]`` as an int >= ``low`` (``400.0`` is accepted, ``400.5`` is not)."""
    if key not in config or config[key] is None:
        return default
    raw = config[key]
    expected = "an integer" + (f" >= {low}" if low is not None else "")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise SpecError(f"{where}.{key}", expected, raw) from None
    if isinstance(raw, bool) or not value.is_integer() or (low is not None and value < low):
        raise SpecError(f"{where}.{key}", expected, raw)
    return int(value)


def choice(value: Any, options: Mapping[str, Any] | list[str], where: str) -> str:
    """``value`` lower-cased if it names one of ``options``; the error lists them all."""
    names = sorted(options)
    key = str(value).strip().lower()
    if key not in names:
        near = difflib.get_close_matches(key, names, n=1)
        hint = f"Did you mean '{near[0]}'?" if near else ""
        raise SpecError(where, f"one of {names}", value, hint)
    return key


def _range_text(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"a number {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"a number {'<' if high_open else '<='} {high:g}"
    return "a finite number"
