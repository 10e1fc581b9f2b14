"""Work with what teams already have: export rounds to Optuna, MLflow and TensorBoard, and
import Optuna studies and MLflow / W&B run tables as rounds.

Sits at the runbook layer: it reads the store and rounds (never the other way round). The
peers are imported lazily, so ``import tunebook`` does not pay for them; a missing one names
the extra to install (``pip install 'tunebook[interop]'``; Optuna is a core dependency).
"""

from tunebook.interop.dump import Exported, RoundDump, read_round
from tunebook.interop.importer import Imported, ImportedTrial, Roles

__all__ = ["Exported", "Imported", "ImportedTrial", "RoundDump", "Roles", "read_round"]
