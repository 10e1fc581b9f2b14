from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
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


def _fake(monkeypatch: pytest.MonkeyPatch, **readings: Any) -> None:
    for name, value in readings.items():
        monkeypatch.setattr(Evidence, name, lambda self, *a, _v=value, **k: _v)


def test_divergence_gates_everything_with_a_warmup_round(proj: Path, store: Store,
                                                        tmp_path: Path) -> None:
    with_baseline(proj, store)
    store.add_decision("stability", "probe diverged", {"probe_unstable": True})
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
    store.add_decision("stability", "probe diverged", {"probe_unstable": True})
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
    store.add_decision("stability", "probe diverged", {"probe_unstable": True})
    a = _advise(proj, store)
    assert a.round is not None and "weight_decay" not in a.round.params
    assert "lr" in a.round.params


def test_a_boundary_is_fixed_before_the_answer_is_read(proj: Path, store: Store,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    with_baseline(proj, store)
    with_round(proj, store)
    b = SimpleNamespace(param="lr", edge="high", low=1e-3, high=0.1, proposed_low=None,
                        proposed_high=1.0, top_trials=[4, 7], top_values=[0.09, 0.1])
    _fake(monkeypatch, analysis=SimpleNamespace(axes=SimpleNamespace(boundaries=[b]),
                                                findings=[]))
    a = _advise(proj, store)
    assert a.bottleneck.kind == "search_space"
    assert a.round.name == "width-wider"
    assert a.round.params["lr"]["high"] == 1.0 and a.round.params["lr"]["low"] == 1e-3
    assert a.baseline_update is not None and a.baseline_update.value == "tunebook promote width"


def _diagnosis(largest: str | None) -> Any:
    finding = SimpleNamespace(code="diagnose.gap", action="do the thing", message="")
    return SimpleNamespace(trial_id=1, largest=largest, findings=[finding],
                           gaps={"avoidable_bias": 0.1, "variance": 0.02})


@pytest.mark.parametrize(("largest", "kind", "target"), [
    ("avoidable_bias", "bias", "width"),
    ("variance", "variance", "weight_decay"),
    ("mismatch", "mismatch", None),
    (None, "none", None),
])
def test_the_largest_gap_picks_the_next_question(proj: Path, store: Store, largest: str | None,
                                                 kind: str, target: str | None,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    with_baseline(proj, store)
    _fake(monkeypatch, analysis=Missing("x", "y"), error_analysis=Missing("x", "y"),
          diagnosis=_diagnosis(largest))
    a = _advise(proj, store)
    assert a.bottleneck.kind == kind
    if target is not None:
        roles = {k: p["role"] for k, p in a.round.params.items()}
        assert roles[target] == "target" and roles["lr"] == "nuisance"
        assert a.round.preview and a.round.total_trials == a.round.budget * len(
            a.round.params[target]["values"])
    elif kind == "none":
        assert a.round.name == "exploit" and "target" not in str(a.round.params)
    else:
        assert a.round is None and a.bottleneck.actions == ["do the thing"]


def test_confirmed_label_errors_come_first_until_a_person_answers(
        proj: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from tunebook.runbook.checklist import record_note

    with_baseline(proj, store)
    flag = SimpleNamespace(code="errors.label_quality", message="5 of 9 errors look mislabelled",
                           action="Review them", severity="warning")
    suspect = SimpleNamespace(others=3, agreement=1.0)
    from tunebook.analysis.judgements.labels import LabelVerdict

    verdict = LabelVerdict(True, 2, 120, 0.4, 3, "2 confirmed suspects, as sure as the rest")
    errors = SimpleNamespace(trial_id=1, n_examples=120, findings=[flag],
                             suspects=[suspect] * 2, labels=verdict)
    _fake(monkeypatch, analysis=Missing("x", "y"), error_analysis=errors,
          diagnosis=_diagnosis("variance"))
    a = _advise(proj, store)
    assert (a.bottleneck.kind, a.bottleneck.rule, a.round) == ("data", "labels-first", None)
    # Suspects that the label rule does not call a problem are not enough.
    _fake(monkeypatch, error_analysis=SimpleNamespace(**{
        **errors.__dict__, "labels": LabelVerdict(False, 2, 120, None, 0, "unconfirmed")}))
    assert _advise(proj, store).bottleneck.kind == "variance"
    _fake(monkeypatch, error_analysis=errors)
    record_note(store, "4.2.dev_test_labels", "reviewed: the labels are right")
    assert _advise(proj, store).bottleneck.kind == "variance"
