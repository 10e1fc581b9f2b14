"""Batched evaluation, per-example predictions of the best checkpoint, inference cost."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from kit_support import make_run

torch = pytest.importorskip("torch")

from tunebook.core.errors import SpecError  # noqa: E402
from tunebook.pytorch import (  # noqa: E402
    eval_batch_size,
    measure_inference,
    predict,
    save_predictions,
)


def test_predict_in_batches_matches_one_pass_and_restores_train_mode() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Dropout(0.5),
                                torch.nn.Linear(7, 3))
    x = torch.randn(50, 5)
    out = predict(model, x, batch_size=16)
    model.eval()
    assert torch.allclose(out, model(x), atol=1e-6)  # eval mode: dropout off
    model.train()
    predict(model, x, 8)
    assert model.training
    with pytest.raises(SpecError, match="batch_size"):
        predict(model, x, 0)


def test_eval_batch_size_is_at_least_the_train_batch_size() -> None:
    assert eval_batch_size({"batch_size": 32}) == 128
    assert eval_batch_size({"batch_size": 32, "eval_batch_size": 32}) == 32
    with pytest.raises(SpecError, match=r"eval_batch_size: expected an integer >= batch_size"):
        eval_batch_size({"batch_size": 64, "eval_batch_size": 16})


def test_save_predictions_stores_id_label_prediction_confidence(tmp_path: Path) -> None:
    store, run = make_run(tmp_path)
    logits = torch.tensor([[2.0, 0.0], [0.0, 3.0], [1.0, 1.0]])
    metrics = save_predictions(run, [10, 11, 12], torch.tensor([0, 0, 1]), logits, step=5,
                               group=["a", "b", "b"])
    assert metrics.accuracy == pytest.approx(1 / 3) and metrics.n == 3
    recorded = store.trial(run.trial_id).meta["dev_metrics"]
    assert recorded["step"] == 5 and recorded["accuracy"] == pytest.approx(1 / 3)
    assert recorded["auc"] == pytest.approx(0.5)  # from the softmax probabilities
    assert recorded["group_gap"]["per_group"] == {"a": 1.0, "b": 0.0}
    rows = _rows(store, run)
    assert [r["id"] for r in rows] == ["10", "11", "12"]
    assert [r["prediction"] for r in rows] == ["0", "1", "0"]
    assert float(rows[0]["confidence"]) == pytest.approx(0.880797, abs=1e-6)
    assert rows[2]["group"] == "b" and list(rows[0]) == ["id", "label", "prediction",
                                                         "confidence", "group"]
    run.close()


def _rows(store: object, run: object) -> list[dict[str, str]]:
    art = store.artifacts(run.trial_id, "predictions")[0]  # type: ignore[attr-defined]
    data = run.artifacts.read_verified(art.path, art.sha256)  # type: ignore[attr-defined]
    return list(csv.DictReader(io.StringIO(data.decode())))


def test_measure_inference_reports_latency_and_memory() -> None:
    model = torch.nn.Linear(8, 2)
    model.train()
    cost = measure_inference(model, torch.randn(3, 8), batch_size=5, repeats=5)
    assert cost.latency_ms > 0 and cost.batch_size == 5 and cost.device == "cpu"
    assert cost.memory_kind == "cpu_peak_rss" and (cost.peak_memory_mb or 0) > 0
    assert model.training
    with pytest.raises(SpecError):
        measure_inference(model, torch.randn(3, 8), repeats=0)
