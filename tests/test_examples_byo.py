"""The bring-your-own-code examples: the marked lines are the whole integration (removing them
leaves a valid script), their counts meet the goals, and each project and round file is valid
with every command placeholder filled by its config."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunebook.core.command import CommandPipeline
from tunebook.core.spec import load_project, load_round

ROOT = Path(__file__).resolve().parent.parent / "examples"
GOALS = {"argparse": 10, "lightning": 5, "hf": 5}


@pytest.mark.parametrize("name", sorted(GOALS))
def test_integration_lines_meet_the_goal_and_are_the_whole_integration(name: str) -> None:
    text = (ROOT / name / "train.py").read_text()
    marked = [line for line in text.splitlines() if line.rstrip().endswith("# [tunebook]")]
    assert 1 <= len(marked) <= GOALS[name]
    plain = "\n".join(line for line in text.splitlines() if line not in marked)
    compile(plain, f"{name}/train.py without tunebook", "exec")  # still a valid script
    assert "tunebook" not in plain.split('"""', 2)[-1]  # no other tunebook line left


@pytest.mark.parametrize("name", [*sorted(GOALS), "charlm"])
def test_example_project_and_round_are_valid(name: str) -> None:
    project = load_project(ROOT / name / "tunebook.yaml")
    spec = load_round(ROOT / name / "round.yaml")
    if isinstance(project.pipeline, CommandPipeline):
        keys = set(project.baseline.config) | set(spec.params)
        project.pipeline.check_keys(keys)
