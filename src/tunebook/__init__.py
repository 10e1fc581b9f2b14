"""tunebook: the deep-learning tuning playbook as software.

The names a user types; everything else lives in modules by area.
"""

from tunebook.errors import SpecError, TrialDiverged, TunebookError
from tunebook.execute import run_round, worker_loop
from tunebook.rounds import create_round
from tunebook.run import Run
from tunebook.spec import ProjectSpec, RoundSpec, load_project, load_round
from tunebook.store import Store, open_store
from tunebook.trial import TrialRecord

__version__ = "0.1.0"

__all__ = [
    "ProjectSpec",
    "RoundSpec",
    "Run",
    "SpecError",
    "Store",
    "TrialDiverged",
    "TrialRecord",
    "TunebookError",
    "create_round",
    "load_project",
    "load_round",
    "open_store",
    "run_round",
    "worker_loop",
]
