"""The checklist's items, each with the rule that derives its status from evidence.

An item's id mirrors its place in the checklist (``/work/shared/checklist.md``, shipped as
``docs/checklist.md``): section number, then a short name, e.g. ``2.4.better_than_chance``. A rule
reads :class:`~tunebook.runbook.evidence.Evidence` and
returns a :class:`Verdict`; it never ticks a box
without naming what shows it (a trial, round, decision, number or file). Items that need a human
judgment (``judgment=True``) are answered in ``tunebook.yaml``'s ``notes`` or with
``tunebook note ITEM "text"``; such an answer is shown as a note, not as measured evidence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from tunebook.runbook.evidence import Evidence

Status = Literal["done", "not_done", "not_applicable"]
Source = Literal["evidence", "spec", "note", "none"]
STATUSES: tuple[Status, ...] = ("done", "not_done", "not_applicable")

SECTIONS: dict[str, str] = {
    "0": "Project prerequisites",
    "1.1": "Evaluation metric",
    "1.2": "Data splits",
    "2.1": "Architecture",
    "2.2": "Optimizer",
    "2.3": "Batch size",
    "2.4": "Baseline training run",
    "3.1": "Define the round goal",
    "3.2": "Design the study",
    "3.3": "Run & analyze",
    "3.4": "Decide baseline update",
    "4.1": "Bias / variance / mismatch",
    "4.2": "Label quality",
    "4.3": "Transfer learning & end-to-end",
    "5.1": "Training steps",
    "5.2": "Stability (gate before massive tuning)",
    "6.1": "Input pipeline & performance",
    "6.2": "Evaluation & checkpoints",
    "6.3": "Experiment tracking",
    "6.4": "Multi-host / multi-device",
    "7": "Quick runbook for an LLM / agent",
}


@dataclass(frozen=True)
class Verdict:
    """What a rule found: a status, the evidence, and what to do next when not done."""

    status: Status
    evidence: list[str] = field(default_factory=list)
    detail: str = ""
    next: str | None = None
    source: Source = "evidence"


Rule = Callable[[Evidence], Verdict]


@dataclass(frozen=True)
class Item:
    id: str
    section: str
    text: str
    judgment: bool
    rule: Rule


ITEMS: dict[str, Item] = {}


def item(item_id: str, text: str, judgment: bool = False) -> Callable[[Rule], Rule]:
    """Register ``rule`` as the status of checklist item ``item_id`` (in checklist order)."""
    section = item_id.rsplit(".", 1)[0]
    if section not in SECTIONS:
        raise ValueError(f"item {item_id!r}: unknown section {section!r}")

    def register(rule: Rule) -> Rule:
        if item_id in ITEMS:
            raise ValueError(f"checklist item {item_id!r} registered twice")
        ITEMS[item_id] = Item(item_id, section, text, judgment, rule)
        return rule

    return register


def done(*evidence: str, detail: str = "", source: Source = "evidence") -> Verdict:
    return Verdict("done", [e for e in evidence if e], detail, None, source)


def todo(next_step: str, detail: str = "", *evidence: str) -> Verdict:
    return Verdict("not_done", [e for e in evidence if e], detail, next_step, "none")


def not_applicable(why: str, *evidence: str, source: Source = "evidence") -> Verdict:
    return Verdict("not_applicable", [e for e in evidence if e], why, None, source)


NA_PREFIXES = ("n/a", "na:", "not applicable", "none needed", "no need")


def from_note(ev: Evidence, item_id: str) -> Verdict | None:
    """A human answer recorded for the item, if any: 'n/a ...' marks it not applicable."""
    found = ev.notes.get(item_id)
    if found is None:
        return None
    text, where = found
    if text.strip().lower().startswith(NA_PREFIXES):
        return not_applicable(text, where, source="note")
    return done(where, detail=text, source="note")


def note_hint(item_id: str, example: str) -> str:
    return f'tunebook note {item_id} "{example}"'
