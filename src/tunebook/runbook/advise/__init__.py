"""The runbook (checklist section 7) as code: proposals from a task or from a project's results.

``advise_task`` covers runbook steps 1-3 (task type and goal, metrics, splits, a baseline to
train); ``advise_project`` steps 4-9 (the bottleneck, whether to promote, the next round written
as a ready-to-run round file). Every proposal names its rule (:data:`RULES`, each citing the
checklist or the tuning playbook) and the evidence it was applied to.
"""

from tunebook.runbook.advise.project import Bottleneck, ProjectAdvice, advise_project
from tunebook.runbook.advise.roundfile import RoundProposal, write_round
from tunebook.runbook.advise.rules import RULES, Proposal, Rule
from tunebook.runbook.advise.task import (
           TaskAdvice,
           TaskDescription,
           advise_task,
           parse_task,
           read_task,
)

__all__ = ["RULES", "Bottleneck", "ProjectAdvice", "Proposal", "RoundProposal", "Rule",
           "TaskAdvice", "TaskDescription", "advise_project", "advise_task", "parse_task",
           "read_task", "write_round"]
