"""Checkpoints: retention, scoring, round trip, corruption, malicious pickles, resume."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from conftest import write_project
from kit_support import make_run

torch = pytest.importorskip("torch")

from tunebook.core.errors import SpecError, WorkerStopped  # noqa: E402
from tunebook.core.spec import RoundSpec, load_pipeline, load_project  # noqa: E402
from tunebook.pytorch import Checkpoints  # noqa: E402
from tunebook.rounds.lifecycle import create_round  # noqa: E402
from tunebook.store import Store  # noqa: E402
from tunebook.workers.execute import run_trial  # noqa: E402


def _model(seed: int = 0, width: int = 4) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, width), torch.nn.Linear(width, 2))


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                 b.state_dict().values(), strict=True))


def _files(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "art").rglob("ckpt-*"))


def test_keeps_the_n_best_by_project_score_plus_the_latest(tmp_path: Path) -> None:
    store, run = make_run(tmp_path)
    ckpts = Checkpoints(run, keep_best=2)
    accs = {5: 0.5, 10: 0.9, 15: 0.7, 20: 0.95, 25: 0.6, 30: 0.4}
    models = {}
    for step, acc in accs.items():
        # dev/latency_ms <= 10 is a constraint: step 20 has the best accuracy but breaks it.
        run.log(step, dev_accuracy=acc, dev_latency_ms=50.0 if step == 20 else 1.0)
        models[step] = _model(step)
        ckpts.save(step, models[step])
    kept = {k.step: k for k in ckpts.kept()}
    assert sorted(kept) == [10, 15, 30]  # best two feasible (10, 15) + the latest (30)
    assert _files(tmp_path) == ["ckpt-00000010.pt", "ckpt-00000015.pt", "ckpt-00000030.pt"]
    assert kept[10].score == 0.9 and kept[10].feasible
    target = _model(99)
    assert ckpts.load_best(target) == 10 and _same(target, models[10])
    meta = store.trial(run.trial_id).meta["best_checkpoint"]
    assert meta["step"] == 10 and meta["artifact_id"] == kept[10].artifact_id
    run.close()


def test_explicit_scores_and_goal_outside_a_project(tmp_path: Path) -> None:
    _, run = make_run(tmp_path)
    ckpts = Checkpoints(run, keep_best=1, goal="min")
    for step, loss in [(5, 0.3), (10, 0.1), (15, 0.2)]:
        ckpts.save(step, _model(step), score=loss)
    assert [k.step for k in ckpts.kept()] == [10, 15]
    assert ckpts.best() is not None and ckpts.best().step == 10  # type: ignore[union-attr]
    model = _model(0)
    assert ckpts.load(15, model)["step"] == 15 and _same(model, _model(15))
    with pytest.raises(SpecError, match="checkpoint step"):
        ckpts.load(5, model)
    with pytest.raises(SpecError, match="keep_best"):
        Checkpoints(run, keep_best=-1)
    run.close()


def test_round_trip_restores_model_optimizer_generator_and_rngs(tmp_path: Path) -> None:
    _, run = make_run(tmp_path)
    model = _model(1)
    opt = torch.optim.AdamW(model.parameters(), lr=0.01)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    gen = torch.Generator().manual_seed(5)
    torch.randint(0, 10, (3,), generator=gen)
    Checkpoints(run).save(7, model, opt, gen, score=0.5)
    expect_gen = torch.randint(0, 100, (5,), generator=gen)
    expect_global = torch.rand(3)
    model2 = _model(2)
    opt2 = torch.optim.AdamW(model2.parameters(), lr=0.01)
    gen2 = torch.Generator().manual_seed(123)
    torch.manual_seed(42)
    assert Checkpoints(run).resume(model2, opt2, gen2) == 7
    assert _same(model, model2)
    assert opt2.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]
    assert torch.equal(torch.randint(0, 100, (5,), generator=gen2), expect_gen)
    assert torch.equal(torch.rand(3), expect_global)
    run.close()


def test_resume_with_nothing_saved_starts_at_zero(tmp_path: Path) -> None:
    _, run = make_run(tmp_path)
    assert Checkpoints(run).resume(_model()) == 0
    run.close()


def test_corrupt_checkpoint_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    _, run = make_run(tmp_path)
    ckpts = Checkpoints(run, keep_best=1)
    ckpts.save(5, _model(5), score=0.9, )
    path = next((tmp_path / "art").rglob("ckpt-00000005.pt"))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    model = _model(0)
    with pytest.raises(SpecError, match="sha256"):
        ckpts.load_best(model)
    with pytest.raises(SpecError, match="sha256"):
        ckpts.resume(model)
    assert _same(model, _model(0)) and path.read_bytes() == bytes(data)
    run.close()


def test_resume_can_set_a_corrupt_latest_aside(tmp_path: Path) -> None:
    _, run = make_run(tmp_path)
    ckpts = Checkpoints(run, keep_best=2)
    ckpts.save(5, _model(5), score=0.5)
    ckpts.save(10, _model(10), score=0.6)
    latest = next((tmp_path / "art").rglob("ckpt-00000010.pt"))
    latest.write_bytes(b"garbage")
    model = _model(0)
    with pytest.warns(UserWarning, match="failed verification"):
        assert ckpts.resume(model, skip_corrupt=True) == 5
    assert _same(model, _model(5)) and [k.step for k in ckpts.kept()] == [5]
    assert any(p.name.startswith("ckpt-00000010.pt.corrupt") for p in latest.parent.iterdir())
    run.close()


def test_malicious_pickle_is_refused_by_the_safe_loader(tmp_path: Path) -> None:
    _, run = make_run(tmp_path)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.mkdir, (str(marker),))

    buf = io.BytesIO()
    torch.save({"model": Evil(), "step": 5}, buf)
    # Recorded with a valid checksum: only the safe loader stands between it and execution.
    run.save_bytes("checkpoint", "ckpt-00000005.pt", buf.getvalue(), step=5,
                   meta={"score": 1.0, "feasible": True})
    model = _model(0)
    with pytest.raises(SpecError, match="weights_only") as err:
        Checkpoints(run).load_best(model)
    assert "nothing in it ran" in str(err.value)
    assert not marker.exists() and _same(model, _model(0))
    run.close()


def test_a_checkpoint_of_another_model_changes_nothing(tmp_path: Path) -> None:
    _, run = make_run(tmp_path)
    ckpts = Checkpoints(run)
    ckpts.save(5, _model(5, width=8), score=0.9)
    model = _model(0, width=4)
    with pytest.raises(SpecError, match="shape mismatch"):
        ckpts.load_best(model)
    assert _same(model, _model(0, width=4))
    run.close()


RESUMABLE_TRAIN = '''
import torch
from tunebook import pytorch as tk

def train(config, run):
    seeds = tk.seed_everything(run)
    model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    opt = tk.make_optimizer(model.parameters(), config, run)
    lr_at = tk.make_schedule(config, run)
    gen = seeds.generator()
    ckpts = tk.Checkpoints(run, keep_best=1)
    start = ckpts.resume(model, opt, gen)
    run.record(resumed_from=start)
    x = torch.randn(256, 4, generator=torch.Generator().manual_seed(0))
    y = x.sum(1, keepdim=True)
    for step in range(start + 1, config["max_train_steps"] + 1):
        idx = torch.randint(0, 256, (16,), generator=gen)
        loss = torch.nn.functional.mse_loss(model(x[idx] + 0.1 * torch.randn(16, 4)), y[idx])
        opt.zero_grad()
        loss.backward()
        norm = tk.clip_gradients(model, 5.0)
        lr = tk.set_lr(opt, lr_at(step))
        opt.step()
        run.log(step, train_loss=loss.item(), train_grad_norm=norm, train_lr=lr)
        if run.should_eval(step):
            with torch.no_grad():
                acc = 1.0 / (1.0 + torch.nn.functional.mse_loss(model(x), y).item())
            run.log(step, dev_accuracy=acc, dev_latency_ms=1.0)
            ckpts.save(step, model, opt, gen)
'''


def test_resume_after_a_kill_continues_the_same_curve(tmp_path: Path) -> None:
    config = {"optimizer": "sgd", "lr": 0.05, "schedule": "cosine", "warmup_steps": 5,
              "max_train_steps": 40}
    pdir = write_project(tmp_path / "proj", train_py=RESUMABLE_TRAIN)
    store = Store(tmp_path / "s.db")
    project = load_project(pdir / "tunebook.yaml")  # eval_every 5
    project = project.model_copy(update={"baseline": project.baseline.model_copy(
        update={"config": config})})
    train = load_pipeline(project, pdir)
    ids = []
    for name in ("whole", "killed"):
        record = create_round(store, project, RoundSpec(name=name, question="q", budget=1),
                              kind="baseline")
        ids.append(store.trials(record.id)[0].id)

    def claim(tid: int) -> tuple:
        got = store.claim(store.trial(tid).round_id, "w", 60)
        assert got is not None and got[0].id == tid
        return got

    run_trial(store, *claim(ids[0]), train, pdir)  # the reference: never interrupted

    def killed_at_23(config: dict, run: object) -> None:
        log = run.log  # type: ignore[attr-defined]

        def dying_log(step: int, **metrics: float) -> None:
            log(step, **metrics)
            if step == 23:
                raise WorkerStopped()  # what SIGTERM raises inside a worker

        run.log = dying_log  # type: ignore[attr-defined]
        train(config, run)

    assert run_trial(store, *claim(ids[1]), killed_at_23, pdir).status == "requeued"
    assert store.trial(ids[1]).status == "queued"  # back in the queue, checkpoint of step 20
    run_trial(store, *claim(ids[1]), train, pdir)

    whole, killed = store.trial(ids[0]), store.trial(ids[1])
    assert killed.status == whole.status == "completed" and killed.attempts == 2
    assert killed.meta["resumed_from"] == 20 and whole.meta["resumed_from"] == 0
    assert store.curve(ids[1]) == store.curve(ids[0])  # every metric at every step
    assert sorted(store.curve(ids[1])) == list(range(1, 41))
    assert (killed.best_step, killed.score) == (whole.best_step, whole.score)
