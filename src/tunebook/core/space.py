"""Hyperparameters: their role in a round and their search range, and unit-cube maps.

A round's hyperparameters each have a role: ``target`` (what the round compares; a list of
values), ``nuisance`` (searched anew for every target value) or ``fixed`` (one value). Searchers
work in the unit cube over the nuisance dimensions; ``Space`` maps points to configs.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

Role = Literal["target", "nuisance", "fixed"]
Kind = Literal["float", "int", "choice"]
Scale = Literal["linear", "log"]
# Int bounds beyond 2**53 lose exactness as floats and JSON numbers (and 300-digit bounds do not
# fit the store's integers at all).
MAX_INT_BOUND = 2**53


class Param(BaseModel):
    """One hyperparameter of a round.

    Examples (YAML)::

        lr: {role: nuisance, type: float, low: 1e-4, high: 1e-1, scale: log}
        width: {role: target, values: [16, 32, 64]}
        momentum: {role: fixed, value: 0.9}
        optimizer: {role: nuisance, type: choice, choices: [adam, sgd]}
        momentum: {role: nuisance, type: float, low: 0.8, high: 0.99, when: {optimizer: sgd}}

    ``when`` makes a hyperparameter conditional: it exists only for the target values named,
    so momentum under SGD and beta2 under Adam are each their own hyperparameter, searched only
    where they mean something.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Role
    type: Kind | None = None
    low: float | None = None
    high: float | None = None
    scale: Scale = "linear"
    choices: list[Any] | None = None
    values: list[Any] | None = None
    value: Any = None
    when: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _check(self) -> Param:
        from tunebook.core.errors import SpecError

        for key in ("value", "values", "choices"):
            bad = [x for x in _numbers(getattr(self, key)) if not _storable(x)]
            if bad:
                raise SpecError(key, "finite numbers (ints within +-2**63) that a config can "
                                "hold", bad[0])
        if self.when is not None and (self.role == "target" or not self.when):
            raise SpecError("when", "a non-empty {target: value} mapping on a nuisance or fixed "
                            "hyperparameter", self.when,
                            "A target hyperparameter is compared in every group; it cannot be "
                            "conditional.")
        if self.role == "fixed":
            if self.value is None:
                raise SpecError("value", "a value for a fixed hyperparameter", None)
            if any(x is not None for x in (self.low, self.high, self.choices, self.values)):
                raise SpecError(
                    "role", "a fixed hyperparameter to have only 'value'", "a range or list",
                    "Make it nuisance to search it, or target to compare values.",
                )
            return self
        if self.role == "target":
            if not self.values:
                raise SpecError(
                    "values", "a non-empty list of values to compare for a target hyperparameter",
                    self.values,
                )
            if any(x is not None for x in (self.low, self.high, self.choices, self.value)):
                raise SpecError("role", "a target hyperparameter to have only 'values'",
                                "a range or value")
            repeated = [v for i, v in enumerate(self.values) if v in self.values[:i]]
            if repeated:
                raise SpecError("values", "distinct values (each is one group of the round)",
                                self.values, f"Remove the repeated {repeated[0]!r}.")
            return self
        # nuisance
        kind = self.type or ("choice" if self.choices is not None else None)
        if kind is None:
            raise SpecError("type", "one of 'float', 'int', 'choice' for a nuisance hyperparameter",
                            self.type)
        # A key that means nothing for this type is a mistake the user meant something by
        # (`values` on a float range, `low` on a choice): refuse it rather than ignore it.
        meaningless = {"choice": ("low", "high", "scale", "values", "value"),
                       "float": ("choices", "values", "value"),
                       "int": ("choices", "values", "value")}[kind]
        # Judged by value, not by the keys given: a stored spec is re-read with every key.
        extra = [k for k in meaningless
                 if getattr(self, k) is not None and (k != "scale" or self.scale != "linear")]
        if extra:
            wanted = "'choices'" if kind == "choice" else "'low', 'high' and 'scale'"
            raise SpecError(extra[0], f"only {wanted} on a nuisance {kind} hyperparameter",
                            getattr(self, extra[0]))
        if kind == "choice":
            if not self.choices:
                raise SpecError("choices", "a non-empty list", self.choices)
            return self
        if self.low is None or self.high is None:
            raise SpecError("low/high", "both bounds for a float or int range",
                            {"low": self.low, "high": self.high})
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise SpecError("low/high", "finite bounds", {"low": self.low, "high": self.high})
        if self.low > self.high:
            raise SpecError("low/high", "low <= high", {"low": self.low, "high": self.high})
        if self.scale == "log" and self.low <= 0:
            raise SpecError("low", "low > 0 for a log scale", self.low,
                            "Use scale: linear, or a positive lower bound.")
        if kind == "int" and (self.low != int(self.low) or self.high != int(self.high)):
            raise SpecError("low/high", "integer bounds for type int",
                            {"low": self.low, "high": self.high})
        if kind == "int" and max(abs(self.low), abs(self.high)) > MAX_INT_BOUND:
            raise SpecError("low/high", f"int bounds within +-2**53 ({MAX_INT_BOUND:,})",
                            {"low": self.low, "high": self.high})
        # Every sample must be a finite number: a range whose width (or log-ratio) overflows
        # would map points to inf or nan, stored as null in every config.
        width = (self.high / self.low) if self.scale == "log" else (self.high - self.low)
        ends = [self.from_unit(0.0), self.from_unit(0.5), self.from_unit(1.0)] \
            if math.isfinite(width) else [math.inf]
        if not all(math.isfinite(x) for x in ends):
            raise SpecError("low/high", "a range whose samples are finite numbers "
                            f"({'high / low' if self.scale == 'log' else 'high - low'} "
                            "must not overflow)", {"low": self.low, "high": self.high})
        return self

    def applies(self, group: dict[str, Any]) -> bool:
        """Whether this hyperparameter exists for the target ``group`` (see ``when``)."""
        if not self.when:
            return True
        for name, wanted in self.when.items():
            options = wanted if isinstance(wanted, list) else [wanted]
            if name not in group or group[name] not in options:
                return False
        return True

    @property
    def kind(self) -> Kind:
        return self.type or ("choice" if self.choices is not None else "float")

    def from_unit(self, u: float) -> Any:
        """Map ``u`` in [0, 1) to a value: log params as ``low * exp(u * log(high / low))``."""
        u = min(max(float(u), 0.0), 1.0 - 1e-12)
        if self.kind == "choice":
            assert self.choices is not None
            return self.choices[int(u * len(self.choices))]
        assert self.low is not None and self.high is not None
        if self.kind == "int":
            lo, hi = int(self.low), int(self.high)
            if self.scale == "log":
                # Sample over [lo - 0.5, hi + 0.5) in log space so each integer gets its share.
                a, b = math.log(lo - 0.5 if lo > 1 else max(lo - 0.5, 0.5)), math.log(hi + 0.5)
                return int(min(max(round(math.exp(a + u * (b - a))), lo), hi))
            return int(min(lo + math.floor(u * (hi - lo + 1)), hi))
        if self.scale == "log":
            return float(self.low * math.exp(u * math.log(self.high / self.low)))
        return float(self.low + u * (self.high - self.low))

    def to_unit(self, value: Any) -> float:
        """Inverse of ``from_unit`` (the centre of the value's cell for int and choice)."""
        if self.kind == "choice":
            assert self.choices is not None
            return (self.choices.index(value) + 0.5) / len(self.choices)
        assert self.low is not None and self.high is not None
        if self.high == self.low:
            return 0.5
        if self.kind == "int":
            lo, hi = int(self.low), int(self.high)
            if self.scale == "log":
                a, b = math.log(lo - 0.5 if lo > 1 else max(lo - 0.5, 0.5)), math.log(hi + 0.5)
                return (math.log(value) - a) / (b - a)
            return (int(value) - lo + 0.5) / (hi - lo + 1)
        if self.scale == "log":
            return math.log(value / self.low) / math.log(self.high / self.low)
        return (float(value) - self.low) / (self.high - self.low)


def _numbers(x: Any) -> list[Any]:
    if isinstance(x, list):
        return [y for v in x for y in _numbers(v)]
    if isinstance(x, dict):
        return [y for v in x.values() for y in _numbers(v)]
    return [x] if isinstance(x, int | float) and not isinstance(x, bool) else []


def _storable(x: int | float) -> bool:
    return abs(x) < 2**63 if isinstance(x, int) else math.isfinite(x)


class Space:
    """The search space of a round: fixed values, target combinations and nuisance dimensions."""

    def __init__(self, params: dict[str, Param]) -> None:
        self.params = dict(params)
        self.fixed = {k: p.value for k, p in params.items() if p.role == "fixed"}
        self.targets = {k: list(p.values or []) for k, p in params.items() if p.role == "target"}
        self.nuisance = {k: p for k, p in params.items() if p.role == "nuisance"}
        # Where each nuisance dimension sits in the round's full nuisance list: a group's space
        # drops conditional dimensions but keeps the others' slots, so quasi-random points stay
        # paired across target groups.
        self.slots: list[int] = list(range(len(self.nuisance)))
        self.full_dim = len(self.nuisance)

    @property
    def dim(self) -> int:
        return len(self.nuisance)

    def for_group(self, group: dict[str, Any]) -> Space:
        """The space one target group searches: the hyperparameters whose ``when`` matches.

        >>> s = Space({"opt": Param(role="target", values=["sgd", "adam"]),
        ...            "momentum": Param(role="nuisance", type="float", low=0.8, high=0.99,
        ...                              when={"opt": "sgd"})})
        >>> s.for_group({"opt": "adam"}).dim, s.for_group({"opt": "sgd"}).dim
        (0, 1)
        """
        names = list(self.nuisance)
        sub = Space({k: p for k, p in self.params.items() if p.applies(group)})
        sub.slots = [self.slots[names.index(k)] for k in sub.nuisance]
        sub.full_dim = self.full_dim
        return sub

    def target_groups(self) -> list[dict[str, Any]]:
        """Every combination of target values; ``[{}]`` when the round has no target."""
        names = list(self.targets)
        return [dict(zip(names, combo, strict=True))
                for combo in itertools.product(*(self.targets[n] for n in names))]

    def config(self, group: dict[str, Any], unit_point: list[float]) -> dict[str, Any]:
        """The hyperparameters of one trial: fixed, then the group's targets, then nuisance."""
        if len(unit_point) != self.dim:
            raise ValueError(f"point has {len(unit_point)} coordinates, space has {self.dim}")
        out = dict(self.fixed)
        out.update(group)
        for (name, p), u in zip(self.nuisance.items(), unit_point, strict=True):
            out[name] = p.from_unit(u)
        return out

    def check_config(self, entry: dict[str, Any], where: str) -> None:
        """A hand-picked config must lie in this space: targets among their values, fixed
        ones at their value, nuisance values in range (or among the choices)."""
        from tunebook.core.errors import SpecError

        if not isinstance(entry, dict) or not entry:
            raise SpecError(where, "a {hyperparameter: value} mapping", entry)
        for name, v in entry.items():
            p = self.params.get(name)
            if p is None:
                import difflib

                near = difflib.get_close_matches(name, list(self.params), n=1)
                raise SpecError(f"{where}.{name}", f"a hyperparameter of the round among "
                                f"{sorted(self.params)}", name,
                                f"Did you mean '{near[0]}'?" if near else "")
            if p.role == "target" and v not in (p.values or []):
                raise SpecError(f"{where}.{name}", f"one of the target values {p.values}", v)
            if p.role == "fixed" and v != p.value:
                raise SpecError(f"{where}.{name}", f"the fixed value {p.value!r}", v)
            if p.role == "nuisance":
                if p.kind == "choice":
                    if v not in (p.choices or []):
                        raise SpecError(f"{where}.{name}", f"one of {p.choices}", v)
                    continue
                assert p.low is not None and p.high is not None
                ok = isinstance(v, int | float) and not isinstance(v, bool) and (
                    p.kind == "float" or float(v).is_integer())
                if not ok or not p.low <= v <= p.high:
                    kind = "an int" if p.kind == "int" else "a number"
                    raise SpecError(f"{where}.{name}", f"{kind} in [{p.low:g}, {p.high:g}]", v)
        group_names = [k for k, p in self.params.items() if p.role == "target" and k in entry]
        group = {k: entry[k] for k in group_names}
        missing = [k for k, p in self.nuisance.items()
                   if k not in entry and (set(p.when or {}) <= set(group)) and p.applies(group)]
        if missing:
            raise SpecError(where, f"a value for every nuisance hyperparameter ({missing} "
                            "missing)", entry)

    def unit_point(self, config: dict[str, Any]) -> list[float]:
        return [p.to_unit(config[name]) for name, p in self.nuisance.items()]
