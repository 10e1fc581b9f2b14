import json
import sys

from data_helpers import project, table
from typer.testing import CliRunner

from tunebook.cli import app
from tunebook.cli.output import run_app

runner = CliRunner()


def _run(pdir, *args):
    res = runner.invoke(app, ["data", *args, "-p", str(pdir / "tunebook.yaml"), "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def test_split_report_mismatch_json(tmp_path):
    pdir = project(tmp_path, table(200))
    out = _run(pdir, "split")
    assert out["status"] == "created" and sum(out["counts"].values()) == 200
    assert _run(pdir, "split")["status"] == "unchanged"
    rep = _run(pdir, "report", "--no-label-issues")
    assert rep["rows"] == 200 and set(rep["labels"]) == {"train", "train_dev", "dev", "test"}
    mm = _run(pdir, "mismatch")
    assert 0 <= mm["auc"] <= 1 and mm["a"] == "train"


def test_tables_render(tmp_path):
    pdir = project(tmp_path, table(100))
    for cmd in (["split"], ["report", "--no-label-issues"], ["mismatch"]):
        res = runner.invoke(app, ["data", *cmd, "-p", str(pdir / "tunebook.yaml")])
        assert res.exit_code == 0, res.output
    assert "domain classifier AUC" in res.output


def test_error_is_one_json_line_not_a_traceback(tmp_path, monkeypatch, capsys):
    pdir = project(tmp_path, table(20).rename(columns={"label": "y"}))
    monkeypatch.setattr(sys, "argv", ["tunebook", "data", "split", "-p",
                                      str(pdir / "tunebook.yaml"), "--json"])
    assert run_app(app) == 2
    err = json.loads(capsys.readouterr().out)
    assert "data.label" in err["error"] and "columns ['id', 'y'" in err["error"]
