from __future__ import annotations

import re
from pathlib import Path

import pytest
from runbook_support import make_project, with_baseline, with_round

from tunebook.core.errors import SpecError
from tunebook.core.spec import load_project
from tunebook.runbook.checklist import check_item, checklist, item_ids, record_note
from tunebook.runbook.checklist.items import ITEMS, SECTIONS, STATUSES
from tunebook.store import Store


def _items(cl):  # type: ignore[no-untyped-def]
    return {i.id: i for s in cl.sections for i in s.items}


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    return make_project(tmp_path / "p")


def _cl(folder: Path, store: Store):  # type: ignore[no-untyped-def]
    return checklist(load_project(folder / "tunebook.yaml"), folder, store)


def test_every_section_of_the_checklist_has_items_with_ids_that_mirror_it() -> None:
    text = (Path(__file__).parents[1] / "docs" / "checklist.md").read_text()
    numbered = set(re.findall(r"^##+ (\d(?:\.\d)?)\.? ", text, re.M))
    leaves = {n for n in numbered if not any(m.startswith(n + ".") for m in numbered)}
    assert leaves == set(SECTIONS)
    for sec in SECTIONS:
        assert any(i.section == sec for i in ITEMS.values()), sec
    for item_id, it in ITEMS.items():
        assert item_id.startswith(it.section)
    assert [f"7.{k}" for k in range(1, 10)] == [i for i in item_ids() if i.startswith("7")]


def test_an_empty_store_leaves_work_items_open_each_with_a_next_step(proj: Path,
                                                                    store: Store) -> None:
    cl = _cl(proj, store)
    items = _items(cl)
    assert sum(cl.counts.values()) == len(ITEMS)
    for i in items.values():
        assert i.status in STATUSES
        if i.status == "done":
            assert i.evidence, i.id              # never a tick without evidence
        if i.status == "not_done":
            assert i.next, i.id                  # always says what to do
    assert items["0.task_type"].status == "done" and items["0.task_type"].source == "spec"
    assert items["0.pipeline"].status == "not_done"
    assert items["0.pipeline"].next == "tunebook baseline"
    assert items["2.4.better_than_chance"].status == "not_done"
    assert items["3.1.one_question"].status == "not_done"
    assert items["1.1.constraints"].status == "not_done"  # no constraint and no note
    assert cl.next_steps and cl.next_steps[0].startswith("0.data_cleaning")


def test_a_baseline_and_a_round_turn_items_done_with_the_trials_as_evidence(
        proj: Path, store: Store) -> None:
    with_baseline(proj, store)
    with_round(proj, store)
    items = _items(_cl(proj, store))
    assert items["0.pipeline"].status == "done"
    assert "trial 1 of round baseline" in items["0.pipeline"].evidence[0]
    assert items["0.multiple_trials"].status == "done"
    chance = items["2.4.better_than_chance"]
    assert chance.status == "done" and "decision" in chance.evidence[0]
    assert items["2.4.stable"].status == "done"
    assert items["2.1.version"].source == "evidence"
    assert items["1.2.train_dev"].status == "done"
    assert "train_dev/accuracy" in items["1.2.train_dev"].evidence[0]
    assert items["3.2.roles"].evidence == ["round width: target: width; nuisance: lr; "
                                           "fixed: batch_size"]
    assert items["3.2.spaces"].evidence[0] == "round width: lr [0.001, 0.1] log"
    assert items["3.1.one_target"].status == "done"
    # The round has results and nobody compared them with the baseline yet.
    assert items["3.4.decision"].status == "not_done"
    assert items["3.4.decision"].next == "tunebook promote width"
    assert items["6.2.curves_predictions"].status == "done"
    assert items["7.7"].status == "done"


def test_notes_answer_judgment_items_and_n_a_marks_them_not_applicable(
        proj: Path, store: Store) -> None:
    n = record_note(store, "1.2.deployment", "dev/test sampled from last month's tickets")
    assert n.judgment and n.decision_id > 0
    record_note(store, "1.1.constraints", "n/a: no latency limit, batch job")
    items = _items(_cl(proj, store))
    assert items["1.2.deployment"].status == "done"
    assert items["1.2.deployment"].source == "note"
    assert items["1.2.deployment"].detail == "dev/test sampled from last month's tickets"
    assert items["1.1.constraints"].status == "not_applicable"
    assert items["1.1.constraints"].source == "note"


def test_the_spec_notes_mapping_answers_too_and_unknown_keys_are_reported(
        tmp_path: Path, store: Store) -> None:
    folder = make_project(tmp_path / "q", notes={"0.data_cleaning": "deduplicated by hash",
                                                 "0.data_claening": "typo"})
    cl = _cl(folder, store)
    item = _items(cl)["0.data_cleaning"]
    assert (item.status, item.source, item.evidence) == ("done", "note",
                                                         ["tunebook.yaml notes"])
    assert cl.unknown_notes == ["0.data_claening"]


def test_a_bad_note_is_refused_with_the_nearest_item(store: Store) -> None:
    with pytest.raises(SpecError, match="Did you mean '1.2.deployment'"):
        record_note(store, "1.2.deploiment", "x")
    with pytest.raises(SpecError, match="non-empty"):
        record_note(store, "1.2.deployment", "  ")
    assert check_item("7.9") == "7.9"
    assert store.decisions(kind="note") == []


def test_decisions_of_other_areas_are_the_evidence(proj: Path, store: Store) -> None:
    store.add_decision("batch_size", "scan", {"entry": "train:probe",
                                              "scan": {"feasible": [8, 16, 32, 64],
                                                       "knee": 64, "points": [1, 2, 3, 4]}})
    store.add_decision("stability", "probe diverged", {"probe_unstable": True,
                                                       "recommended_warmup": 4,
                                                       "clip_threshold": 1.5,
                                                       "trial_id": 1, "round": "stability-r"})
    store.add_decision("data_report", "data report: 0 problems", {"problems": [], "report": {}})
    items = _items(_cl(proj, store))
    assert items["2.3.feasible_range"].evidence == [
        "batch-size scan (decision 1): feasible up to [8, 16, 32, 64]"]
    choice = items["2.3.choice"]  # the baseline's 32 is not the knee 64
    assert choice.status == "not_done" and "64" in (choice.next or "")
    mit = items["5.2.mitigation"]
    assert mit.status == "not_done" and "warmup_steps=4" in (mit.next or "")
    assert items["0.data_cleaning"].status == "done"


def test_readings_that_cannot_be_made_yet_name_the_command_that_makes_them(
        proj: Path, store: Store) -> None:
    from runbook_support import ROUND

    from tunebook.core.spec import parse_round
    from tunebook.rounds.lifecycle import create_round

    create_round(store, load_project(proj / "tunebook.yaml"), parse_round(ROUND))  # not run
    items = _items(_cl(proj, store))
    assert items["3.3.axis_plots"].status == "not_done"
    assert items["3.3.axis_plots"].next == "tunebook round run width"
    assert "no completed trial" in items["3.3.axis_plots"].detail
    for key in ("3.3.diagnosis", "3.3.error_analysis"):
        assert items[key].status == "not_done" and items[key].next == "tunebook baseline", key


def test_items_with_several_targets_are_flagged(proj: Path, store: Store) -> None:
    with_baseline(proj, store)
    with_round(proj, store, name="two", budget=1, params={
        "width": {"role": "target", "values": [8, 16]},
        "lr": {"role": "target", "values": [0.01, 0.03]}})
    item = _items(_cl(proj, store))["3.1.one_target"]
    assert item.status == "not_done" and "two (width, lr)" in item.detail



def test_splits_drawn_from_deployment_rows_answer_1_2(tmp_path: Path, store: Store) -> None:
    folder = make_project(tmp_path / "d", data={"file": "rows.csv", "source": "origin",
                                                "deployment": ["production"]})
    assert _items(_cl(folder, store))["1.2.deployment"].status == "not_done"
    store.add_decision("splits", "splits created", {
        "path": "splits/m.json", "sha256": "0" * 64, "input": {}, "columns": {}, "config": {},
        "counts": {"train": 7, "dev": 2}})
    item = _items(_cl(folder, store))["1.2.deployment"]
    assert item.status == "done" and "origin is in ['production']" in item.evidence[0]
    assert _items(_cl(folder, store))["1.2.splits"].evidence == [
        "splits recorded (decision 1): train 7, dev 2"]


def test_a_choice_nuisance_in_the_latest_round_is_shown_not_a_crash(
        proj: Path, store: Store) -> None:
    # Regression: 3.2.spaces formatted every nuisance as a range, so a `choice` one (whose
    # `low` is None) raised TypeError in `tunebook checklist`, `report` and the MCP tools.
    from tunebook.runbook.report import write_report

    with_baseline(proj, store)
    with_round(proj, store, name="opt", budget=2, params={
        "width": {"role": "target", "values": [8, 16]},
        "optimizer": {"role": "nuisance", "type": "choice", "choices": ["adamw", "sgd"]},
        "lr": {"role": "nuisance", "type": "float", "low": 1e-3, "high": 1e-1, "scale": "log"}})
    item = _items(_cl(proj, store))["3.2.spaces"]
    assert item.status == "done"
    shown = " ".join(item.evidence)
    assert "optimizer in ['adamw', 'sgd']" in shown and "lr [0.001, 0.1] log" in shown
    project = load_project(proj / "tunebook.yaml")
    assert Path(write_report(project, proj, store).path).exists()
