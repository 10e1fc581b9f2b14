"""``tunebook init``: start a project in an empty folder, or beside code that already exists.

An empty folder gets the digits example (tunebook.yaml, round.yaml, train.py, prepare.py). A
folder with the user's own Python files gets only ``tunebook.yaml`` (a command pipeline that
runs their script) and ``round.yaml``. A user's file is never written: init lists what it
would touch and refuses while either of its two files exists; ``force`` replaces only those
two (and example files still identical to the shipped ones), never a file the user wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tunebook.core.errors import SpecError
from tunebook.demo import EXAMPLE_FILES
from tunebook.runbook.checklist.setup import PLACEHOLDER_GOAL, PLACEHOLDER_SUCCESS

OWN_FILES = ("tunebook.yaml", "round.yaml")
SCRIPT_NAMES = ("train.py", "main.py", "run.py", "fit.py")

PROJECT_TEMPLATE = """\
# tunebook project, written beside your code by `tunebook init`. Edit the lines marked EDIT,
# then: tunebook validate round.yaml && tunebook baseline && tunebook round new round.yaml
name: {name}
task:
  type: classification  # EDIT: classification | regression | detection | sequence | other
  goal: "{goal}"
  success: "{success}"
metrics:  # EDIT: what your script reports (dev_accuracy -> dev/accuracy)
  - {{name: accuracy, split: dev, goal: max}}
  - {{name: loss, split: train, goal: min}}
score: dev/accuracy
# Your script runs once per trial with the trial's config rendered into its command line
# (split like a shell would, never run by one). It reports with two lines:
#   from tunebook import report
#   report(step, dev_accuracy=acc, train_loss=loss)
# or by printing JSON lines such as {{"step": 10, "dev_accuracy": 0.9}}.
# Hydra-style scripts: add `config_file: yaml` and pass {{config_file}} instead.
pipeline:
  command: python {script} --lr {{lr}} --epochs {{epochs}}  # EDIT: your script's flags
eval_every: 1  # your script's steps (epochs here) between evaluations
baseline:
  config: {{lr: 0.001, epochs: 10}}  # EDIT: every value the command uses
"""

ROUND_TEMPLATE = """\
# A first round: the learning rate, the hyperparameter most worth tuning first.
name: lr
question: Which learning rate trains best at the baseline's other settings?
algorithm: quasi_random
budget: 8
params:
  lr: {role: nuisance, type: float, low: 1.0e-4, high: 1.0e-1, scale: log}
"""


@dataclass(frozen=True)
class InitPlan:
    """What ``tunebook init`` would do in a folder."""

    folder: Path
    mode: str  # "example" (an empty folder) or "beside-code"
    write: tuple[str, ...]
    existing: tuple[str, ...]  # of those, the files that already exist
    user_files: tuple[str, ...]  # the user's Python files, never written
    script: str | None  # the script the command pipeline runs (beside-code)


def _example_text(name: str) -> str:
    return (resources.files("tunebook") / "examples" / "digits" / name).read_text(
        encoding="utf-8")


def plan_init(folder: Path) -> InitPlan:
    py = sorted(p.name for p in folder.glob("*.py")) if folder.is_dir() else []
    # An example file still identical to the shipped one is tunebook's, not the user's.
    user = tuple(n for n in py if not (n in EXAMPLE_FILES and
                                       (folder / n).read_text(errors="replace")
                                       == _example_text(n)))
    if user:
        script = next((n for n in SCRIPT_NAMES if n in user), user[0])
        write: tuple[str, ...] = OWN_FILES
        mode = "beside-code"
    else:
        script, write, mode = None, tuple(EXAMPLE_FILES), "example"
    existing = tuple(n for n in write if (folder / n).exists())
    return InitPlan(folder, mode, write, existing, user, script)


def run_init(folder: Path, force: bool = False) -> InitPlan:
    """Write the plan's files; refuse (before writing any) while one of them exists."""
    plan = plan_init(folder)
    if plan.existing and not force:
        raise SpecError(str(folder), "a folder without " + " and ".join(plan.existing),
                        "existing " + ", ".join(plan.existing),
                        f"init would write {', '.join(plan.write)}. Pass --force to replace "
                        "tunebook's own files; your code is never written.")
    folder.mkdir(parents=True, exist_ok=True)
    for name in plan.write:
        if name in plan.user_files:  # defence in depth: a user's file is never written
            continue
        if plan.mode == "example":
            text = _example_text(name)
            if name == "tunebook.yaml":
                text = _template_goal(text)
        elif name == "tunebook.yaml":
            text = PROJECT_TEMPLATE.format(name=_project_name(folder), script=plan.script,
                                           goal=PLACEHOLDER_GOAL, success=PLACEHOLDER_SUCCESS)
        else:
            text = ROUND_TEMPLATE
        (folder / name).write_text(text, encoding="utf-8")
    return plan


def _project_name(folder: Path) -> str:
    name = "".join(c if c.isalnum() or c in "-_" else "-" for c in folder.resolve().name)
    return name.strip("-") or "project"


def _template_goal(text: str) -> str:
    """The example's goal and success lines become placeholders: an init'ed project's goal is
    the user's to state, and the checklist does not tick a placeholder."""
    out = []
    for line in text.splitlines(keepends=True):
        head = line.split(":", 1)[0]
        if head == "  goal":
            line = f'  goal: "{PLACEHOLDER_GOAL}"\n'
        elif head == "  success":
            line = f'  success: "{PLACEHOLDER_SUCCESS}"\n'
        out.append(line)
    return "".join(out)
