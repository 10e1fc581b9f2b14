from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from runbook_support import make_project, with_baseline, with_round

from tunebook.core.errors import SpecError
from tunebook.core.spec import load_project, load_round, parse_project
from tunebook.rounds.lifecycle import create_round
from tunebook.runbook.advise import RULES, advise_project, advise_task, parse_task, read_task
from tunebook.runbook.advise.baseline import adam_params
from tunebook.runbook.evidence import Evidence, Missing
from tunebook.store import Store

DIGITS = """
task: classification
name: digits
goal: Read handwritten digits on scanned forms
success: dev accuracy >= 0.97
data: {modality: image, examples: 1797, classes: 10, input: 8x8 grayscale}
constraints: ["latency_ms <= 1"]
compute: {accelerator: cpu, trial_minutes: 0.5, budget_hours: 0.25}
"""


def _by(advice: Any) -> dict[str, Any]:
    return {p.topic: p for p in advice.proposals}


def test_a_task_description_gives_metrics_splits_and_a_baseline_each_with_its_rule() -> None:
    a = advise_task(parse_task(DIGITS))
    by = _by(a)
    assert by["score"].value == "dev/accuracy"
    assert by["constraints"].value == ["dev/latency_ms <= 1"]
    assert by["splits"].value == {"dev": 0.15, "test": 0.15, "train": 0.7}
    assert by["architecture"].value == {"family": "cnn", "size": "small", "version": "1"}
    assert by["strategy"].value.startswith("end-to-end")  # 8x8 images: no pretrained backbone
    assert by["optimizer"].value == "adamw" and by["lr"].value == 1e-3
    assert by["adam_tuning"].value == ["lr", "beta1", "eps"]  # 30 trials fit the budget
    assert by["max_train_steps"].value == 400
    for p in a.proposals:
        assert p.rule in RULES and p.source == RULES[p.rule].source and p.why
    draft = yaml.safe_load(a.project_yaml)
    assert parse_project(draft).baseline.config["max_train_steps"] == 400


@pytest.mark.parametrize(("data", "strategy"), [
    ({"modality": "text", "examples": 5000}, "pretrained model + task head"),
    ({"modality": "tabular", "examples": 5000, "intermediate_labels": "easy"},
     "multi-stage pipeline"),
    ({"modality": "audio", "examples": 5_000_000, "intermediate_labels": "hard"},
     "end-to-end model"),
])
def test_transfer_end_to_end_or_pipeline_follows_checklist_4_3(data: dict[str, Any],
                                                               strategy: str) -> None:
    a = advise_task(parse_task(yaml.safe_dump({"task": "classification", "data": data})))
    assert _by(a)["strategy"].value == strategy
    assert _by(a)["strategy"].rule == "transfer-or-end-to-end"


def test_imbalance_picks_macro_f1_and_a_train_dev_split_when_train_differs() -> None:
    a = advise_task(parse_task(yaml.safe_dump({
        "task": "classification", "data": {"imbalance": 8, "examples": 200_000,
                                           "train_matches_deployment": False}})))
    by = _by(a)
    assert by["score"].value == "dev/f1_macro"
    assert by["splits"].value["train_dev"] == by["splits"].value["dev"] == 0.05
    assert by["train_dev"].rule == "train-dev"


def test_a_text_description_is_read_by_keywords(tmp_path: Path) -> None:
    f = tmp_path / "task.txt"
    f.write_text("We want to classify 12k support emails into queues. Inference must stay "
                 "under 20 ms per email.")
    t = read_task(f)
    assert (t.task, t.data.modality, t.data.examples) == ("classification", "text", 12000)
    assert t.constraints == ["latency_ms <= 20"]
    assert t.goal.startswith("We want to classify")
    # Prose with colons parses as YAML too; it is still read as text.
    t = parse_task("Task: classification\nWe want to read digits on forms: 1797 images.")
    assert (t.task, t.data.examples) == ("classification", 1797)


def test_a_description_without_a_task_type_is_refused() -> None:
    with pytest.raises(SpecError, match="task: expected the task type"):
        parse_task("goal: make customers happy\ndata: {modality: text}")
    with pytest.raises(SpecError, match="task: expected the task type"):
        parse_task("Make customers happy with better answers.")
    with pytest.raises(SpecError, match="datta"):
        parse_task("task: regression\ndatta: {}")
    with pytest.raises(SpecError, match="--task"):
        read_task("/nonexistent/task.yaml")


def test_adam_hyperparameters_grow_with_the_trial_budget() -> None:
    assert adam_params(9) == ["lr"]
    assert adam_params(10) == ["lr", "beta1"]
    assert adam_params(25) == ["lr", "beta1", "eps"]
    assert adam_params(75) == ["lr", "beta1", "eps", "beta2"]


# --- from a project's results ------------------------------------------------------------------


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    return make_project(tmp_path / "p")


def _advise(folder: Path, store: Store, **kw: Any) -> Any:
    return advise_project(Evidence(load_project(folder / "tunebook.yaml"), folder, store), **kw)


def test_without_a_baseline_the_advice_is_to_train_one(proj: Path, store: Store) -> None:
    a = _advise(proj, store)
    assert a.bottleneck.kind == "no_baseline" and a.round is None
    assert "tunebook baseline" in a.next_steps


def test_an_unfinished_round_is_finished_first(proj: Path, store: Store) -> None:
    with_baseline(proj, store)
    from runbook_support import ROUND

    from tunebook.core.spec import parse_round

    create_round(store, load_project(proj / "tunebook.yaml"), parse_round(ROUND))
    a = _advise(proj, store)
    assert a.bottleneck.kind == "in_progress"
    assert a.next_steps == ["tunebook round run width"]


def test_divergence_gates_everything_with_a_warmup_round(proj: Path, store: Store,
                                                        tmp_path: Path) -> None:
    with_baseline(proj, store)
    store.add_decision("stability", "probe diverged", {"probe_unstable": True,
                                                       "trial_id": 1, "round": "stability-r"})
    a = _advise(proj, store, write=tmp_path / "next.yaml")
    assert a.bottleneck.kind == "stability" and a.bottleneck.rule == "stability-gate"
    assert a.round.params["warmup_steps"] == {"role": "target", "values": [0, 1, 2, 4]}
    assert a.round.params["lr"]["role"] == "nuisance"
    spec = load_round(a.written)  # the written file is a valid, ready-to-run round
    assert spec.name == "warmup" and spec.budget == a.round.budget
    create_round(store, load_project(proj / "tunebook.yaml"), spec)


def test_no_warmup_round_for_a_train_that_never_reads_warmup_steps(tmp_path: Path) -> None:
    # Before: advise proposed a warmup round that such a script cannot honour.
    proj = make_project(tmp_path / "p")
    src = (proj / "train.py").read_text()
    (proj / "train.py").write_text(src.replace('int(config.get("warmup_steps") or 0)', "0"))
    store = Store(proj / "s.db")
    with_baseline(proj, store)
    store.add_decision("stability", "probe diverged", {"probe_unstable": True,
                                                       "trial_id": 1, "round": "stability-r"})
    a = _advise(proj, store, write=tmp_path / "next.yaml")
    assert a.bottleneck.kind == "stability"
    assert a.round is None and a.written is None
    assert any("never reads warmup_steps" in s and "tk.make_schedule" in s
               for s in a.bottleneck.actions)
    assert not any("warmup_steps" in str(r.params) for r in [a.round] if r is not None)


def test_a_round_never_tunes_a_key_train_never_reads(tmp_path: Path) -> None:
    # A script that never reads weight_decay: the nuisance set must not scan it.
    proj = make_project(tmp_path / "p")
    src = (proj / "train.py").read_text()
    (proj / "train.py").write_text(src.replace('float(config.get("weight_decay") or 0.0)', "0"))
    store = Store(proj / "s.db")
    with_baseline(proj, store)
    store.add_decision("stability", "probe diverged", {"probe_unstable": True,
                                                       "trial_id": 1, "round": "stability-r"})
    a = _advise(proj, store)
    assert a.round is not None and "weight_decay" not in a.round.params
    assert "lr" in a.round.params


def test_a_boundary_is_fixed_before_the_answer_is_read(proj: Path, store: Store) -> None:
    # The tiny project's quality peaks at lr 0.01: a range that ends there puts the best trials
    # at its high edge, which the real round analysis flags.
    with_baseline(proj, store)
    with_round(proj, store, budget=4, params={
        "width": {"role": "target", "values": [8, 16]},
        "lr": {"role": "nuisance", "type": "float", "low": 1e-5, "high": 1e-2, "scale": "log"}})
    ev = Evidence(load_project(proj / "tunebook.yaml"), proj, store)
    analysis = ev.analysis(store.round("width"))
    assert not isinstance(analysis, Missing)
    (edge,) = [b for b in analysis.axes.boundaries if b.param == "lr"]
    assert edge.edge == "high" and edge.proposed_high is not None
    a = advise_project(ev)
    assert a.bottleneck.kind == "search_space"
    assert a.round.name == "width-wider"
    assert a.round.params["lr"]["high"] == edge.proposed_high > 1e-2
    assert a.round.params["lr"]["low"] == 1e-5
    assert a.baseline_update is not None and a.baseline_update.value == "tunebook promote width"


# Accuracies per split that make one gap of the error ladder the largest (target error 0.02).
LADDERS: dict[str | None, dict[str, float]] = {
    "avoidable_bias": {"train": 0.80, "train_dev": 0.79, "dev": 0.78, "test": 0.78},
    "variance": {"train": 0.97, "train_dev": 0.85, "dev": 0.84, "test": 0.84},
    "mismatch": {"train": 0.97, "train_dev": 0.96, "dev": 0.80, "test": 0.80},
    None: {"train": 0.99, "train_dev": 0.99, "dev": 0.99, "test": 0.99},
}


def _laddered(folder: Path, largest: str | None, **config: Any) -> Path:
    from runbook_support import PROJECT

    base = {**PROJECT["baseline"]["config"], "ladder": LADDERS[largest], **config}
    return make_project(folder, baseline={**PROJECT["baseline"], "config": base})


@pytest.mark.parametrize(("largest", "kind", "target"), [
    ("avoidable_bias", "bias", "width"),
    ("variance", "variance", "weight_decay"),
    ("mismatch", "mismatch", None),
    (None, "none", None),
])
def test_the_largest_gap_picks_the_next_question(tmp_path: Path, store: Store,
                                                 largest: str | None, kind: str,
                                                 target: str | None) -> None:
    folder = _laddered(tmp_path / "p", largest)
    with_baseline(folder, store)
    ev = Evidence(load_project(folder / "tunebook.yaml"), folder, store)
    d = ev.diagnosis(ev.baseline_trial)  # the real diagnosis of the real baseline trial
    assert not isinstance(d, Missing) and d.largest == largest
    a = advise_project(ev)
    assert a.bottleneck.kind == kind
    if target is not None:
        roles = {k: p["role"] for k, p in a.round.params.items()}
        assert roles[target] == "target" and roles["lr"] == "nuisance"
        assert a.round.preview and a.round.total_trials == a.round.budget * len(
            a.round.params[target]["values"])
    elif kind == "none":
        assert a.round.name == "exploit" and "target" not in str(a.round.params)
    else:
        assert a.round is None
        assert a.bottleneck.actions == [f.action for f in d.findings
                                        if f.code == f"diagnose.{largest}"]


def test_confirmed_label_errors_come_first_until_a_person_answers(
        tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from tunebook.analysis.errors import errors_of_trial
    from tunebook.runbook.checklist import record_note

    # 6 of 120 dev labels are wrong: every model predicts the true class, sure of it.
    folder = _laddered(tmp_path / "p", "variance", mislabelled=6)
    with_baseline(folder, store)
    project = load_project(folder / "tunebook.yaml")
    baseline = Evidence(project, folder, store).baseline_trial
    assert baseline is not None
    # The baseline is alone in its round: no other model confirms its suspects.
    assert _advise(folder, store).bottleneck.kind == "variance"
    # The same trial's analysis with peers (a round of the same config): confirmed.
    with_round(folder, store, budget=3, params={"width": {"role": "target", "values": [8]}})
    trial = store.trials(store.round("width").id)[0]
    peered = errors_of_trial(store, project, folder, trial)
    assert any(s.others > 0 and s.agreement == 1.0 for s in peered.suspects)
    monkeypatch.setattr(Evidence, "error_analysis", lambda self, *a, **k: peered)
    a = _advise(folder, store)
    assert (a.bottleneck.kind, a.bottleneck.rule, a.round) == ("data", "labels-first", None)
    record_note(store, "4.2.dev_test_labels", "reviewed: the labels are right")
    assert _advise(folder, store).bottleneck.kind == "variance"


@pytest.mark.parametrize("algorithm", ["quasi_random", "explore_exploit", "random"])
def test_every_previewed_config_is_one_the_round_queues(proj: Path, store: Store,
                                                        algorithm: str) -> None:
    # Regression: the preview built configs with its own copy of the round's rule and had
    # drifted: it put a conditional hyperparameter (momentum under sgd) into every group.
    from tunebook.core.spec import parse_round
    from tunebook.runbook.advise.roundfile import build_round

    project = load_project(proj / "tunebook.yaml")
    params = {"optimizer": {"role": "target", "values": ["adamw", "sgd"]},
              "lr": {"role": "nuisance", "type": "float", "low": 1e-3, "high": 1e-1,
                     "scale": "log"},
              "momentum": {"role": "nuisance", "type": "float", "low": 0.8, "high": 0.99,
                           "when": {"optimizer": "sgd"}},
              "batch_size": {"role": "fixed", "value": 16}}
    proposal = build_round(project, "opt", "Which optimizer?", params, 4, algorithm, 3, [],
                           max_train_steps=30)
    assert proposal.preview
    record = create_round(store, project, parse_round(yaml.safe_load(proposal.yaml)))
    queued = [{"group": t.group, "config": t.config} for t in store.trials(record.id)]
    for shown in proposal.preview:
        assert shown in queued
        assert ("momentum" in shown["config"]) == (shown["group"]["optimizer"] == "sgd")
