"""Error analysis: planted confusion pairs, reproducible samples, label errors, tagging."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest
from decide_fixtures import make_project

from tunebook.analysis.errors import (
    analyze_errors,
    errors_of_trial,
    export_sample,
    find_suspects,
    read_metadata,
    read_tags,
)
from tunebook.analysis.selection import best_of_round
from tunebook.core.errors import SpecError
from tunebook.core.spec import RoundSpec
from tunebook.rounds.lifecycle import create_round
from tunebook.store import Store
from tunebook.workers.execute import run_round


def planted(n: int = 2000, seed: int = 1) -> list[dict[str, str]]:
    """Errors of which ~60% are the pair 4 -> 9; the rest spread over random pairs."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = rng.randrange(10)
        pred, conf = label, 0.85 + 0.14 * rng.random()
        u = rng.random()
        if label == 4 and u < 0.6:
            pred, conf = 9, 0.4 + 0.4 * rng.random()
        elif u < 0.05:
            pred, conf = rng.choice([p for p in range(10) if p != label]), 0.3 + 0.5 * rng.random()
        rows.append({"id": str(i), "label": str(label), "prediction": str(pred),
                     "confidence": f"{conf:.4f}", "size": f"{rng.random():.4f}",
                     "source": rng.choice(["scanner", "phone"])})
    return rows


def test_planted_confusion_pair_ranks_first() -> None:
    a = analyze_errors(planted(), sample_size=150, seed=0)
    pairs = [c for c in a.categories if c.dimension == "confusion"]
    assert pairs[0].value == "4 -> 9"
    assert pairs[0].share > 0.4
    assert pairs[0].share > 3 * pairs[1].share
    assert a.sample_size == 150 and len(a.sample) == 150
    shares = [c.share for c in a.categories]
    assert shares == sorted(shares, reverse=True)  # ranked by share of errors
    assert pairs[0].ceiling == pytest.approx(pairs[0].share * a.dev_error)
    assert pairs[0].rate is not None and pairs[0].rate > 0.4  # ~60% of true 4s go wrong
    assert a.findings[0].code == "errors.confusion" and "4 -> 9" in a.findings[0].message


def test_sample_is_reproducible_and_changes_with_the_seed() -> None:
    rows = planted()
    a1 = analyze_errors(rows, seed=3)
    a2 = analyze_errors(rows, seed=3)
    a3 = analyze_errors(rows, seed=4)
    ids = [r["id"] for r in a1.sample]
    assert ids == [r["id"] for r in a2.sample]
    assert ids != [r["id"] for r in a3.sample]
    assert all(r["label"] != r["prediction"] for r in a1.sample)


def test_dimensions_include_bands_and_metadata_with_numeric_bins() -> None:
    a = analyze_errors(planted())
    dims = {c.dimension for c in a.categories}
    assert {"true class", "predicted class", "confusion", "confidence", "size",
            "source"} <= dims
    sizes = {c.value for c in a.categories if c.dimension == "size"}
    assert len(sizes) <= 4 and all(v.startswith("[") for v in sizes)  # quartile bins
    assert {c.value for c in a.categories if c.dimension == "source"} <= {"scanner", "phone"}


def test_fewer_errors_than_the_sample_takes_them_all_and_no_errors_is_said() -> None:
    rows = [{"id": str(i), "label": "a", "prediction": "a" if i > 2 else "b"} for i in range(9)]
    assert analyze_errors(rows).sample_size == 3
    clean = analyze_errors([{"id": "1", "label": "a", "prediction": "a"}])
    assert clean.n_errors == 0 and clean.findings[0].code == "errors.none"


def test_suspects_need_confidence_and_agreeing_neighbours() -> None:
    rows = [{"id": str(i), "label": "a", "prediction": "a", "confidence": "0.9"}
            for i in range(10)]
    rows += [{"id": "x", "label": "b", "prediction": "a", "confidence": "0.97"},
             {"id": "y", "label": "b", "prediction": "a", "confidence": "0.97"},
             {"id": "z", "label": "b", "prediction": "a", "confidence": "0.6"}]
    got = find_suspects(rows, {"x": ["a", "a", "b"], "y": ["b", "b"]})
    assert [s.id for s in got] == ["x"]  # y: the neighbours side with the label; z: unsure
    assert got[0].agreement == pytest.approx(2 / 3) and got[0].threshold == pytest.approx(0.9)
    assert find_suspects([{k: v for k, v in r.items() if k != "confidence"} for r in rows]) == []


def test_export_and_tags_round_trip(tmp_path: Path) -> None:
    a = analyze_errors(planted(), sample_size=100)
    out = tmp_path / "sample.csv"
    out.write_text(export_sample(a), encoding="utf-8")
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 100 and {"tag", "note", "likely_mislabelled", "source"} <= set(rows[0])
    for i, r in enumerate(rows):  # a person tags: blurry for a third, two tags for some
        r["tag"] = "blurry" if i % 3 == 0 else ("faint;rotated" if i % 3 == 1 else "")
    with out.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    tagged = analyze_errors(planted(), sample_size=100, tags=read_tags(out))
    counts = {c.value: c.count for c in tagged.tags}
    assert counts == {"blurry": 34, "faint": 33, "rotated": 33}
    assert tagged.n_tagged == 67
    assert tagged.tags[0].value == "blurry" and tagged.tags[0].share == pytest.approx(34 / 67)
    assert any(f.code == "errors.tag" for f in tagged.findings)


def test_bad_tags_and_metadata_files(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="--export"):
        read_tags(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("id,label\n1,a\n", encoding="utf-8")
    with pytest.raises(SpecError, match="'tag'"):
        read_tags(bad)
    with pytest.raises(SpecError, match="dev errors"):
        analyze_errors(planted(), tags={"not-an-error-id": "x"})
    meta = tmp_path / "meta.csv"
    meta.write_text("id,camera\n0,a\n1,b\n", encoding="utf-8")
    assert read_metadata(meta)["1"] == {"camera": "b"}
    with pytest.raises(SpecError, match="'id'"):
        read_metadata(bad.with_name("nope.csv"))
    with pytest.raises(SpecError, match="--sample"):
        analyze_errors(planted(), sample_size=0)


def test_errors_of_a_stored_round_with_neighbours(tmp_path: Path) -> None:
    project = make_project(tmp_path, config={"lr": 0.01, "width": 8, "max_train_steps": 20,
                                             "predictions": True})
    store = Store(tmp_path / "s.db")
    spec = RoundSpec.model_validate({
        "name": "r1", "question": "lr?", "budget": 3,
        "params": {"lr": {"role": "nuisance", "type": "float", "low": 0.005, "high": 0.02,
                          "scale": "log"}}})
    create_round(store, project, spec)
    run_round(store, "r1", tmp_path, executor="inline", show_progress=False)
    best = best_of_round(store, "r1")
    a = errors_of_trial(store, project, tmp_path, best, sample_size=150)
    assert a.trial_id == best.id
    pairs = [c for c in a.categories if c.dimension == "confusion"]
    assert pairs[0].value == "3 -> 8"
    # the ten planted label errors: confidently "7", and the other models agree
    assert {s.id for s in a.suspects} == {f"ex{i}" for i in range(10)}
    assert all(s.agreement == 1.0 and s.others == 2 for s in a.suspects)
    assert any(f.code == "errors.label_quality" for f in a.findings)
    assert any(f.code == "errors.slice" and "region = north" in f.message for f in a.findings)


def test_missing_predictions_and_regression_are_refused(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    store = Store(tmp_path / "s.db")
    spec = RoundSpec(name="r0", question="q", budget=1)
    create_round(store, project, spec)
    run_round(store, "r0", tmp_path, executor="inline", show_progress=False)
    trial = best_of_round(store, "r0")
    with pytest.raises(SpecError, match=r"run\.save_predictions.*tunebook round run r0"):
        errors_of_trial(store, project, tmp_path, trial)
    regression = project.model_copy(update={"task": project.task.model_copy(
        update={"type": "regression"})})
    with pytest.raises(SpecError, match="regression"):
        errors_of_trial(store, regression, tmp_path, trial)
