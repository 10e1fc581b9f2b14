"""Data you can trust: recorded splits, a data report, and a train/dev mismatch check.

The names a user types::

    from tunebook.data import split_project, load_split, split_arrays, domain_auc
    split_project(".")                       # tunebook data split
    dev = load_split(".", "dev")             # in train(config, run): the dev rows
"""

from tunebook.data.membership import DataChanged, NoSplits
from tunebook.data.mismatch import MismatchResult, domain_auc, mismatch_project
from tunebook.data.project import (
    SplitOutcome,
    load_split,
    load_splits,
    split_arrays,
    split_ids,
    split_project,
)
from tunebook.data.report import DataReport, data_report, report_project
from tunebook.data.split import Assignment, assign
from tunebook.data.table import Columns, read_table

__all__ = [
    "Assignment",
    "Columns",
    "DataChanged",
    "DataReport",
    "MismatchResult",
    "NoSplits",
    "SplitOutcome",
    "assign",
    "data_report",
    "domain_auc",
    "load_split",
    "load_splits",
    "mismatch_project",
    "read_table",
    "report_project",
    "split_arrays",
    "split_ids",
    "split_project",
]
