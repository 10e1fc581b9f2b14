"""The demo: the digits project end to end on the embedded defaults (SQLite, CPU)."""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path
from typing import Any

from tunebook.core.spec import import_project_module, load_round, parse_round
from tunebook.core.yamlio import load_yaml
from tunebook.project import open_project
from tunebook.store import redact

EXAMPLE_FILES = ("tunebook.yaml", "train.py", "round.yaml", "prepare.py")


def write_example(directory: Path) -> None:
    """Copy the digits project into ``directory``; existing files are kept, not overwritten."""
    directory.mkdir(parents=True, exist_ok=True)
    src = resources.files("tunebook") / "examples" / "digits"
    for name in EXAMPLE_FILES:
        target = directory / name
        if not target.exists():
            target.write_text((src / name).read_text(encoding="utf-8"), encoding="utf-8")


def prepare(directory: Path) -> dict[str, int]:
    module = import_project_module(directory, "prepare")
    return dict(module.make_splits())


def run_demo(directory: str | Path = "tunebook-demo", workers: int = 2,
             show_progress: bool = True) -> dict[str, Any]:
    """Write, split, baseline and tune the digits project; return what a person would read."""
    t0 = time.time()
    d = Path(directory).resolve()
    write_example(d)
    splits = prepare(d)
    project = open_project(d)
    verdict = project.baseline(show_progress=show_progress)
    spec = load_round(d / "round.yaml")
    taken = {r.name for r in project.store.rounds()}
    name, k = spec.name, 2
    while name in taken:  # running the demo again adds a round; nothing recorded is replaced
        name, k = f"{spec.name}-{k}", k + 1
    rnd = project.new_round(parse_round({**load_yaml(d / "round.yaml"), "name": name}))
    rnd.run(workers=workers, show_progress=show_progress)
    answer = [{"group": t.group, "trial": t.id, "score": t.score} for t in rnd.status().best]
    # The demo ends where a user starts reading: the project report and the checklist.
    evidence = project.evidence()  # read once for both
    checklist = project.checklist(evidence)
    report = project.report(evidence=evidence)
    return {"directory": str(d), "store": redact(project.store.url), "splits": splits,
            "baseline": verdict.to_dict(), "trials": rnd.table(), "answer": answer,
            "report": report.path, "checklist": checklist, "seconds": time.time() - t0}
