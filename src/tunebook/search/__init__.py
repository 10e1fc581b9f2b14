"""Searchers by name. ``make_searcher("quasi_random", space, seed)``.

>>> from tunebook.core.space import Param, Space
>>> space = Space({"lr": Param(role="nuisance", type="float", low=1e-4, high=1e-1, scale="log")})
>>> s = make_searcher("quasi_random", space, seed=0)
>>> s.update([]); len(s.suggest(3))
3
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Literal

from tunebook.core.errors import SpecError
from tunebook.core.space import Space
from tunebook.search.base import Searcher, SearcherFactory, upfront
from tunebook.search.quasi_random import QuasiRandomSearcher, RandomSearcher, halton_points

# Built-in searchers by name. Heavier ones are named by module and attribute and imported on
# first use, so that ``import tunebook.search`` stays light and no searcher module imports back
# into this registry (the old self-registration made ``search`` <-> ``search.bayes`` a cycle).
_REGISTRY: dict[str, SearcherFactory | tuple[str, str]] = {
    "quasi_random": QuasiRandomSearcher,
    "random": RandomSearcher,
    "bayesian": ("tunebook.search.bayes", "BayesianSearcher"),
    "explore_exploit": ("tunebook.search.bayes", "ExploreExploitSearcher"),
}


def register(name: str, factory: SearcherFactory) -> None:
    """Add a searcher under ``name`` (a plugin's own searcher)."""
    _REGISTRY[name] = factory


def searcher_names() -> list[str]:
    return sorted(_REGISTRY)


def searcher_factory(name: str) -> SearcherFactory:
    """The registered factory of ``name``; an unknown name lists the known ones."""
    if name not in _REGISTRY:
        raise SpecError("algorithm", f"one of {sorted(_REGISTRY)}", name)
    entry = _REGISTRY[name]
    if isinstance(entry, tuple):
        module, attribute = entry
        factory: SearcherFactory = getattr(importlib.import_module(module), attribute)
        _REGISTRY[name] = entry = factory
    return entry


def make_searcher(name: str, space: Space, seed: int, *, goal: Literal["max", "min"] = "max",
                  budget: int | None = None) -> Searcher:
    """A searcher for one target group's ``space`` (``goal``: the score's direction)."""
    return searcher_factory(name)(space, seed, goal=goal, budget=budget)


@dataclass(frozen=True)
class SearcherInfo:
    """One registered searcher: its name, whether it adapts to results, and what it does."""

    name: str
    adaptive: bool
    summary: str
    default: bool


def searchers() -> list[SearcherInfo]:
    """Every registered searcher, the round default marked.

    >>> [s.name for s in searchers() if s.default]
    ['explore_exploit']
    """
    from tunebook.core.spec import RoundSpec

    default = RoundSpec.model_fields["algorithm"].default
    out = []
    for name in searcher_names():
        factory = searcher_factory(name)
        doc = (getattr(factory, "__doc__", None) or "").strip().splitlines()
        out.append(SearcherInfo(name, bool(getattr(factory, "adaptive", False)),
                                doc[0] if doc else "", name == default))
    return out


__all__ = ["Searcher", "SearcherInfo", "make_searcher", "register", "searcher_names",
           "searcher_factory", "searchers", "halton_points", "upfront"]
