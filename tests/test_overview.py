"""The whole reading of a real (pure-Python) round, its plots and the analyze command."""

from __future__ import annotations

import json
import math
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from tunebook.analysis.overview import analyze_round
from tunebook.cli import app
from tunebook.cli.output import run_app
from tunebook.core.jsonable import to_jsonable
from tunebook.core.spec import load_project, load_round
from tunebook.plots import draw_round
from tunebook.rounds.lifecycle import create_round
from tunebook.store import Store
from tunebook.workers.execute import run_round

PROJECT = """
name: planted
task: {type: classification, goal: test analyze end to end}
metrics:
  - {name: accuracy, split: dev, goal: max}
  - {name: loss, split: train, goal: min}
score: dev/accuracy
pipeline: train:train
eval_every: 20
"""

ROUND = """
name: width
question: Does width help once lr is tuned?
budget: 8
params:
  width: {role: target, values: [8, 32]}
  lr: {role: nuisance, type: float, low: 1.0e-4, high: 1.0e-1, scale: log}
  max_train_steps: {role: fixed, value: 200}
"""

# Dev accuracy rises with log lr all the way to the top of the range (an optimum beyond the
# edge), width 32 adds 0.03, and the curves are still rising at the end of training.
TRAIN = """
import math

def train(config, run):
    steps = int(config["max_train_steps"])
    level = 0.6 + 0.1 * (math.log10(config["lr"]) + 4) + (0.03 if config["width"] == 32 else 0)
    for step in range(1, steps + 1):
        run.log(step, train_loss=2.0 * math.exp(-step / 60) + 0.05)
        if run.should_eval(step):
            run.log(step, dev_accuracy=level * (1 - math.exp(-step / 90)))
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    d = tmp_path_factory.mktemp("proj")
    (d / "tunebook.yaml").write_text(PROJECT)
    (d / "round.yaml").write_text(ROUND)
    (d / "train.py").write_text(textwrap.dedent(TRAIN))
    store = Store(d / ".tunebook" / "store.db")
    create_round(store, load_project(d / "tunebook.yaml"), load_round(d / "round.yaml"))
    run_round(store, "width", d, executor="inline", show_progress=False)
    yield d, store
    store.close()
    sys.modules.pop("train", None)


def test_the_reading_of_a_planted_round(project):
    _, store = project
    a = analyze_round(store, "width", top=5)
    assert a.counts == {"completed": 16} and a.value_name == "score"
    codes = [f.code for f in a.findings]
    assert "boundary" in codes and "still_improving" in codes and "isolation_answer" in codes
    [b] = a.axes.boundaries
    assert (b.param, b.edge) == ("lr", "high") and b.proposed_high == pytest.approx(1.0)
    assert a.isolation is not None and a.isolation.winner == "width=32"
    assert a.importance is not None and list(a.importance.shares)[0] == "lr"
    assert a.answer.startswith("Does width help once lr is tuned? Best: width=32")
    # Findings come worst first.
    order = {"problem": 0, "warning": 1, "info": 2}
    assert [order[f.severity] for f in a.findings] == sorted(order[f.severity]
                                                             for f in a.findings)
    # Everything is JSON-able: no NaN, no numpy, no dataclass left.
    text = json.dumps(to_jsonable(a), allow_nan=False)
    assert '"boundary"' in text


def test_plots_are_written(project, tmp_path):
    _, store = project
    paths = draw_round(analyze_round(store, "width", importance_method=None),
                       tmp_path / "reports")
    assert sorted(paths) == ["axes", "curves", "isolation"]
    for p in paths.values():
        with open(p, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_analyze_command_json_and_plots(project):
    d, _ = project
    res = CliRunner().invoke(app, ["analyze", "width", "-p", str(d / "tunebook.yaml"),
                                   "--json", "--importance", "ped_anova"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["round"] == "width" and data["answer"].startswith("Does width help")
    assert data["importance"]["method"] == "ped_anova"
    assert {f["code"] for f in data["findings"]} >= {"boundary", "still_improving"}
    assert (d / ".tunebook" / "reports" / "width" / "axes.png").exists()
    assert data["plots"]["axes"].endswith("axes.png")


def test_analyze_command_renders_for_people(project):
    d, _ = project
    res = CliRunner().invoke(app, ["analyze", "width", "-p", str(d / "tunebook.yaml"),
                                   "--no-plots", "--importance", "none", "--top", "3"])
    assert res.exit_code == 0, res.output
    assert "answer" in res.output and "boundary" in res.output and "isolation" in res.output


def test_analyze_command_errors_are_one_clean_line(project, monkeypatch, capsys):
    d, _ = project
    monkeypatch.setattr(sys, "argv", ["tunebook", "analyze", "width", "-p",
                                      str(d / "tunebook.yaml"), "--metric", "dev/f1", "--json"])
    assert run_app(app) == 2
    err = json.loads(capsys.readouterr().out)
    assert err["type"] == "SpecError" and "--metric" in err["error"]


def test_seed_replicates_enter_the_answer(project):
    _, store = project
    rec = store.round("width")
    ranked = sorted((t for t in store.trials(rec.id) if t.score is not None),
                    key=lambda t: -t.score)  # type: ignore[operator]
    best = ranked[0]
    # Two more seeds of the best config, scored a little apart (as if re-trained).
    ids = store.add_trials(rec.id, [{"config": best.config, "group": best.group, "seed": s,
                                     "kind": "seed", "parent_id": best.id} for s in (1, 2)],
                           kind="seed")
    for tid, delta in zip(ids, (0.002, -0.002), strict=True):
        claimed = store.claim(rec.id, "test", 60)
        assert claimed is not None and claimed[0].id == tid
        assert best.score is not None and not math.isnan(best.score)
        store.finish(tid, claimed[1], "completed", best_step=best.best_step,
                     score=best.score + delta, feasible=True, best_metrics={})
    a = analyze_round(store, "width", importance_method=None)
    assert a.isolation is not None and a.isolation.seed_configs == 1
    assert a.isolation.verdict in ("clear", "within_noise")
    assert "standard errors" in a.isolation.answer


def test_a_round_without_tuned_hyperparameters_still_reads(store, tmp_path):
    from planted import acc_curve, planted_round

    planted_round(store, "base", {}, [{"config": {"lr": 0.01}, "curve": acc_curve(0.9)}])
    a = analyze_round(store, "base")
    assert a.axes.axes == [] and a.isolation is None
    assert a.importance is not None and a.importance.skipped == "no tuned hyperparameter varied"
    assert [d.trial for d in a.curves.trials] == [a.best_trial]
    assert "no target hyperparameter" in a.answer
    assert sorted(draw_round(a, tmp_path)) == ["curves"]


def test_choice_hyperparameters_are_drawn_and_weighed(store, tmp_path):
    from planted import acc_curve, planted_round

    params = {"optimizer": {"role": "nuisance", "type": "choice", "choices": ["adam", "sgd"]},
              "lr": {"role": "nuisance", "type": "float", "low": 1e-3, "high": 1e-1,
                     "scale": "log"}}
    trials = [{"config": {"optimizer": ["adam", "sgd"][i % 2], "lr": 1e-3 * 100 ** (i / 19)},
               "curve": acc_curve(0.7 + (0.2 if i % 2 == 0 else 0.0) + 0.001 * i)}
              for i in range(20)]
    planted_round(store, "opt", params, trials)
    a = analyze_round(store, "opt", importance_method="permutation")
    assert a.importance is not None and list(a.importance.shares)[0] == "optimizer"
    iso = analyze_round(store, "opt", target="optimizer", importance_method=None).isolation
    assert iso is not None and iso.winner == "optimizer=adam" and not iso.bucketed
    assert "axes" in draw_round(a, tmp_path)


def test_analyze_without_a_store_says_where_it_looked(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TUNEBOOK_STORE", raising=False)
    monkeypatch.setattr(sys, "argv", ["tunebook", "analyze", "width", "-p",
                                      str(tmp_path / "tunebook.yaml"), "--json"])
    assert run_app(app) == 2
    err = json.loads(capsys.readouterr().out)
    assert "--store" in err["error"] and "tunebook round run" in err["error"]
    assert not (tmp_path / ".tunebook").exists()


def test_a_short_then_long_round_reads_the_space_from_stage_1_and_answers_at_full_length(
        store):
    from planted import acc_curve, planted_round

    params = {"width": {"role": "target", "values": [8, 32]},
              "lr": {"role": "nuisance", "type": "float", "low": 1e-3, "high": 1e-1,
                     "scale": "log"}}
    short = {"stage": 1, "stages": 2, "fraction": 0.1, "final": False,
             "full": {"max_train_steps": 500}}
    trials = []
    for w in (8, 32):
        for i in range(10):  # stage 1: accuracy rises with log lr up to the top edge
            lr = 1e-3 * 100 ** (i / 9)
            trials.append({"config": {"width": w, "lr": lr, "max_train_steps": 50},
                           "group": {"width": w}, "meta": short,
                           "curve": acc_curve(0.5 + 0.03 * i, steps=50, every=10)})
    for w, parent in ((8, 9), (32, 19)):  # stage 2: the best of each width at full length
        trials.append({"config": {"width": w, "lr": 0.1, "max_train_steps": 500},
                       "group": {"width": w}, "kind": "stage2", "parent": parent,
                       "meta": {**short, "stage": 2, "fraction": 1.0, "final": True},
                       "curve": acc_curve(0.9 + (0.02 if w == 32 else 0.0))})
    planted_round(store, "staged", params, trials)
    a = analyze_round(store, "staged", importance_method=None)
    stage2 = {t.id for t in store.trials(store.round("staged").id, kind="stage2")}
    assert a.axes.basis == "stage 1 of a short-then-long round at 10% of the full length"
    assert len(a.axes.points) == 20 and not stage2 & {p.trial for p in a.axes.points}
    [b] = a.axes.boundaries
    assert (b.param, b.edge) == ("lr", "high")
    [f] = [f for f in a.findings if f.code == "boundary"]
    assert "(of stage 1 of a short-then-long round" in f.message
    assert a.isolation is not None
    assert {v.best_trial for v in a.isolation.values} == stage2
    assert a.isolation.winner == "width=32" and a.best_trial in stage2
    assert {d.trial for d in a.curves.trials} == stage2
