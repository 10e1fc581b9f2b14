"""A proposed round as a ready-to-run round file, with a preview of its first trial configs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tunebook.core.spec import ProjectSpec, RoundSpec, parse_round
from tunebook.rounds.lifecycle import group_items, group_searcher
from tunebook.runbook.advise.rules import Proposal
from tunebook.search import make_searcher
from tunebook.store.files import atomic_write

PREVIEW_PER_GROUP = 2

# The first line of every round file advise writes: only such a file may be overwritten.
PROPOSED_MARK = "# Proposed by tunebook advise."


@dataclass(frozen=True)
class RoundProposal:
    """The next round: one question, roles and ranges, budget, and why each piece."""

    name: str
    question: str
    algorithm: str
    budget: int
    seed: int
    max_train_steps: int | None
    params: dict[str, dict[str, Any]]
    total_trials: int
    yaml: str
    preview: list[dict[str, Any]]        # the first configs the round will queue per group
    rules: list[Proposal] = field(default_factory=list)


def unique_name(stem: str, taken: set[str]) -> str:
    name, k = stem, 2
    while name in taken:
        name, k = f"{stem}-{k}", k + 1
    return name


def build_round(project: ProjectSpec, name: str, question: str, params: dict[str, Any],
                budget: int, algorithm: str, seed: int, rules: list[Proposal],
                max_train_steps: int | None = None) -> RoundProposal:
    """Validate the round as ``tunebook round new`` would and render its YAML and preview."""
    doc: dict[str, Any] = {"name": name, "question": question, "algorithm": algorithm,
                           "budget": budget, "seed": seed}
    if max_train_steps is not None:
        doc["max_train_steps"] = max_train_steps
    doc["params"] = params
    spec = parse_round(doc, f"proposed round {name}")
    make_searcher(spec.algorithm, spec.space, spec.seed)  # an unknown algorithm fails here
    header = [f"{PROPOSED_MARK} Question: {question}"]
    header += [f"# - {p.topic}: {p.why} [rule {p.rule}; {p.source}]" for p in rules]
    text = "\n".join(header) + "\n" + yaml.safe_dump(doc, sort_keys=False)
    return RoundProposal(name, question, algorithm, budget, seed, max_train_steps, params,
                         spec.total_trials, text, preview(project, spec), rules)


def preview(project: ProjectSpec, spec: RoundSpec,
            per_group: int = PREVIEW_PER_GROUP) -> list[dict[str, Any]]:
    """The configs the round will queue first in each target group (nothing is stored).

    Built by the round's own rule (``rounds.lifecycle.group_items``), so each previewed config
    is exactly one that ``tunebook round new`` queues.
    """
    out: list[dict[str, Any]] = []
    for group in spec.space.target_groups():
        searcher = group_searcher(project, spec, group)
        searcher.update([])
        points = searcher.suggest(min(per_group, spec.budget))
        out += [{"group": item["group"], "config": item["config"]}
                for item in group_items(project, spec, group, points, 0)]
    return out


def write_round(proposal: RoundProposal, path: str | Path) -> str:
    """Write the round file atomically; returns its path."""
    atomic_write(path, proposal.yaml.encode("utf-8"))
    return str(path)
