"""docs/library.md runs as written: every python block, in order, in a tiny project folder."""

from __future__ import annotations

import contextlib
import io
import random
import re
import textwrap
from pathlib import Path

import pytest
from decide_fixtures import make_project

from tunebook.store import open_store

DOC = Path(__file__).resolve().parents[1] / "docs" / "library.md"

DATA = textwrap.dedent("""
    data:
      file: data/table.csv
      fractions: {train: 0.6, train_dev: 0.1, dev: 0.15, test: 0.15}
""")

ROUND = textwrap.dedent("""
    name: width
    question: Does a wider model help once lr is tuned?
    budget: 3
    params:
      width: {role: target, values: [8, 16]}
      lr: {role: nuisance, type: float, low: 0.001, high: 0.1, scale: log}
""")


def blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def tiny_folder(folder: Path) -> Path:
    make_project(folder, extra=DATA, config={"lr": 0.01, "width": 8, "max_train_steps": 40,
                                             "predictions": True})
    rng = random.Random(0)
    rows = ["id,label,x0,x1"] + [f"r{i},{'ab'[i % 2]},{rng.random():.4f},{rng.random():.4f}"
                                 for i in range(200)]
    (folder / "data").mkdir()
    (folder / "data" / "table.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (folder / "round.yaml").write_text(ROUND, encoding="utf-8")
    return folder


def test_the_page_has_a_session_to_run() -> None:
    code = blocks(DOC.read_text(encoding="utf-8"))
    assert len(code) >= 5 and "open_project" in code[0]


@pytest.mark.slow
def test_every_block_of_the_library_page_runs(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tiny_folder(tmp_path / "tiny")
    monkeypatch.chdir(folder)
    monkeypatch.delenv("TUNEBOOK_STORE", raising=False)
    namespace: dict[str, object] = {}
    printed = io.StringIO()
    for i, code in enumerate(blocks(DOC.read_text(encoding="utf-8"))):
        with contextlib.redirect_stdout(printed):
            exec(compile(code, f"{DOC.name} block {i + 1}", "exec"), namespace)  # noqa: S102
    # The session left its records in the project's own store, as the CLI would have.
    store = open_store(None, folder)
    kinds = {d.kind for d in store.decisions()}
    assert {"splits", "data_report", "mismatch", "baseline", "promotion", "note"} <= kinds
    assert [r.kind for r in store.rounds()] == ["baseline", "search", "promotion"]
    assert (folder / ".tunebook" / "reports" / "project.html").is_file()
    assert "tiny" in printed.getvalue()
