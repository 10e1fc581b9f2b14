"""Reading a round for analysis, and each bad input's message: what is missing, what to run."""

from __future__ import annotations

import math

import pytest
from planted import acc_curve, planted_round

from tunebook.analysis.overview import analyze_round
from tunebook.analysis.records import load_records
from tunebook.core.errors import NotFoundError, SpecError

PARAMS = {"lr": {"role": "nuisance", "type": "float", "low": 1e-3, "high": 1e-1}}



def test_values_are_scores_or_the_best_of_a_metric(store):
    curve = acc_curve(0.9, dev_loss=0.4)
    curve[100]["dev/loss"] = 0.2
    planted_round(store, "r", PARAMS, [{"config": {"lr": 0.01}, "curve": curve},
                                       {"config": {"lr": 0.02}, "curve": acc_curve(0.8)}])
    recs = load_records(store, "r")
    assert recs.value_name == "score" and recs.goal == "max"
    assert [recs.values[t.id] for t in recs.ranked()] == pytest.approx([0.9, 0.8], abs=0.005)
    by_loss = load_records(store, "r", metric="dev_loss")
    assert by_loss.value_name == "dev/loss" and by_loss.goal == "min"
    assert [by_loss.values[t.id] for t in by_loss.ranked()] == [0.2, 0.5]


def test_unknown_round_says_how_to_create_one(store):
    planted_round(store, "width", PARAMS, [{"config": {"lr": 0.01}, "curve": acc_curve(0.9)}])
    with pytest.raises(NotFoundError, match="Did you mean 'width'.*tunebook round new"):
        load_records(store, "widht")


def test_a_round_not_run_yet_says_run_it(store):
    planted_round(store, "q", PARAMS, [{"config": {"lr": 0.01}, "curve": {}, "status": "queued"}])
    with pytest.raises(SpecError, match="at least one completed trial.*1 queued.*"
                                        "tunebook round run q"):
        load_records(store, "q")


def test_a_round_where_everything_diverged_says_where_to_look(store):
    planted_round(store, "d", PARAMS, [{"config": {"lr": 0.01}, "status": "diverged",
                                        "curve": {1: {"train/loss": math.nan}}}])
    with pytest.raises(SpecError, match="1 diverged.*tunebook trials d --status diverged"):
        load_records(store, "d")


def test_a_round_whose_score_was_never_logged_says_what_to_log(store):
    planted_round(store, "s", PARAMS, [{"config": {"lr": 0.01},
                                        "curve": {1: {"train/loss": 1.0}}}])
    with pytest.raises(SpecError, match=r"run.log\(step, dev_accuracy=...\)"):
        load_records(store, "s")


def test_a_metric_never_logged_or_not_declared_is_refused(store):
    planted_round(store, "m", PARAMS, [{"config": {"lr": 0.01}, "curve": acc_curve(0.9)}])
    with pytest.raises(SpecError, match=r"--metric.*dev/f1.*run.log\(step, dev_f1=...\)"):
        load_records(store, "m", metric="dev/f1")
    with pytest.raises(SpecError, match="--metric.*declared in tunebook.yaml.*Did you mean "
                                        "'dev/accuracy'"):
        load_records(store, "m", metric="dev/acuracy")


def test_bad_top_is_refused(store):
    planted_round(store, "t", PARAMS, [{"config": {"lr": 0.01}, "curve": acc_curve(0.9)}])
    with pytest.raises(SpecError, match="--top"):
        analyze_round(store, "t", top=0)


def test_store_curves_can_read_only_some_metrics(store):
    planted_round(store, "c", PARAMS, [{"config": {"lr": 0.01}, "curve": acc_curve(0.9)}])
    [t] = store.trials(store.round("c").id)
    only = store.curves([t.id], metrics=["dev/accuracy"])[t.id]
    assert {k for m in only.values() for k in m} == {"dev/accuracy"}
    assert len(only) == 10  # the eval steps only
    assert store.curves([t.id], metrics=[]) == {}
    full = store.curves([t.id])[t.id]
    assert {k for m in full.values() for k in m} == {"dev/accuracy", "dev/loss", "train/loss"}
