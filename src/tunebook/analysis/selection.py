"""Which trial an analysis looks at: one named by id, a round's best, or the current baseline.

Each lookup fails with a message that says what is missing and which command produces it, so
``tunebook diagnose``, ``errors``, ``promote`` and ``stability`` all refuse bad input the same way.
"""

from __future__ import annotations

from tunebook.core.errors import NotFoundError, SpecError
from tunebook.core.trial import TrialRecord
from tunebook.experiments.baseline import current_baseline
from tunebook.rounds.lifecycle import ranked
from tunebook.store import Store


def trial_by_id(store: Store, trial_id: int) -> TrialRecord:
    """The trial with this id, or an error that says how to list trial ids.

    >>> trial_by_id(store, 3).id  # doctest: +SKIP
    3
    """
    try:
        return store.trial(trial_id)
    except NotFoundError:
        raise NotFoundError(f"trial {trial_id} is not in the store. `tunebook trials ROUND` "
                            "lists the trial ids of a round; `tunebook round list` the rounds."
                            ) from None


def best_of_round(store: Store, round_name: str) -> TrialRecord:
    """The round's best feasible completed trial (its answer).

    >>> best_of_round(store, "width").score  # doctest: +SKIP
    0.97
    """
    record = store.round(round_name)  # NotFoundError names the known rounds
    for t in ranked(store, record):
        if t.status == "completed" and t.feasible and t.score is not None:
            return t
    counts = store.counts(record.id)
    raise SpecError(f"round {round_name}", "at least one completed, feasible trial",
                    counts or "no trials",
                    f"Run it first: tunebook round run {round_name}; or pass --trial ID.")


def trial_in_round(store: Store, round_name: str, trial_id: int | None) -> TrialRecord:
    """``--trial ID`` (which must belong to the round) or else the round's best trial."""
    if trial_id is None:
        return best_of_round(store, round_name)
    record = store.round(round_name)
    trial = trial_by_id(store, trial_id)
    if trial.round_id != record.id:
        raise SpecError("--trial", f"a trial of round {round_name}",
                        f"trial {trial_id} of round {trial.round}",
                        f"Name its round instead: {trial.round}.")
    return trial


def baseline_trial(store: Store) -> TrialRecord:
    """The trial behind the current baseline (the latest baseline or promotion decision)."""
    base = current_baseline(store)
    if base is None:
        raise NotFoundError("no baseline is recorded in this store. Run `tunebook baseline` "
                            "first, or name a trial (--trial ID) or a round (--round NAME).")
    return trial_by_id(store, base.trial_id)


def pick_trial(store: Store, trial_id: int | None = None,
               round_name: str | None = None) -> TrialRecord:
    """``--trial`` wins, then ``--round`` (its best trial), then the current baseline."""
    if trial_id is not None and round_name is not None:
        return trial_in_round(store, round_name, trial_id)
    if trial_id is not None:
        return trial_by_id(store, trial_id)
    if round_name is not None:
        return best_of_round(store, round_name)
    return baseline_trial(store)


def fresh_round_name(store: Store, base: str) -> str:
    """``base``, or ``base-2``, ``base-3``... : a round name not yet used in the store."""
    taken = {r.name for r in store.rounds()}
    name, k = base, 2
    while name in taken:
        name, k = f"{base}-{k}", k + 1
    return name
