"""What ``train()`` really did with its config: the keys it read, the optimizer and the lr it used.

A config key that ``train()`` never reads changes nothing, so no judgement may tick, propose or
scan it. The executor hands ``train()`` a :class:`TrackedConfig` (a dict that notes which keys
were read) and records the reads in the trial's ``meta``; the optimizer's hyperparameters and
the lr at each optimizer step come from the kit (``tk.make_optimizer``, ``tk.make_schedule``) or
from ``run.watch(optimizer)`` in a plain PyTorch script. :func:`train_usage` reads all of it back
as one typed record; every judgement asks it rather than the trial's meta.

>>> cfg = TrackedConfig({"lr": 0.1, "warmup_steps": 10})
>>> cfg["lr"], cfg.reads().read
(0.1, ('lr',))
>>> train_usage_from_meta({"config_reads": cfg.reads().to_meta()}).ignores("warmup_steps")
True
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tunebook.core.score import SPLITS, formula_name, metric_key

# Meta keys written by the executor, the Run handle and the kit.
READS_KEY = "config_reads"
OPTIMIZER_KEY = "optimizer"
SCHEDULE_KEY = "schedule"
LR_KEY = "lr_steps"
UNDECLARED_KEY = "undeclared_metrics"

_MISSING = object()


class TrackedConfig(dict):  # type: ignore[type-arg]
    """The trial's config as ``train()`` sees it: a plain dict that notes the keys read.

    ``config[k]``, ``config.get(k)``, ``k in config``, ``config.pop(k)`` and
    ``config.setdefault(k)`` count as a read of ``k`` (present or not: a script that asks for
    ``warmup_steps`` and falls back to a default does honour it). Walking the whole mapping
    (``dict(config)``, ``{**config}``, ``items()``, ``for k in config``) counts as reading
    everything, since the keys may be used anywhere after: such a trial never claims a key was
    ignored.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read: set[str] = set()
        self._wholesale = False

    def __getitem__(self, key: Any) -> Any:
        self._read.add(str(key))
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None) -> Any:
        self._read.add(str(key))
        return super().get(key, default)

    def pop(self, key: Any, default: Any = _MISSING) -> Any:
        self._read.add(str(key))
        return super().pop(key) if default is _MISSING else super().pop(key, default)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self._read.add(str(key))
        return super().setdefault(key, default)

    def __contains__(self, key: object) -> bool:
        self._read.add(str(key))  # asking for a key is looking at it: a default may follow
        return super().__contains__(key)

    def __iter__(self) -> Iterator[Any]:
        self._wholesale = True
        return super().__iter__()

    def keys(self) -> Any:
        self._wholesale = True
        return super().keys()

    def items(self) -> Any:
        self._wholesale = True
        return super().items()

    def values(self) -> Any:
        self._wholesale = True
        return super().values()

    def copy(self) -> dict[str, Any]:
        self._wholesale = True
        return dict(super().items())

    def peek(self, key: str, default: Any = None) -> Any:
        """The value without counting a read (for tunebook's own bookkeeping)."""
        return super().get(key, default)

    def reads(self) -> ConfigReads:
        keys = {str(k) for k in dict.keys(self)}
        return ConfigReads(tuple(sorted(self._read)), self._wholesale, tuple(sorted(keys)))


@dataclass(frozen=True)
class ConfigReads:
    """Which of the config's keys ``train()`` read (``wholesale``: it walked the whole config)."""

    read: tuple[str, ...]
    wholesale: bool = False
    keys: tuple[str, ...] = ()

    def ignores(self, key: str) -> bool:
        """True only when ``train()`` certainly never read ``key``."""
        return not self.wholesale and key not in self.read

    @property
    def ignored(self) -> tuple[str, ...]:
        return () if self.wholesale else tuple(k for k in self.keys if k not in self.read)

    def to_meta(self) -> dict[str, Any]:
        return {"read": list(self.read), "wholesale": self.wholesale, "keys": list(self.keys)}


@dataclass(frozen=True)
class OptimizerUsage:
    """The optimizer as it was built: every hyperparameter, defaults included."""

    name: str
    hparams: dict[str, Any]
    source: Literal["kit", "watch"]


@dataclass(frozen=True)
class LrUsage:
    """The lr the optimizer really used: ``changes`` holds ``(optimizer step, lr)`` at the first
    step and wherever it changed (param group 0), so a constant lr is one entry."""

    changes: tuple[tuple[int, float], ...]
    steps: int

    @property
    def constant(self) -> bool:
        return len({round(v, 15) for _, v in self.changes}) <= 1

    @property
    def peak(self) -> float | None:
        return max((v for _, v in self.changes), default=None)


@dataclass(frozen=True)
class ScheduleUsage:
    """The schedule the kit built (``tk.make_schedule``): name, peak lr, warmup, length."""

    name: str
    lr: float
    warmup_steps: int
    total_steps: int | None

    @property
    def constant(self) -> bool:
        return self.name == "constant" and not self.warmup_steps


@dataclass(frozen=True)
class TrainUsage:
    """What one trial's ``train()`` did with its config; ``None`` parts were not recorded."""

    trial_id: int | None
    reads: ConfigReads | None
    optimizer: OptimizerUsage | None
    schedule: ScheduleUsage | None
    lr: LrUsage | None
    undeclared_metrics: dict[str, str | None]

    def ignores(self, key: str) -> bool:
        """``train()`` certainly never read ``key`` (False when the reads were not recorded)."""
        return self.reads is not None and self.reads.ignores(key)

    @property
    def lr_constant(self) -> bool | None:
        """True/False from the recorded lr per step (else the kit's schedule); None: unknown."""
        if self.lr is not None and self.lr.changes:
            return self.lr.constant
        if self.schedule is not None:
            return self.schedule.constant
        return None

    @property
    def has_warmup(self) -> bool | None:
        """Whether the lr ramped up over its first steps (None: unknown)."""
        if self.lr is not None and len(self.lr.changes) >= 2:
            first, second = self.lr.changes[0][1], self.lr.changes[1][1]
            return second > first
        if self.schedule is not None:
            return self.schedule.warmup_steps > 0
        return None


def train_usage_from_meta(meta: Mapping[str, Any], trial_id: int | None = None) -> TrainUsage:
    """The typed reading of a trial's ``meta`` (tolerant of what older trials lack)."""
    raw = meta.get(READS_KEY)
    reads = None
    if isinstance(raw, Mapping):
        reads = ConfigReads(tuple(str(k) for k in raw.get("read") or ()),
                            bool(raw.get("wholesale")),
                            tuple(str(k) for k in raw.get("keys") or ()))
    opt = None
    o = meta.get(OPTIMIZER_KEY)
    if isinstance(o, Mapping) and o.get("name"):
        source: Literal["kit", "watch"] = "watch" if o.get("source") == "watch" else "kit"
        opt = OptimizerUsage(str(o["name"]), {k: v for k, v in o.items()
                                              if k not in ("name", "source")}, source)
    sched = None
    s = meta.get(SCHEDULE_KEY)
    if isinstance(s, Mapping) and s.get("name"):
        total = s.get("total_steps")
        sched = ScheduleUsage(str(s["name"]), float(s.get("lr") or math.nan),
                              int(s.get("warmup_steps") or 0),
                              int(total) if isinstance(total, int) else None)
    lr = None
    lr_raw = meta.get(LR_KEY)
    if isinstance(lr_raw, Mapping) and lr_raw.get("changes"):
        lr = LrUsage(tuple((int(a), float(b)) for a, b in lr_raw["changes"]),
                     int(lr_raw.get("steps") or 0))
    und = meta.get(UNDECLARED_KEY)
    undeclared = {str(k): (None if v is None else str(v))
                  for k, v in (und.items() if isinstance(und, Mapping) else ())}
    return TrainUsage(trial_id, reads, opt, sched, lr, undeclared)


def train_usage(trial: Any) -> TrainUsage:
    """The typed :class:`TrainUsage` of a :class:`~tunebook.core.trial.TrialRecord`."""
    return train_usage_from_meta(trial.meta or {}, trial.id)


def ignored_by_all(trials: list[Any], key: str) -> list[int]:
    """Ids of the trials whose ``train()`` recorded its reads and never read ``key``; empty when
    any trial read it (or walked its whole config)."""
    out: list[int] = []
    for t in trials:
        u = train_usage(t)
        if u.reads is None:
            continue
        if not u.reads.ignores(key):
            return []
        out.append(t.id)
    return out


# -- the metrics contract ----------------------------------------------------------------------

# Split prefixes that other tools use for tunebook's splits.
SPLIT_ALIASES: dict[str, str] = {"val": "dev", "valid": "dev", "validation": "dev",
                                 "eval": "dev", "tr": "train", "trn": "train", "tst": "test"}
# Curves the kit and the analyses read although projects rarely declare them.
CONVENTIONAL = frozenset({"train/loss", "train/grad_norm", "train/lr"})


def nearest_declared(name: str, declared: set[str] | frozenset[str]) -> str | None:
    """The declared metric ``name`` most likely meant, as ``run.log`` spells it (``dev_x``).

    A ``val_``/``valid_``/``eval_`` prefix is read as ``dev_`` first.

    >>> nearest_declared("val_accuracy", {"dev/accuracy", "dev/loss"})
    'dev_accuracy'
    >>> nearest_declared("dev_acuracy", {"dev/accuracy"})
    'dev_accuracy'
    """
    options = sorted(declared)
    head, _, rest = name.partition("_")
    if rest and head.lower() in SPLIT_ALIASES:
        guess = f"{SPLIT_ALIASES[head.lower()]}/{rest}"
        if guess in declared:
            return formula_name(guess)
        found = difflib.get_close_matches(guess, options, n=1, cutoff=0.75)
        if found:
            return formula_name(found[0])
    found = difflib.get_close_matches(metric_key(name), options, n=1, cutoff=0.6)
    return formula_name(found[0]) if found else None


def undeclared_warning(name: str, declared: set[str] | frozenset[str]) -> tuple[bool, str | None,
                                                                                 str]:
    """``(warn, nearest, message)`` for a logged metric that ``tunebook.yaml`` does not declare.

    A name with no split prefix can never be scored or diagnosed, so it always warns; a
    ``split_name`` metric warns only when it is a near miss of a declared one (``train_lr``
    and other extra curves are welcome).
    """
    key = metric_key(name)
    near = nearest_declared(name, declared)
    has_split = "/" in key and key.split("/", 1)[0] in SPLITS
    close = near is not None and difflib.SequenceMatcher(
        None, key, metric_key(near)).ratio() >= 0.85
    # <split>/examples is the eval set's size, read by the curve-noise rule: never a typo.
    conventional = key in CONVENTIONAL or (has_split and key.split("/", 1)[1] == "examples")
    warn = not has_split or (close and not conventional)
    hint = f"did you mean {near}?" if near else f"declared: {', '.join(sorted(declared))}"
    message = (f"run.log: metric {name!r} is not declared in tunebook.yaml metrics ({hint}); "
               "it is recorded but no score, constraint or diagnosis reads it")
    return warn, near, message
