"""tunebook: the deep-learning tuning playbook as software.

The names a user types; everything else lives in modules by area. Names load lazily so that
``import tunebook.store`` (a worker, the CLI) does not pay for every module.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_NAMES = {
    "ProjectSpec": "tunebook.core.spec",
    "RoundSpec": "tunebook.core.spec",
    "load_project": "tunebook.core.spec",
    "load_round": "tunebook.core.spec",
    "Run": "tunebook.workers.run",
    "SpecError": "tunebook.core.errors",
    "TrialDiverged": "tunebook.core.errors",
    "TunebookError": "tunebook.core.errors",
    "Store": "tunebook.store",
    "open_store": "tunebook.store",
    "TrialRecord": "tunebook.core.trial",
    "create_round": "tunebook.rounds.lifecycle",
    "run_round": "tunebook.workers.execute",
    "worker_loop": "tunebook.workers.execute",
    "analyze_round": "tunebook.analysis.overview",
    "report": "tunebook.workers.client",
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
    "report",
    "run_round",
    "worker_loop",
]

if TYPE_CHECKING:
    from tunebook.analysis.overview import analyze_round
    from tunebook.core.errors import SpecError, TrialDiverged, TunebookError
    from tunebook.core.spec import ProjectSpec, RoundSpec, load_project, load_round
    from tunebook.core.trial import TrialRecord
    from tunebook.rounds.lifecycle import create_round
    from tunebook.store import Store, open_store
    from tunebook.workers.client import report
    from tunebook.workers.execute import run_round, worker_loop
    from tunebook.workers.run import Run


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module 'tunebook' has no attribute {name!r}")
