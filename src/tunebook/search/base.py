"""The searcher interface: ``update(trials)`` then ``suggest(n)``, with tiny state.

A searcher proposes values for a round's nuisance hyperparameters within one target group.
Its state is rebuilt from the store by ``update``, so a resumed round gives the same
continuation as an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol

from tunebook.core.space import Space
from tunebook.core.trial import TrialRecord


class Searcher(Protocol):
    name: str
    adaptive: bool

    def update(self, trials: Sequence[TrialRecord]) -> None:
        """Tell the searcher every trial of its group so far, finished or not."""

    def suggest(self, n: int) -> list[dict[str, Any]]:
        """``n`` nuisance configs (name -> value), distinct from each other."""
        ...


class SearcherFactory(Protocol):
    """Builds a searcher for one target group.

    ``goal`` is the direction of the round's score and ``budget`` its trials per group; searchers
    that do not use them accept and ignore them.
    """

    def __call__(self, space: Space, seed: int, *, goal: Literal["max", "min"] = "max",
                 budget: int | None = None) -> Searcher: ...


def upfront(searcher: Searcher) -> int:
    """How many next suggestions of an adaptive searcher do not depend on results yet.

    An explore-exploit searcher still in its quasi-random start can queue that many trials at
    once; a purely adaptive one answers 0.
    """
    return int(getattr(searcher, "upfront", 0))
