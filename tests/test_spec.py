from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT, round_dict, write_project

from tunebook.core.errors import SpecError
from tunebook.core.spec import load_pipeline, load_project, load_round, parse_project, parse_round


def _project(**over: Any) -> dict[str, Any]:
    d = dict(PROJECT)
    d.update(over)
    return d


def test_valid_project_and_round_parse() -> None:
    p = parse_project(_project())
    assert p.metric_keys == {"dev/accuracy", "dev/latency_ms", "train/loss"}
    scorer = p.scorer()
    assert scorer.goal == "max" and [str(c) for c in scorer.constraints] == ["dev/latency_ms <= 10"]
    r = parse_round(round_dict())
    assert r.total_trials == 4 and r.space.dim == 1


@pytest.mark.parametrize(("data", "fragment"), [
    (_project(scroe="dev/accuracy"), "Did you mean 'score'?"),
    ({**_project(), "task": {"type": "classification", "goal": "g", "sucess": "x"}},
     "task.sucess"),
    ({**_project(), "task": {"type": "clasification", "goal": "g"}}, "task.type"),
    (_project(metrics=[{"name": "accuracy", "split": "deev", "goal": "max"}]), "'dev'"),
    (_project(score="dev/acuracy"), "Did you mean 'dev/accuracy'?"),
    (_project(score={"formula": "__import__('os').system('x')", "goal": "max"}),
     "Function calls"),
    (_project(score={"formula": "dev_accuracy - dev_speed", "goal": "max"}), "dev_speed"),
    (_project(score={"formula": "dev_accuracy if 1 else 0", "goal": "max"}), "only numbers"),
    (_project(constraints=["dev/lat <= 3"]), "dev/lat"),
    (_project(constraints=["latency is small"]), "a constraint like"),
    (_project(pipeline="train"), "'module:function'"),
    (_project(eval_every=0), "eval_every"),
    (_project(metrics=[]), "metrics"),
])
def test_project_errors_name_field_expected_and_got(data: dict[str, Any], fragment: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_project(data)
    assert fragment in str(info.value)
    assert "expected" in str(info.value) and "got" in str(info.value)


@pytest.mark.parametrize(("params", "fragment"), [
    ({"lr": {"role": "nuisance", "type": "float", "low": 1.0, "high": 0.1}}, "low <= high"),
    ({"lr": {"role": "nuisance", "type": "float", "low": 0, "high": 1, "scale": "log"}},
     "low > 0 for a log scale"),
    ({"lr": {"role": "nuisance", "type": "float", "low": 0.1, "high": 1, "scal": "log"}},
     "Did you mean 'scale'?"),
    ({"opt": {"role": "nuisance", "type": "choice", "choices": []}}, "non-empty"),
    ({"w": {"role": "target"}}, "values"),
    ({"w": {"role": "target", "values": []}}, "values"),
    ({"m": {"role": "fixed", "value": 0.9, "low": 0, "high": 1}}, "only 'value'"),
    ({"m": {"role": "fixed"}}, "value"),
    ({"m": {"role": "sometimes", "value": 1}}, "params.m.role"),
    ({"n": {"role": "nuisance", "type": "int", "low": 1.5, "high": 4}}, "integer bounds"),
    ({"n": {"role": "nuisance", "type": "float", "low": 1}}, "both bounds"),
])
def test_round_param_errors(params: dict[str, Any], fragment: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_round(round_dict(params=params))
    assert fragment in str(info.value)


@pytest.mark.parametrize(("over", "fragment"), [
    ({"budget": 0}, "budget"),
    ({"budget": -3}, "budget"),
    ({"algorithm": "grid"}, "algorithm"),
    ({"name": "../evil"}, "name"),
    ({"question": ""}, "question"),
])
def test_round_errors(over: dict[str, Any], fragment: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_round(round_dict(**over))
    assert fragment in str(info.value)


def test_yaml_reads_exponent_floats_as_numbers(tmp_path: Path) -> None:
    # YAML 1.1 (PyYAML's default) reads 1e-4 as the string "1e-4".
    f = tmp_path / "r.yaml"
    f.write_text("name: r\nquestion: q\nbudget: 2\nparams:\n"
                 "  lr: {role: nuisance, type: float, low: 1e-4, high: 1e-1, scale: log}\n"
                 "  wd: {role: fixed, value: 1e-5}\n")
    r = load_round(f)
    assert r.params["lr"].low == pytest.approx(1e-4)
    assert r.params["wd"].value == pytest.approx(1e-5) and isinstance(r.params["wd"].value, float)


def test_yaml_syntax_error_names_file(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match="bad.yaml"):
        load_round(f)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such file"):
        load_project(tmp_path / "nope.yaml")


def test_pipeline_import_errors(tmp_path: Path) -> None:
    d = write_project(tmp_path / "p")
    good = load_project(d / "tunebook.yaml")
    assert callable(load_pipeline(good, d))
    with pytest.raises(SpecError, match="Did you mean 'train'"):
        load_pipeline(parse_project(_project(pipeline="train:trian")), d)
    with pytest.raises(SpecError, match="importable module 'nothere'"):
        load_pipeline(parse_project(_project(pipeline="nothere:train")), d)
    broken = write_project(tmp_path / "b", train_py="import not_a_module_anywhere\n")
    with pytest.raises(SpecError, match="ModuleNotFoundError"):
        load_pipeline(good, broken)


def test_two_projects_in_one_process_keep_their_own_train(tmp_path: Path) -> None:
    a = write_project(tmp_path / "a", train_py="def train(config, run):\n    return 'a'\n")
    b = write_project(tmp_path / "b", train_py="def train(config, run):\n    return 'b'\n")
    spec = parse_project(_project())
    assert load_pipeline(spec, a)({}, None) == "a"
    assert load_pipeline(spec, b)({}, None) == "b"


def test_sibling_modules_come_from_the_projects_own_folder(tmp_path: Path) -> None:
    a = write_project(tmp_path / "a", train_py="from helper import NAME\n"
                      "def train(config, run):\n    return NAME\n")
    (a / "helper.py").write_text("NAME = 'a'\n")
    b = write_project(tmp_path / "b", train_py="from helper import NAME\n"
                      "def train(config, run):\n    return NAME\n")
    (b / "helper.py").write_text("NAME = 'b'\n")
    spec = parse_project(_project())
    assert load_pipeline(spec, a)({}, None) == "a"
    assert load_pipeline(spec, b)({}, None) == "b"
