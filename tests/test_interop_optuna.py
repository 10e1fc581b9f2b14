"""Rounds to Optuna studies and back, opened by Optuna itself; foreign studies as rounds."""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from conftest import round_dict

from tunebook.analysis.overview import analyze_round
from tunebook.cli import app
from tunebook.cli.output import run_app
from tunebook.core.errors import SpecError
from tunebook.core.spec import load_project, parse_round
from tunebook.interop import Roles, read_round
from tunebook.interop.export import export_to
from tunebook.interop.optuna_study import import_optuna
from tunebook.rounds.lifecycle import create_round
from tunebook.store import Store
from tunebook.workers.execute import run_round


def generated_round(store: Store, project_dir: Path, seed: int) -> str:
    """A small round drawn at random: a target, float/int/choice nuisances, a fixed value,
    and trials that complete, diverge or fail (the conftest pipeline's ``mode``)."""
    rng = random.Random(seed)
    modes = rng.sample(["ok", "diverge", "fail"], k=rng.choice([2, 3]))
    if "ok" not in modes:
        modes[0] = "ok"
    params: dict[str, Any] = {
        "mode": {"role": "target", "values": modes},
        "lr": {"role": "nuisance", "type": "float", "low": 10 ** rng.uniform(-4, -3),
               "high": 10 ** rng.uniform(-1, 0), "scale": "log"},
        "width": {"role": "nuisance", "type": "int", "low": 4, "high": rng.choice([16, 64])},
        "act": {"role": "nuisance", "type": "choice", "choices": ["relu", "gelu"]},
        "momentum": {"role": "fixed", "value": rng.choice([0.8, 0.9])},
    }
    spec = parse_round(round_dict(name=f"g{seed}", params=params, budget=rng.choice([2, 3]),
                                  seed=seed, algorithm="quasi_random", max_train_steps=15))
    create_round(store, load_project(project_dir / "tunebook.yaml"), spec)
    run_round(store, spec.name, project_dir, executor="inline", show_progress=False)
    return spec.name


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_export_to_optuna_then_import_gives_the_same_trials_and_curves(
        project_dir: Path, tmp_path: Path, seed: int) -> None:
    store = Store(tmp_path / "store.db")
    name = generated_round(store, project_dir, seed)
    dump = read_round(store, name)
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    done = export_to(store, name, "optuna", storage)
    assert done.trials == len(dump.trials) and done.skipped == ()

    study = optuna.load_study(study_name=name, storage=storage)
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    by_id = {t.id: t for t in dump.trials}
    for ft in study.trials:
        t = by_id[ft.user_attrs["trial_id"]]
        want = {"completed": "COMPLETE", "failed": "FAIL", "diverged": "FAIL"}[t.status]
        assert ft.state.name == want and ft.user_attrs["status"] == t.status
        assert (ft.user_attrs["seed"], ft.user_attrs["stage"]) == (t.seed, t.kind)
        assert ft.value == t.score if want == "COMPLETE" else ft.value is None
        assert {k: ft.params[k] for k in ("mode", "lr", "width", "act")} == {
            k: t.config[k] for k in ("mode", "lr", "width", "act")}
        assert ft.distributions["lr"].log and ft.distributions["width"].high in (16, 64)
        assert ft.intermediate_values == {
            s: v["dev/accuracy"] for s, v in dump.curves[t.id].items() if "dev/accuracy" in v}
    assert study.user_attrs["tunebook"]["roles"]["momentum"] == "fixed"

    project = load_project(project_dir / "tunebook.yaml")
    back = import_optuna(store, project, storage, name, f"{name}-back", Roles())
    assert back.trials == len(dump.trials) and back.roles == dump.roles
    again = read_round(store, f"{name}-back")
    assert [(t.config, t.seed, t.status, t.score, t.best_step, t.kind) for t in again.trials] == [
        (t.config, t.seed, t.status, t.score, t.best_step, t.kind) for t in dump.trials]
    for old, new in zip(dump.trials, again.trials, strict=True):
        assert new.meta["imported"] == {"source": "optuna", "id": str(new.meta["optuna_number"])}
        assert again.curves.get(new.id, {}) == {
            s: {"dev/accuracy": v["dev/accuracy"]} for s, v in dump.curves[old.id].items()
            if "dev/accuracy" in v}
    assert again.spec.params == dump.spec.params  # the same roles and ranges
    with pytest.raises(SpecError, match="not used"):
        export_to(store, name, "optuna", storage)  # never overwrites a study


def objective(trial: optuna.Trial) -> float:
    depth = trial.suggest_categorical("depth", [2, 4, 8])
    lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
    drop = trial.suggest_float("dropout", 0.0, 0.5)
    acc = 0.0
    for step in range(1, 6):
        acc = (0.9 - 0.05 * abs(math.log10(lr) + 2)) * (1 - 0.5 ** step) - 0.1 * drop \
            + 0.01 * depth
        trial.report(acc, step)
        if trial.should_prune():
            raise optuna.TrialPruned
    if trial.number % 7 == 3:
        raise RuntimeError("planted failure")
    return acc


def test_a_foreign_study_becomes_a_round_that_analysis_reads(project_dir: Path,
                                                              tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'theirs.db'}"
    ran = optuna.create_study(direction="maximize",  # in memory: RDB reports are slow
                              sampler=optuna.samplers.RandomSampler(seed=1),
                              pruner=optuna.pruners.MedianPruner(n_startup_trials=5))
    ran.optimize(objective, n_trials=24, catch=(RuntimeError,))
    study = optuna.create_study(study_name="theirs", storage=storage, direction="maximize")
    study.add_trials(ran.trials)
    store = Store(tmp_path / "store.db")
    project = load_project(project_dir / "tunebook.yaml")
    with pytest.raises(SpecError, match="Did you mean 'depth'"):
        import_optuna(store, project, storage, "theirs", "imp", Roles(target=("deph",)))
    done = import_optuna(store, project, storage, "theirs", "imp", Roles(target=("depth",)))
    assert done.roles == {"depth": "target", "lr": "nuisance", "dropout": "nuisance"}
    dump = read_round(store, "imp")
    states = {t.state.name for t in study.trials}
    assert {"COMPLETE", "FAIL", "PRUNED"} == states
    assert len(dump.trials) == len(study.trials)
    assert dump.spec.params["lr"].scale == "log" and dump.spec.params["depth"].values == [2, 4, 8]
    for ft, t in zip(study.trials, dump.trials, strict=True):
        assert t.status == {"COMPLETE": "completed", "FAIL": "failed",
                            "PRUNED": "pruned"}[ft.state.name]
        assert max(dump.curves.get(t.id, {0: {}})) == max(ft.intermediate_values, default=0)
    result = analyze_round(store, "imp")
    assert result.isolation is not None and result.isolation.target == ["depth"]
    assert len(result.isolation.values) == 3
    assert result.importance is not None and result.best_value == study.best_value
    assert len(result.curves.trials) > 0 and {a.param for a in result.axes.axes} >= {"lr"}


def test_cli_export_and_import_optuna(project_dir: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store(url)
    name = generated_round(store, project_dir, 3)
    storage = f"sqlite:///{tmp_path / 'o.db'}"

    def cli(*args: str) -> tuple[int, Any]:
        monkeypatch.chdir(project_dir)
        monkeypatch.setattr(sys, "argv", ["tunebook", *args, "--store", url, "--json"])
        capsys.readouterr()
        code = run_app(app)
        return code, json.loads(capsys.readouterr().out)

    code, out = cli("export", name, "--to", "optuna", storage, "--study", "s1")
    assert code == 0 and out["name"] == "s1" and out["trials"] == len(store.trials(
        store.round(name).id))
    code, out = cli("export", name, "--to", "optuna")
    assert code == 2 and "Optuna storage URL" in out["error"]
    code, out = cli("import", "optuna", storage, "--study", "s1", "--round", "back",
                    "--target", "mode", "--fixed", "momentum")
    assert code == 0 and out["roles"]["mode"] == "target" and out["roles"]["lr"] == "nuisance"
    code, out = cli("import", "optuna", storage, "--study", "nope", "--round", "b2")
    assert code == 2 and "among ['s1']" in out["error"]


def test_an_exported_study_opens_in_optuna_dashboard(project_dir: Path, tmp_path: Path) -> None:
    """optuna-dashboard's own server lists the study and serves every trial with its curve."""
    import threading
    import urllib.request
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    dashboard = pytest.importorskip("optuna_dashboard")
    store = Store(tmp_path / "store.db")
    name = generated_round(store, project_dir, 3)
    dump = read_round(store, name)
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    export_to(store, name, "optuna", storage)

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    httpd = make_server("127.0.0.1", 0, dashboard.wsgi(storage), handler_class=Quiet)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_port}"
    try:
        with urllib.request.urlopen(f"{base}/api/studies", timeout=60) as r:
            studies = json.loads(r.read())["study_summaries"]
        [summary] = [s for s in studies if s["study_name"] == name]
        with urllib.request.urlopen(f"{base}/api/studies/{summary['study_id']}?after=0",
                                    timeout=60) as r:
            detail = json.loads(r.read())
    finally:
        httpd.shutdown()
    assert len(detail["trials"]) == len(dump.trials)
    complete = [t for t in detail["trials"] if t["state"] == "Complete"]
    assert complete and all(t["intermediate_values"] for t in complete)
