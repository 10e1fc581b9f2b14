"""Notebook display: records and results render as escaped HTML tables (_repr_html_)."""

from __future__ import annotations

from pathlib import Path

from runbook_support import make_project, with_baseline, with_round

from tunebook.analysis.overview import analyze_round
from tunebook.core.html import table_html
from tunebook.core.spec import load_project
from tunebook.runbook.checklist import checklist
from tunebook.store import open_store


def test_records_results_and_checklist_render_as_escaped_html(tmp_path: Path) -> None:
    folder = make_project(tmp_path / "proj")
    store = open_store(None, folder)
    with_baseline(folder, store)
    name = with_round(folder, store, question="Wider <b>nets</b>?")
    record = store.round(name)
    trial = store.trials(record.id)[0]
    analysis = analyze_round(store, name)
    cl = checklist(load_project(folder / "tunebook.yaml"), folder, store)
    for obj in (record, trial, analysis, analysis.findings[0], cl):
        page = obj._repr_html_()
        assert page.count("<table>") >= 1
        assert "<b>nets</b>" not in page          # store text is escaped, never markup
    assert "Wider &lt;b&gt;nets&lt;/b&gt;?" in record._repr_html_()
    assert f"trial {trial.id}" in trial._repr_html_()
    assert analysis.answer.replace("<", "&lt;").split("&lt;")[0][:30] in analysis._repr_html_()
    assert all(f.code in analysis._repr_html_() for f in analysis.findings)
    assert "1.1" in cl._repr_html_() and cl.next_steps[0].split()[0] in cl._repr_html_()


def test_table_html_escapes_and_formats() -> None:
    page = table_html(["x"], [[0.123456789], [None], [True], ["<script>"]])
    assert "0.1235" in page and "–" in page and "yes" in page and "&lt;script&gt;" in page
