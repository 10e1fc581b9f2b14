"""``tunebook export ROUND --to optuna|mlflow|tensorboard WHERE``: one entry for the CLI."""

from __future__ import annotations

import os

from tunebook.core.errors import SpecError
from tunebook.interop.dump import Exported, read_round
from tunebook.store import Store

TARGETS = ("optuna", "mlflow", "tensorboard")


def export_to(store: Store, round_name: str, to: str, where: str | None,
              name: str | None = None) -> Exported:
    """Export a round to a peer; ``where`` is always the user's choice, never a default path."""
    if to not in TARGETS:
        raise SpecError("--to", f"one of {list(TARGETS)}", to)
    if to == "mlflow":
        where = where or os.environ.get("MLFLOW_TRACKING_URI")
    if not where:
        what = {"optuna": "an Optuna storage URL (e.g. sqlite:///optuna.db)",
                "mlflow": "a tracking URI (or $MLFLOW_TRACKING_URI), e.g. sqlite:///mlflow.db",
                "tensorboard": "a folder for the event files"}[to]
        raise SpecError(f"export --to {to}", what, None,
                        "tunebook writes outside the project only where you name it.")
    dump = read_round(store, round_name)
    if to == "optuna":
        from tunebook.interop.optuna_study import export_optuna

        return export_optuna(dump, where, name)
    if to == "mlflow":
        from tunebook.interop.mlflow_runs import export_mlflow

        return export_mlflow(dump, where, name)
    from tunebook.interop.tensorboard_events import export_tensorboard

    return export_tensorboard(dump, where)
