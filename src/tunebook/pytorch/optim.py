"""Well-established optimizers built from a config block, every hyperparameter recorded.

The config is the trial's flat dict (``optimizer: adamw, lr: 3e-4, weight_decay: 0.01``) or a
nested block (``optimizer: {name: adamw, lr: 3e-4}``). Keys not given keep the community
defaults, and those defaults are recorded with the trial too (checklist 2.2: log all optimizer
hyperparameters, not only the ones you set).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from tunebook.core.errors import SpecError
from tunebook.pytorch.fields import choice, number
from tunebook.workers.run import optimizer_record

if TYPE_CHECKING:
    from tunebook.core.handle import RunHandle


@dataclass(frozen=True)
class _Kind:
    build: Callable[..., torch.optim.Optimizer]
    keys: frozenset[str]                 # config keys this optimizer understands
    defaults: Mapping[str, Any]          # tunebook's defaults where torch's differ from practice


_ADAM_KEYS = frozenset({"lr", "beta1", "beta2", "eps", "weight_decay"})

OPTIMIZERS: dict[str, _Kind] = {
    # torch's SGD defaults to momentum 0; "SGD + momentum" in practice means 0.9.
    "sgd": _Kind(torch.optim.SGD, frozenset({"lr", "momentum", "nesterov", "weight_decay"}),
                 {"momentum": 0.9, "nesterov": False}),
    "nesterov": _Kind(torch.optim.SGD, frozenset({"lr", "momentum", "weight_decay"}),
                      {"momentum": 0.9, "nesterov": True}),
    "adam": _Kind(torch.optim.Adam, _ADAM_KEYS, {}),
    "adamw": _Kind(torch.optim.AdamW, _ADAM_KEYS, {}),
    "nadam": _Kind(torch.optim.NAdam, _ADAM_KEYS, {}),
    "adafactor": _Kind(torch.optim.Adafactor,
                       frozenset({"lr", "beta2_decay", "eps", "weight_decay"}), {}),
}
# Every key some optimizer reads: a config key in this set that the chosen optimizer ignores
# is reported (a round may vary the optimizer and keep e.g. momentum fixed).
OPTIMIZER_KEYS = frozenset().union(*(k.keys for k in OPTIMIZERS.values())) | {"optimizer"}


def make_optimizer(params: Iterable[Any], config: Mapping[str, Any],
                   run: RunHandle | None = None) -> torch.optim.Optimizer:
    """The optimizer the config names, with its hyperparameters recorded on ``run``.

    Valid names: sgd (momentum 0.9), nesterov, adam, adamw, nadam, adafactor. ``lr`` is
    required and must be > 0; betas come as ``beta1``/``beta2``.

    >>> model = torch.nn.Linear(2, 1)
    >>> opt = make_optimizer(model.parameters(), {"optimizer": "adamw", "lr": 1e-3})
    >>> optimizer_hparams(opt)["betas"], optimizer_hparams(opt)["weight_decay"]
    ([0.9, 0.999], 0.01)
    """
    name, block, where = _block(config)
    kind = OPTIMIZERS[name]
    # Membership tests, never a walk over the config: train()'s config notes the keys read, and
    # only the keys this optimizer uses are read.
    ignored = sorted(k for k in OPTIMIZER_KEYS - kind.keys - {"optimizer", "name"} if k in block)
    if ignored:
        warnings.warn(f"optimizer {name} does not use {ignored}; they are ignored",
                      stacklevel=2)
    kwargs = _kwargs(name, kind, block, where)
    opt = kind.build(params, **kwargs)
    opt.tunebook_name = name  # type: ignore[attr-defined]  # read by optimizer_hparams
    if run is not None:
        record = {**optimizer_hparams(opt), "source": "kit"}
        if ignored:
            record["ignored"] = ignored
        run.record(optimizer=record)
        watch = getattr(run, "watch", None)
        if callable(watch):  # the lr of every step, so the schedule really used is on record
            watch(opt, record_hparams=False)
    return opt


def optimizer_hparams(opt: torch.optim.Optimizer) -> dict[str, Any]:
    """Every hyperparameter of ``opt`` (defaults included), JSON-ready.

    >>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
    >>> optimizer_hparams(opt)["momentum"]
    0
    """
    return optimizer_record(opt)


def _block(config: Mapping[str, Any]) -> tuple[str, Mapping[str, Any], str]:
    raw = config.get("optimizer")
    if isinstance(raw, Mapping):  # nested block: strict, it holds nothing else
        where = "config.optimizer"
        unknown = sorted(set(raw) - OPTIMIZER_KEYS - {"name"})
        if unknown:
            raise SpecError(f"{where}.{unknown[0]}",
                            f"a known key ({', '.join(sorted(OPTIMIZER_KEYS - {'optimizer'}))})",
                            unknown[0], "Unknown keys are errors.")
        raw_name: Any = raw.get("name")
        block: Mapping[str, Any] = raw
        name_where = f"{where}.name"
    else:
        where, raw_name, block, name_where = "config", raw, config, "config.optimizer"
    if raw_name is None:
        raise SpecError(name_where, f"one of {sorted(OPTIMIZERS)}", None,
                        "Name the optimizer in the config (e.g. optimizer: adamw).")
    return choice(raw_name, OPTIMIZERS, name_where), block, where


def _kwargs(name: str, kind: _Kind, block: Mapping[str, Any], where: str) -> dict[str, Any]:
    if block.get("lr") is None:
        raise SpecError(f"{where}.lr", "a number > 0", None,
                        "The learning rate has no safe default: set it (and tune it).")
    merged = {**kind.defaults, **{k: block[k] for k in kind.keys if k in block}}
    out: dict[str, Any] = {"lr": number(merged, "lr", low=0, low_open=True, where=where)}
    if "weight_decay" in merged:
        out["weight_decay"] = number(merged, "weight_decay", low=0, where=where)
    if name in ("sgd", "nesterov"):
        out["momentum"] = number(merged, "momentum", low=0, high=1, high_open=True, where=where)
        nesterov = merged.get("nesterov", False)
        if not isinstance(nesterov, bool):
            raise SpecError(f"{where}.nesterov", "true or false", nesterov)
        if nesterov and not out["momentum"]:
            raise SpecError(f"{where}.momentum", "a number in (0, 1) with Nesterov", 0)
        out["nesterov"] = nesterov
    elif name == "adafactor":
        if "beta2_decay" in merged:
            out["beta2_decay"] = number(merged, "beta2_decay", high=0, where=where)
        if "eps" in merged:  # torch's eps is (eps1 for the update, eps2 for the scale)
            out["eps"] = (None, number(merged, "eps", low=0, low_open=True, where=where))
    else:
        b1 = number(merged, "beta1", 0.9, low=0, high=1, high_open=True, where=where)
        b2 = number(merged, "beta2", 0.999, low=0, high=1, high_open=True, where=where)
        out["betas"] = (b1, b2)
        if "eps" in merged:
            out["eps"] = number(merged, "eps", low=0, low_open=True, where=where)
    return out
