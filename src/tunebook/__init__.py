"""tunebook: the deep-learning tuning playbook as software.

The names a user types; everything else lives in modules by area. Names load lazily so that
``import tunebook.store`` (a worker, the CLI) does not pay for every module.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_NAMES = {
    "ProjectSpec": "tunebook.spec",
    "RoundSpec": "tunebook.spec",
    "load_project": "tunebook.spec",
    "load_round": "tunebook.spec",
    "Run": "tunebook.run",
    "SpecError": "tunebook.errors",
    "TrialDiverged": "tunebook.errors",
    "TunebookError": "tunebook.errors",
    "Store": "tunebook.store",
    "open_store": "tunebook.store",
    "TrialRecord": "tunebook.trial",
    "create_round": "tunebook.rounds",
    "run_round": "tunebook.execute",
    "worker_loop": "tunebook.execute",
    "analyze_round": "tunebook.analysis.overview",
}

__all__ = [
    "ProjectSpec",
    "RoundSpec",
    "Run",
    "SpecError",
    "Store",
    "TrialDiverged",
    "TrialRecord",
    "TunebookError",
    "analyze_round",
    "create_round",
    "load_project",
    "load_round",
    "open_store",
    "run_round",
    "worker_loop",
]

if TYPE_CHECKING:
    from tunebook.analysis.overview import analyze_round
    from tunebook.errors import SpecError, TrialDiverged, TunebookError
    from tunebook.execute import run_round, worker_loop
    from tunebook.rounds import create_round
    from tunebook.run import Run
    from tunebook.spec import ProjectSpec, RoundSpec, load_project, load_round
    from tunebook.store import Store, open_store
    from tunebook.trial import TrialRecord


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module 'tunebook' has no attribute {name!r}")
