"""MLflow runs, TensorBoard event files and run tables: each opened by the peer's own reader.

One round is made and exported once per module (importing MLflow takes seconds)."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import write_project
from test_interop_optuna import generated_round

from tunebook.cli import app
from tunebook.cli.output import run_app
from tunebook.core.errors import SpecError
from tunebook.core.spec import load_project
from tunebook.interop import Roles, RoundDump, read_round
from tunebook.interop.export import export_to
from tunebook.interop.run_table import import_table
from tunebook.store import Store

mlflow = pytest.importorskip("mlflow")
pytest.importorskip("tensorboard")


@dataclass(frozen=True)
class Made:
    folder: Path
    project_dir: Path
    store: Store
    dump: RoundDump
    uri: str


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Made]:
    folder = tmp_path_factory.mktemp("peers")
    project_dir = write_project(folder / "proj")
    store = Store(folder / "store.db")
    name = generated_round(store, project_dir, 5)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    export_to(store, name, "mlflow", uri)
    yield Made(folder, project_dir, store, read_round(store, name), uri)
    store.close()


def test_mlflow_runs_are_found_by_search_runs(made: Made) -> None:
    dump = made.dump
    mlflow.set_tracking_uri(made.uri)
    runs = mlflow.search_runs(experiment_names=[dump.record.name])
    assert len(runs) == len(dump.trials)
    client = mlflow.MlflowClient(tracking_uri=made.uri)
    status = {"completed": "FINISHED", "failed": "FAILED", "diverged": "FAILED"}
    for _, row in runs.iterrows():
        t = next(t for t in dump.trials if str(t.id) == row["tags.tunebook.trial_id"])
        assert row["tags.tunebook.round"] == dump.record.name
        assert (row["tags.tunebook.status"], row["status"]) == (t.status, status[t.status])
        assert row["tags.tunebook.role.mode"] == "target"
        assert row["tags.tunebook.role.lr"] == "nuisance"
        assert json.loads(row["tags.tunebook.checkpoints"]) == []
        assert float(row["params.lr"]) == t.config["lr"] and row["params.act"] == t.config["act"]
        for key in ("dev/accuracy", "train/loss"):
            history = client.get_metric_history(row["run_id"], key)
            assert [(m.step, m.value) for m in history] == [
                (s, v[key]) for s, v in sorted(dump.curves[t.id].items())
                if key in v and math.isfinite(v[key])]
    with pytest.raises(SpecError, match="never duplicates"):
        export_to(made.store, dump.record.name, "mlflow", made.uri)


def test_mlflow_table_imports_back_as_the_same_trials(made: Made) -> None:
    mlflow.set_tracking_uri(made.uri)
    runs = mlflow.search_runs(experiment_names=[made.dump.record.name], order_by=[
        "start_time ASC"])
    table = made.folder / "runs.csv"
    runs.to_csv(table, index=False)
    project = load_project(made.project_dir / "tunebook.yaml")
    done = import_table(made.store, project, table, "from-mlflow", Roles())
    assert done.source == "mlflow" and done.roles == made.dump.roles
    back = read_round(made.store, "from-mlflow")
    old = {t.id: t for t in made.dump.trials}
    assert len(back.trials) == len(old)
    for t in back.trials:
        was = old[int(runs.set_index("run_id").loc[t.meta["run"], "tags.tunebook.trial_id"])]
        assert (t.config, t.seed, t.status, t.group) == (was.config, was.seed, was.status,
                                                        was.group)
        curve = made.dump.curves[was.id]
        last = {k: v for s, vs in sorted(curve.items()) for k, v in vs.items()  # each's last
                if math.isfinite(v)}
        assert back.curves.get(t.id, {}) == ({max(curve): last} if curve else {})


def test_wandb_table_and_refusals(made: Made) -> None:
    table = made.folder / "wandb.csv"
    table.write_text("name,state,config.lr,config.width,config.opt,summary.dev_accuracy,"
                     "summary.dev_latency_ms,summary._step\n"
                     "a,finished,0.01,16,adam,0.9,1.0,20\n"
                     "b,crashed,0.5,32,sgd,,,3\n"
                     "c,finished,0.001,32,sgd,0.8,1.0,20\n"
                     "d,running,0.1,16,adam,0.5,1.0,7\n")
    project = load_project(made.project_dir / "tunebook.yaml")
    done = import_table(made.store, project, table, "from-wandb", Roles(target=("opt",)))
    assert done.source == "wandb" and done.trials == 3 and len(done.skipped) == 1
    assert done.roles == {"lr": "nuisance", "width": "nuisance", "opt": "target"}
    back = read_round(made.store, "from-wandb")
    assert [t.status for t in back.trials] == ["completed", "failed", "completed"]
    assert back.trials[0].score == 0.9 and back.trials[0].best_step == 20
    assert back.spec.params["lr"].scale == "log" and back.spec.params["width"].kind == "int"
    with pytest.raises(SpecError, match="config.x, summary.y"):
        bad = made.folder / "bad.csv"
        bad.write_text("lr,acc\n0.1,0.5\n")
        import_table(made.store, project, bad, "bad", Roles())


def test_tensorboard_events_read_back_by_tensorboard(made: Made) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata

    dump = made.dump
    out = made.folder / "tb"
    done = export_to(made.store, dump.record.name, "tensorboard", str(out))
    assert done.trials == len(dump.trials)
    root = EventAccumulator(str(out / dump.record.name)).Reload()
    experiment = metadata.parse_experiment_plugin_data(
        root.PluginTagToContent(metadata.PLUGIN_NAME)[metadata.EXPERIMENT_TAG])
    assert {h.name for h in experiment.hparam_infos} == {"mode", "lr", "width", "act"}
    assert {m.name.tag for m in experiment.metric_infos} >= {"dev/accuracy", "train/loss"}
    for t in dump.trials:
        acc = EventAccumulator(str(out / dump.record.name / f"{t.number:05d}")).Reload()
        for key in ("dev/accuracy", "train/loss"):
            want = [(s, v[key]) for s, v in sorted(dump.curves[t.id].items())
                    if key in v and math.isfinite(v[key])]
            if not want:  # a trial that failed before its first eval
                assert key not in acc.Tags()["scalars"]
                continue
            got = [(e.step, e.value) for e in acc.Scalars(key)]
            assert [s for s, _ in got] == [s for s, _ in want]
            assert [v for _, v in got] == pytest.approx([v for _, v in want], rel=1e-6)
        content = acc.PluginTagToContent(metadata.PLUGIN_NAME)
        start = metadata.parse_session_start_info_plugin_data(
            content[metadata.SESSION_START_INFO_TAG])
        assert start.hparams["lr"].number_value == pytest.approx(t.config["lr"])
        assert start.hparams["act"].string_value == t.config["act"]
        end = metadata.parse_session_end_info_plugin_data(content[metadata.SESSION_END_INFO_TAG])
        assert (end.status == 1) == (t.status == "completed")  # STATUS_SUCCESS
    with pytest.raises(SpecError, match="never overwrites"):
        export_to(made.store, dump.record.name, "tensorboard", str(out))


def test_cli_import_csv_and_export_needs_a_place(made: Made, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(made.project_dir)
    monkeypatch.setattr(sys, "argv", ["tunebook", "export", made.dump.record.name, "--to",
                                      "mlflow", "--store", str(made.folder / "store.db"),
                                      "--json"])
    capsys.readouterr()
    assert run_app(app) == 2
    assert "tracking URI" in json.loads(capsys.readouterr().out)["error"]
    table = made.folder / "cli.csv"
    table.write_text("name,state,config.lr,summary.dev/accuracy\na,finished,0.01,0.7\n"
                     "b,finished,0.02,0.8\n")
    monkeypatch.setattr(sys, "argv", ["tunebook", "import", "csv", str(table), "--round", "cli",
                                      "--store", str(made.folder / "store.db"), "--json"])
    assert run_app(app) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["round"], out["trials"], out["roles"]) == ("cli", 2, {"lr": "nuisance"})
