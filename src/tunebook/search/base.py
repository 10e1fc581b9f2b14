"""The searcher interface: ``update(trials)`` then ``suggest(n)``, with tiny state.

A searcher proposes values for a round's nuisance hyperparameters within one target group.
Its state is rebuilt from the store by ``update``, so a resumed round gives the same
continuation as an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from tunebook.space import Space
from tunebook.trial import TrialRecord


class Searcher(Protocol):
    name: str
    adaptive: bool

    def update(self, trials: Sequence[TrialRecord]) -> None:
        """Tell the searcher every trial of its group so far, finished or not."""

    def suggest(self, n: int) -> list[dict[str, Any]]:
        """``n`` nuisance configs (name -> value), distinct from each other."""
        ...


class SearcherFactory(Protocol):
    def __call__(self, space: Space, seed: int) -> Searcher: ...
