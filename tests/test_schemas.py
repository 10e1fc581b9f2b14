from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from runbook_support import make_project, with_baseline
from typer.testing import CliRunner

from tunebook.cli import app
from tunebook.store import Store
from tunebook.tools import agent
from tunebook.tools.schemas import SCHEMAS, json_schema

TASK = "task: classification\ndata: {modality: text, examples: 3000}\ngoal: route tickets\n"


def _check(name: str, data: Any) -> None:
    jsonschema.validate(data, json_schema(name))


def test_every_published_schema_is_a_valid_json_schema_with_an_object_root() -> None:
    for name in SCHEMAS:
        schema = json_schema(name)
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["type"] == "object", name
        assert schema.get("description"), name  # says what the answer is


def test_a_wrong_answer_fails_its_schema() -> None:
    with pytest.raises(jsonschema.ValidationError):
        _check("checklist", {"project": "x", "counts": {}, "sections": "nope"})
    with pytest.raises(jsonschema.ValidationError):
        _check("diagnose", {"trial_id": 1})


@pytest.fixture
def session(tmp_path: Path, store: Store) -> agent.Session:
    folder = make_project(tmp_path / "p")
    return agent.Session(folder, store.url)


def test_real_answers_validate_against_their_schemas(session: agent.Session,
                                                     tmp_path: Path) -> None:
    round_file = tmp_path / "p" / "round.yaml"
    import yaml
    from runbook_support import ROUND

    round_file.write_text(yaml.safe_dump(ROUND))
    _check("baseline", agent.baseline(session))
    _check("run_round", agent.run_round(session, "round.yaml", workers=1, executor="inline"))
    _check("project_status", agent.status(session))
    _check("checklist", agent.checklist(session))
    _check("note", agent.note(session, "5.1.regime", "not compute-bound"))
    _check("advise_task", agent.advise_task(TASK))
    _check("propose_round", agent.propose_round(session, "next.yaml"))
    _check("report", agent.report(session))


def _json(args: list[str]) -> Any:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.output)


def test_cli_json_follows_the_same_schemas(tmp_path: Path, store: Store) -> None:
    folder = make_project(tmp_path / "c")
    with_baseline(folder, store)
    p = ["-p", str(folder / "tunebook.yaml"), "--store", store.url, "--json"]
    _check("checklist", _json(["checklist", *p]))
    _check("note", _json(["note", "6.1.input_bound", "n/a: data fits in memory", *p]))
    _check("propose_round", _json(["advise", *p]))
    _check("report", _json(["report", *p]))
    (tmp_path / "task.yaml").write_text(TASK)
    _check("advise_task", _json(["advise", "--task", str(tmp_path / "task.yaml"), "--json"]))
    _check("run_round", {**_json(["trials", "baseline", *p]), "counts": {}})
    schemas = _json(["mcp", "--schemas"])
    assert set(schemas) == set(SCHEMAS)


AREA_COMMANDS = [
    ("analyze", ["analyze", "width", "--no-plots"]),
    ("diagnose", ["diagnose", "--round", "width"]),
    ("error_sample", ["errors", "width", "--sample", "20"]),
    ("promote", ["promote", "width", "--seeds", "2", "--workers", "1", "--executor", "inline"]),
]


@pytest.mark.parametrize(("schema", "argv"), AREA_COMMANDS, ids=[c[0] for c in AREA_COMMANDS])
def test_the_analysis_areas_cli_json_and_agent_tools_follow_the_tool_schemas(
        schema: str, argv: list[str], tmp_path: Path, store: Store) -> None:
    from runbook_support import with_round

    folder = make_project(tmp_path / "a")
    with_baseline(folder, store)
    with_round(folder, store)
    data = _json([*argv, "-p", str(folder / "tunebook.yaml"), "--store", store.url, "--json"])
    _check(schema, data)
    # ... and the agent tool of the same step, run for real, answers the same schema. (A
    # promotion changes the baseline, so the agent promotes in a twin project of its own.)
    if schema == "promote":
        folder = make_project(tmp_path / "b")
        store = Store(tmp_path / "b.db")
        with_baseline(folder, store)
        with_round(folder, store)
    session = agent.Session(folder, store.url)
    tool = {"analyze": lambda: agent.analyze(session, "width", plots=False),
            "diagnose": lambda: agent.diagnose(session, "width"),
            "error_sample": lambda: agent.error_sample(session, "width", sample=20),
            "promote": lambda: agent.promote(session, "width", seeds=2, workers=1,
                                             executor="inline")}[schema]
    answer = tool()
    _check(schema, answer)
    if schema == "promote":  # the same deterministic project: the same candidate and verdict
        assert answer["source_round"] == data["source_round"] == "width"
        assert (answer["candidate_trial"], answer["promoted"]) == (data["candidate_trial"],
                                                                   data["promoted"])
        assert store.decisions(kind="promotion")[-1].id == answer["decision_id"]
