"""The library handle: open_project, Round, the data kit, and the one-off experiment primitive."""

from __future__ import annotations

from pathlib import Path

import pytest
from decide_fixtures import make_project
from test_library_docs import tiny_folder

import tunebook
from tunebook.core.decisions import NotePayload
from tunebook.core.errors import NotFoundError, SpecError
from tunebook.core.spec import RoundSpec
from tunebook.experiments.oneoff import Decision, Execution, Finished, one_off


def test_open_project_takes_the_file_or_its_folder(tmp_path: Path) -> None:
    make_project(tmp_path)
    by_folder = tunebook.open_project(tmp_path)
    by_file = tunebook.open_project(tmp_path / "tunebook.yaml")
    assert by_folder.file == by_file.file and by_folder.spec.name == "tiny"
    assert by_folder.store.url.endswith(".tunebook/store.db")


def test_a_broken_project_fails_when_opened_naming_the_field(tmp_path: Path) -> None:
    make_project(tmp_path)
    path = tmp_path / "tunebook.yaml"
    path.write_text(path.read_text().replace("eval_every: 10", "eval_every: ten"))
    with pytest.raises(SpecError, match="eval_every"):
        tunebook.open_project(tmp_path)
    assert not (tmp_path / ".tunebook").exists()  # nothing was opened or written


def test_the_spec_is_read_again_after_an_edit(tmp_path: Path) -> None:
    make_project(tmp_path)
    project = tunebook.open_project(tmp_path)
    assert project.spec.eval_every == 10
    path = tmp_path / "tunebook.yaml"
    path.write_text(path.read_text().replace("eval_every: 10", "eval_every: 20   "))
    assert project.spec.eval_every == 20


def test_round_arguments_are_checked_before_anything_trains(tmp_path: Path) -> None:
    folder = tiny_folder(tmp_path / "p")
    project = tunebook.open_project(folder)
    with pytest.raises(NotFoundError):
        project.round("nope")
    width = project.new_round(folder / "round.yaml")
    with pytest.raises(SpecError, match="--seeds"):
        width.run(workers=1, executor="inline", trial=1)
    with pytest.raises(SpecError, match="executor"):
        width.run(workers=1, executor="threads")
    assert width.progress().counts == {"queued": 6}


def test_the_data_report_is_recorded_only_when_asked(tmp_path: Path) -> None:
    project = tunebook.open_project(tiny_folder(tmp_path / "p"))
    report = project.data.report(label_issues=False, record=False)
    assert report.rows == 200
    assert [d.kind for d in project.store.decisions()] == []
    project.data.report(label_issues=False)
    [decision] = project.store.decisions()
    assert decision.kind == "data_report" and decision.payload.problems == report.problems


def test_one_off_runs_exactly_the_given_trials_and_records_its_decision(tmp_path: Path) -> None:
    project = tunebook.open_project(tiny_folder(tmp_path / "p"))
    spec = RoundSpec(name="probe", question="Do two lrs differ?", budget=1)
    base = project.spec.baseline.config
    items = [{"config": {**base, "lr": lr}, "seed": 1, "group": {"lr": lr}} for lr in (0.01, 0.1)]
    seen: list[Finished] = []

    def judge(done: Finished) -> tuple[list[float | None], Decision]:
        seen.append(done)
        scores = [t.score for t in done.trials]
        return scores, Decision("note", "two lrs", {"item": "3.3.run", "text": f"{scores}"})

    scores, did = one_off(project.store, project.spec, project.dir, spec, judge, kind="stability",
                          items=items, trial_kind="probe", execution=Execution(show_progress=False))
    [done] = seen
    assert done.record.kind == "stability" and [t.kind for t in done.trials] == ["probe", "probe"]
    assert all(t.status == "completed" for t in done.trials)
    assert [t.config["lr"] for t in done.trials] == [0.01, 0.1]
    decision = project.store.decisions()[-1]
    assert decision.id == did and decision.round_id == done.record.id
    assert isinstance(decision.payload, NotePayload) and decision.payload.text == f"{scores}"
    assert scores[0] != scores[1]
