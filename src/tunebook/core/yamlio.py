"""YAML reading that treats ``1e-4`` as a number (YAML 1.1 reads it as a string)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tunebook.core.errors import SpecError


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key: Any, line: int) -> None:
        super().__init__(f"duplicate key {key!r} on line {line}")
        self.key, self.line = key, line


class _Loader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # PyYAML keeps the last of two equal keys without a word; in a round that silently drops
        # one of two roles given to the same hyperparameter, so a repeated key is an error.
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                if key in seen:
                    raise _DuplicateKey(key, key_node.start_mark.line + 1)
                seen.add(key)
            except TypeError:  # an unhashable key: PyYAML reports it itself
                continue
        return super().construct_mapping(node, deep=deep)


# YAML 1.2's float pattern: accepts 1e-4, 1E5 and .5 which PyYAML's 1.1 resolver leaves as strings.
_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


# A spec is small. PyYAML builds an alias as a shared reference, so a "billion laughs" document
# loads quickly and explodes later (JSON in the store, pydantic, the report): the values a
# document stands for, counted with every alias expanded, are bounded here.
MAX_VALUES = 100_000


class _TooBig(yaml.YAMLError):
    pass


def _expanded_size(root: Any) -> int:
    """How many values ``root`` holds once every alias is expanded (stops past MAX_VALUES)."""
    memo: dict[int, int] = {}
    on_path: set[int] = set()

    def size(x: Any) -> int:
        if not isinstance(x, dict | list):
            return 1
        key = id(x)
        if key in memo:
            return memo[key]
        if key in on_path:  # an alias inside its own anchor: infinitely large
            raise _TooBig("a value that contains itself")
        on_path.add(key)
        items = list(x.keys()) + list(x.values()) if isinstance(x, dict) else x
        total = 1
        for item in items:
            total += size(item)
            if total > MAX_VALUES:
                raise _TooBig(f"more than {MAX_VALUES:,} values once aliases are expanded")
        on_path.discard(key)
        memo[key] = total
        return total

    return size(root)


def _load(text: str) -> Any:
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506
        _expanded_size(data)
    except RecursionError:
        raise _TooBig("values nested too deeply") from None
    return data


def load_yaml(path: str | Path) -> Any:
    """Read one YAML document; a syntax error names the file and line."""
    p = Path(path)
    if not p.exists():
        raise SpecError(str(p), "an existing YAML file", "no such file")
    try:
        return _load(p.read_text(encoding="utf-8"))
    except _TooBig as exc:
        raise SpecError(str(p), "a YAML spec of reasonable size", str(exc),
                        "Aliases (*name) that repeat large parts multiply the document.") from None
    except _DuplicateKey as exc:
        raise SpecError(f"{p}: line {exc.line}", "each key once per mapping", exc.key,
                        "A repeated key keeps only its last value (a hyperparameter has one "
                        "role); remove or rename one.") from exc
    except yaml.YAMLError as exc:
        detail = str(exc).replace("\n", " ")
        raise SpecError(str(p), "valid YAML", "a syntax error", detail) from exc


def loads_yaml(text: str) -> Any:
    try:
        return _load(text)
    except _TooBig as exc:
        raise SpecError("YAML text", "a YAML spec of reasonable size", str(exc)) from None


def dump_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False)
