"""Optimizers from config: every name, every hyperparameter recorded, bad input refused."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from kit_support import make_run

torch = pytest.importorskip("torch")

from tunebook.core.errors import MissingExtraError, SpecError  # noqa: E402
from tunebook.pytorch import (  # noqa: E402
    OPTIMIZERS,
    check_config,
    make_optimizer,
    optimizer_hparams,
)


def _params() -> list[torch.nn.Parameter]:
    return list(torch.nn.Linear(3, 2).parameters())


@pytest.mark.parametrize(("name", "cls"), [
    ("sgd", torch.optim.SGD), ("nesterov", torch.optim.SGD), ("adam", torch.optim.Adam),
    ("adamw", torch.optim.AdamW), ("nadam", torch.optim.NAdam),
    ("adafactor", torch.optim.Adafactor),
])
def test_every_name_builds_its_optimizer(name: str, cls: type) -> None:
    opt = make_optimizer(_params(), {"optimizer": name, "lr": 0.01})
    assert type(opt) is cls
    assert optimizer_hparams(opt)["name"] == name
    assert set(OPTIMIZERS) == {"sgd", "nesterov", "adam", "adamw", "nadam", "adafactor"}


def test_defaults_are_recorded_with_the_trial(tmp_path: Path) -> None:
    store, run = make_run(tmp_path)
    make_optimizer(_params(), {"optimizer": "AdamW", "lr": "3e-4", "width": 8}, run)
    rec = store.trial(run.trial_id).meta["optimizer"]
    # Left at their defaults, and still recorded: betas, eps, weight decay.
    assert rec["name"] == "adamw" and rec["class"] == "torch.optim.adamw.AdamW"
    assert rec["lr"] == 3e-4 and rec["betas"] == [0.9, 0.999] and rec["eps"] == 1e-8
    assert rec["weight_decay"] == 0.01 and rec["amsgrad"] is False
    assert "foreach" not in rec  # an implementation switch, not a hyperparameter


def test_sgd_uses_momentum_09_and_nesterov() -> None:
    sgd = optimizer_hparams(make_optimizer(_params(), {"optimizer": "sgd", "lr": 0.1}))
    assert sgd["momentum"] == 0.9 and sgd["nesterov"] is False
    nes = optimizer_hparams(make_optimizer(_params(), {"optimizer": "nesterov", "lr": 0.1,
                                                       "momentum": 0.95}))
    assert nes["momentum"] == 0.95 and nes["nesterov"] is True
    plain = optimizer_hparams(make_optimizer(_params(), {"optimizer": "sgd", "lr": 0.1,
                                                         "momentum": 0.0}))
    assert plain["momentum"] == 0.0


def test_betas_eps_and_adafactor_keys() -> None:
    adam = optimizer_hparams(make_optimizer(_params(), {
        "optimizer": "adam", "lr": 1e-3, "beta1": 0.8, "beta2": 0.95, "eps": 1e-6,
        "weight_decay": 0.1}))
    assert (adam["betas"], adam["eps"], adam["weight_decay"]) == ([0.8, 0.95], 1e-6, 0.1)
    ada = optimizer_hparams(make_optimizer(_params(), {
        "optimizer": "adafactor", "lr": 1e-2, "eps": 1e-4, "beta2_decay": -0.5}))
    assert ada["eps"] == [None, 1e-4] and ada["beta2_decay"] == -0.5


def test_nested_block_is_strict() -> None:
    opt = make_optimizer(_params(), {"optimizer": {"name": "nadam", "lr": 2e-3}})
    assert type(opt) is torch.optim.NAdam and opt.defaults["lr"] == 2e-3
    with pytest.raises(SpecError, match="config.optimizer.lrr"):
        make_optimizer(_params(), {"optimizer": {"name": "adam", "lrr": 1e-3}})


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(SpecError) as err:
        make_optimizer(_params(), {"optimizer": "adamm", "lr": 0.1})
    text = str(err.value)
    assert "config.optimizer" in text and "'adafactor'" in text and "'sgd'" in text
    assert "Did you mean 'adam'" in text
    with pytest.raises(SpecError, match="config.optimizer"):
        make_optimizer(_params(), {"lr": 0.1})


@pytest.mark.parametrize("lr", [0, -0.1, "fast", float("nan"), True, None])
def test_bad_lr_is_refused(lr: object) -> None:
    with pytest.raises(SpecError, match=r"config\.lr: expected a number > 0"):
        make_optimizer(_params(), {"optimizer": "adam", "lr": lr})


@pytest.mark.parametrize(("key", "value"), [
    ("weight_decay", -1), ("momentum", 1.0), ("beta2", 1.5), ("eps", 0), ("nesterov", "yes"),
])
def test_bad_hyperparameters_are_refused(key: str, value: object) -> None:
    name = "sgd" if key in ("momentum", "nesterov") else "adam"
    with pytest.raises(SpecError, match=key):
        make_optimizer(_params(), {"optimizer": name, "lr": 0.1, key: value})


def test_keys_the_optimizer_ignores_are_reported(tmp_path: Path) -> None:
    store, run = make_run(tmp_path)
    with pytest.warns(UserWarning, match="does not use"):
        make_optimizer(_params(), {"optimizer": "adam", "lr": 0.1, "momentum": 0.9}, run)
    assert store.trial(run.trial_id).meta["optimizer"]["ignored"] == ["momentum"]


def test_import_without_torch_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "tunebook.pytorch" or
                 m.startswith("tunebook.pytorch.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    with pytest.raises(MissingExtraError, match=r"pip install 'tunebook\[torch\]'"):
        import tunebook.pytorch  # noqa: F401


@pytest.mark.parametrize(("config", "where"), [
    ({"optimizer": "adamx", "lr": 0.1}, "config.optimizer"),
    ({"optimizer": "adam", "lr": -1}, "config.lr"),
    ({"optimizer": "adam", "lr": 0.1, "schedule": "cosine", "max_train_steps": 10,
      "warmup_steps": 20}, "warmup_steps"),
    ({"optimizer": "adam", "lr": 0.1, "clip": 0}, "config.clip"),
    ({"optimizer": "adam", "lr": 0.1, "batch_size": 8, "eval_batch_size": 4},
     "eval_batch_size"),
])
def test_check_config_refuses_what_a_trial_would(config: dict, where: str) -> None:
    with pytest.raises(SpecError, match=where):
        check_config(config)
    check_config({"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "beta1": 0.9})
