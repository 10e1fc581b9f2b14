"""The one conversion of values to plain JSON: what the store writes, ``--json`` prints and the
agent tools answer.

Dataclasses and pydantic models become objects, tuples and sets lists, NumPy scalars and arrays
numbers and lists; non-finite floats become None (JSON has no Infinity/NaN, and PostgreSQL's
JSON refuses them); anything else becomes its ``str``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any


def to_jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON values.

    >>> import dataclasses
    >>> @dataclasses.dataclass
    ... class P:
    ...     x: float
    ...     tags: tuple[str, ...]
    >>> to_jsonable({"p": P(float("nan"), ("a",)), 1: {2.5}})
    {'p': {'x': None, 'tags': ['a']}, '1': [2.5]}
    """
    # The common leaves first: a 10,000-row dashboard table is mostly these.
    kind = type(obj)
    if kind is str or kind is int or kind is bool or obj is None:
        return obj
    if kind is float:
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        # Field by field: dataclasses.asdict deep-copies every value before the walk.
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if hasattr(obj, "model_dump") and not isinstance(obj, type):
        return to_jsonable(obj.model_dump(mode="json"))
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, str | int | bool):
        return obj
    item = getattr(obj, "item", None)  # NumPy (and torch) scalars
    if callable(item) and getattr(obj, "ndim", 0) == 0:
        return to_jsonable(item())
    tolist = getattr(obj, "tolist", None)  # NumPy arrays
    if callable(tolist):
        return to_jsonable(tolist())
    return str(obj)
