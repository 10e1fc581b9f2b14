"""Checklist ticks come from true evidence that names its record; planted wrong evidence never
ticks an item."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from runbook_support import PROJECT, make_project, with_baseline, with_round

from tunebook.cli.core import _copy_example
from tunebook.core.spec import load_project
from tunebook.runbook.checklist import checklist
from tunebook.store import Store

# A record a reader can open: a trial, round, decision, file, store, or another item (whose own
# evidence names its record).
RECORD = re.compile(r"trials? \d+|round [\w-]+|decision \d+|tunebook\.yaml|study store "
                    r"|tunebook (analyze|diagnose|errors) |\.csv|note|\b\d(\.\d)*\.\w+ done")


def _items(folder: Path, store: Store) -> dict[str, Any]:
    cl = checklist(load_project(folder / "tunebook.yaml"), folder, store)
    return {i.id: i for s in cl.sections for i in s.items}


def test_every_ticked_item_names_the_record_it_came_from(tmp_path: Path) -> None:
    proj = make_project(tmp_path / "p")
    store = Store(proj / "s.db")
    with_baseline(proj, store)
    with_round(proj, store)
    ticked = [i for i in _items(proj, store).values() if i.status == "done"]
    assert len(ticked) >= 30
    for i in ticked:
        assert any(RECORD.search(e) for e in i.evidence), (i.id, i.evidence)


def _planted(tmp_path: Path, record: str = "", config: dict[str, Any] | None = None,
             **project: Any) -> tuple[Path, Store]:
    """The tiny project, its train() recording ``record`` (planted meta) first."""
    proj = make_project(tmp_path / "p", **project)
    if config is not None:
        import yaml

        spec = yaml.safe_load((proj / "tunebook.yaml").read_text())
        spec["baseline"]["config"] = config
        (proj / "tunebook.yaml").write_text(yaml.safe_dump(spec))
    if record:
        src = (proj / "train.py").read_text()
        src = src.replace("def train(config, run):\n",
                          f"def train(config, run):\n    run.record({record})\n")
        (proj / "train.py").write_text(src)
    store = Store(proj / "s.db")
    with_baseline(proj, store)
    return proj, store


def test_the_init_template_goal_is_not_a_business_goal(tmp_path: Path) -> None:
    # Before: the template's goal and success lines ticked 0.business_goal.
    _copy_example(tmp_path)
    item = _items(tmp_path, Store(tmp_path / "s.db"))["0.business_goal"]
    assert item.status == "not_done" and "placeholder" in item.detail
    assert item.evidence == ["tunebook.yaml task.goal and task.success"]


def test_a_config_that_says_constant_is_not_a_constant_lr(tmp_path: Path) -> None:
    # The config names schedule: constant; the recorded lr halved at step 20.
    proj, store = _planted(tmp_path, 'lr_steps={"changes": [[1, 0.01], [20, 0.005]], '
                           '"steps": 40}', config={**PROJECT["baseline"]["config"],
                                                    "schedule": "constant"})
    item = _items(proj, store)["2.4.schedule"]
    assert item.status == "not_done"
    assert any("0.005 from step 20" in e for e in item.evidence)


def test_a_config_listing_lr_is_not_every_optimizer_hyperparameter_logged(tmp_path: Path
                                                                          ) -> None:
    proj, store = _planted(tmp_path, config={"lr": 0.01, "max_train_steps": 40})
    item = _items(proj, store)["2.2.logged"]
    assert item.status == "not_done" and "run.watch" in (item.next or "")


def test_the_optimizer_built_beats_the_optimizer_named(tmp_path: Path) -> None:
    # The config says adamw; train() recorded an LBFGS.
    proj, store = _planted(tmp_path, 'optimizer={"name": "lbfgs", "class": '
                           '"torch.optim.lbfgs.LBFGS", "lr": 1, "source": "watch"}')
    items = _items(proj, store)
    assert items["2.2.optimizer"].status == "not_done"
    assert items["2.2.logged"].status == "done"  # it was recorded, and says so
    assert "lbfgs" in items["2.2.logged"].evidence[0]


def test_a_warmup_train_never_reads_mitigates_nothing(tmp_path: Path) -> None:
    # warmup_steps=5 in the config, but this train() never reads it.
    proj = make_project(tmp_path / "p")
    src = (proj / "train.py").read_text()
    (proj / "train.py").write_text(src.replace('int(config.get("warmup_steps") or 0)', "0"))
    import yaml

    spec = yaml.safe_load((proj / "tunebook.yaml").read_text())
    spec["baseline"]["config"]["warmup_steps"] = 5
    (proj / "tunebook.yaml").write_text(yaml.safe_dump(spec))
    store = Store(proj / "s.db")
    with_baseline(proj, store)
    store.add_decision("stability", "probe unstable",
                       {"trial_id": 1, "round": "stability-r", "probe_unstable": True,
                        "recommended_warmup": None,
                        "clip_threshold": 1.5})
    item = _items(proj, store)["5.2.mitigation"]
    assert item.status == "not_done"
    assert "tk.make_schedule" in (item.next or "") and "clip=1.5" in (item.next or "")
    assert "None" not in (item.next or "")


@pytest.mark.parametrize("warm", [None, 10])
def test_mitigation_never_suggests_none(tmp_path: Path, warm: int | None) -> None:
    # Before: "add warmup_steps=None and/or clip=None to the config".
    proj = make_project(tmp_path / "p")
    store = Store(proj / "s.db")
    with_baseline(proj, store)
    store.add_decision("stability", "probe unstable",
                       {"trial_id": 1, "round": "stability-r", "probe_unstable": True,
                        "recommended_warmup": warm,
                        "clip_threshold": None})
    nxt = _items(proj, store)["5.2.mitigation"].next or ""
    assert "None" not in nxt
    assert ("warmup_steps=10" in nxt) if warm else ("lower the peak lr" in nxt)
