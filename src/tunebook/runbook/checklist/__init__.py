"""The checklist as the interface: every item, its status derived from evidence, what to do next.

>>> cl = checklist(project, project_dir, store)                  # doctest: +SKIP
>>> cl.counts                                                     # doctest: +SKIP
{'done': 31, 'not_done': 22, 'not_applicable': 4}
>>> next(i for s in cl.sections for i in s.items if i.id == "2.4.stable").evidence  # doctest: +SKIP
['baseline trial 1 stable: loss 2.3 -> 0.05 (decision 1)']

Statuses are ``done`` (with the evidence that shows it), ``not_done`` (with the next step) and
``not_applicable`` (with why). Nothing is ticked by hand alone: a human answer
(``tunebook note ITEM "text"`` or ``notes:`` in tunebook.yaml) is shown as a note.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from tunebook.core.errors import SpecError
from tunebook.core.spec import ProjectSpec
from tunebook.runbook.checklist import practice, setup, study  # noqa: F401  (registers the rules)
from tunebook.runbook.checklist.items import ITEMS, SECTIONS, STATUSES, Source, Status
from tunebook.runbook.evidence import NOTE_KIND, Evidence
from tunebook.store import Store


@dataclass(frozen=True)
class ItemStatus:
    """One checklist item and what the evidence says about it."""

    id: str
    section: str
    text: str
    status: Status
    source: Source          # evidence | spec | note | none
    judgment: bool          # needs a human answer (a note) unless evidence settles it
    evidence: list[str]     # what shows it: trial, round, decision, number or file
    detail: str
    next: str | None        # the command or edit that moves it forward


@dataclass(frozen=True)
class SectionStatus:
    id: str
    title: str
    items: list[ItemStatus]


@dataclass(frozen=True)
class Checklist:
    project: str
    counts: dict[str, int]
    sections: list[SectionStatus]
    next_steps: list[str]    # the first open items' next steps, in checklist order
    unknown_notes: list[str]  # note keys that name no checklist item (typos)

    def _repr_html_(self) -> str:
        """In a notebook: the counts, the next steps, then every item with its evidence."""
        import html

        from tunebook.core.html import table_html

        counts = ", ".join(f"{n} {s}" for s, n in sorted(self.counts.items()))
        steps = "".join(f"<li><code>{html.escape(s)}</code></li>" for s in self.next_steps)
        rows = [[it.id, it.status, it.text, "; ".join(it.evidence), it.next or ""]
                for sec in self.sections for it in sec.items]
        return (f"<b>checklist of {html.escape(self.project)}</b>: {html.escape(counts)}"
                f"<ol>{steps}</ol>"
                + table_html(["item", "status", "text", "evidence", "next"], rows))


def item_ids() -> list[str]:
    return list(ITEMS)


def evaluate(ev: Evidence, max_next: int = 5) -> Checklist:
    """The checklist of the project that ``ev`` reads."""
    by_section: dict[str, list[ItemStatus]] = {s: [] for s in SECTIONS}
    for it in ITEMS.values():
        v = it.rule(ev)
        by_section[it.section].append(ItemStatus(
            it.id, it.section, it.text, v.status, v.source, it.judgment, v.evidence, v.detail,
            v.next))
    sections = [SectionStatus(s, SECTIONS[s], items) for s, items in by_section.items()]
    flat = [i for s in sections for i in s.items]
    counts: dict[str, int] = {s: sum(1 for i in flat if i.status == s) for s in STATUSES}
    grouped: dict[str, list[str]] = {}  # one line per next step, naming every item it moves
    for i in flat:
        if i.status == "not_done" and i.next and not i.id.startswith("7"):
            grouped.setdefault(i.next, []).append(i.id)
    steps = [f"{', '.join(ids)}: {step}" for step, ids in grouped.items()]
    unknown = sorted(k for k in ev.notes if k not in ITEMS)
    return Checklist(ev.project.name, counts, sections, steps[:max_next], unknown)


def checklist(project: ProjectSpec, project_dir: str | Path, store: Store) -> Checklist:
    """Evaluate every checklist item of the project from its spec and store."""
    return evaluate(Evidence(project, project_dir, store))


def check_item(item_id: str) -> str:
    """``item_id`` if the checklist has it, else a SpecError naming the nearest ids."""
    if item_id in ITEMS:
        return item_id
    near = difflib.get_close_matches(item_id, list(ITEMS), n=3, cutoff=0.4)
    raise SpecError("ITEM", "a checklist item id (tunebook checklist lists them)", item_id,
                    f"Did you mean {' or '.join(repr(n) for n in near)}?" if near else "")


@dataclass(frozen=True)
class Note:
    item: str
    text: str
    decision_id: int
    judgment: bool


def record_note(store: Store, item_id: str, text: str) -> Note:
    """Record a human answer to a checklist item (a ``note`` decision in the store).

    A text starting with "n/a" or "not applicable" marks the item not applicable.

    >>> record_note(store, "1.2.deployment", "dev/test sampled from production")  # doctest: +SKIP
    Note(item='1.2.deployment', ...)
    """
    check_item(item_id)
    if not text.strip():
        raise SpecError("TEXT", "a non-empty answer", text, 'e.g. tunebook note 0.data_cleaning '
                        '"duplicates removed"')
    did = store.add_decision(NOTE_KIND, f"{item_id}: {text.strip()}",
                             {"item": item_id, "text": text.strip()})
    return Note(item_id, text.strip(), did, ITEMS[item_id].judgment)


__all__ = ["Checklist", "ItemStatus", "Note", "SectionStatus", "check_item", "checklist",
           "evaluate", "item_ids", "record_note"]
