"""Searchers by name. ``make_searcher("quasi_random", space, seed)``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from tunebook.errors import SpecError
from tunebook.search.base import Searcher
from tunebook.search.quasi_random import QuasiRandomSearcher, RandomSearcher, halton_points
from tunebook.space import Space

_REGISTRY: dict[str, Callable[[Space, int], Searcher]] = {
    "quasi_random": QuasiRandomSearcher,
    "random": RandomSearcher,
}


def register(name: str, factory: Callable[[Space, int], Searcher]) -> None:
    _REGISTRY[name] = factory


def searcher_names() -> list[str]:
    _load_optional()
    return sorted(_REGISTRY)


def make_searcher(name: str, space: Space, seed: int) -> Searcher:
    _load_optional()
    if name not in _REGISTRY:
        raise SpecError("algorithm", f"one of {sorted(_REGISTRY)}", name)
    return _REGISTRY[name](space, seed)


def _load_optional() -> None:
    # Searchers that import heavier libraries register themselves when their module loads.
    with contextlib.suppress(ImportError):
        import tunebook.search.bayes  # noqa: F401


__all__ = ["Searcher", "make_searcher", "register", "searcher_names", "halton_points"]
