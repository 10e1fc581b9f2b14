"""Plain JSON from tunebook's typed results: dataclasses, pydantic models, numpy values.

One conversion for every place that answers in JSON (the CLI's ``--json``, the agent tools, the
MCP server), so they print the same document for the same result. Non-finite floats become
null, as in the store's JSON columns.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any


def to_jsonable(obj: Any) -> Any:
    """``obj`` as JSON-ready values.

    >>> to_jsonable({"a": float("nan"), 1: (2, 3)})
    {'a': None, '1': [2, 3]}
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if hasattr(obj, "model_dump"):
        return to_jsonable(obj.model_dump(mode="json"))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return to_jsonable(obj.item())
    if hasattr(obj, "tolist") and callable(obj.tolist):  # numpy arrays
        return to_jsonable(obj.tolist())
    if obj is None or isinstance(obj, str | int | bool):
        return obj
    return str(obj)
