"""Project and round specs: typed, frozen, unknown keys refused with the nearest valid key.

``load_project("tunebook.yaml")`` and ``load_round("round.yaml", project)`` turn YAML into frozen
pydantic models and check every cross-reference (metrics, splits, formula names, pipeline entry)
before any worker starts.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import importlib.util
import math
import sys
import types
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from tunebook.core.command import CommandPipeline
from tunebook.core.errors import SpecError
from tunebook.core.score import (
    SPLITS,
    Formula,
    Goal,
    Scorer,
    metric_key,
    parse_constraint,
    parse_formula,
)
from tunebook.core.space import Param, Space
from tunebook.core.yamlio import load_yaml

# Seeds feed every RNG (NumPy's legacy RandomState takes < 2**32) and the store's 64-bit ints.
MAX_SEED = 2**32 - 1
# A round name is a folder under the artifact root and a 200-character column: 100 keeps every
# artifact path well inside a file name's 255 bytes.
MAX_ROUND_NAME = 100
# Trials are queued up front (quasi-random); a budget beyond these is a typo, not a plan, and
# would make `round new` write millions of rows.
MAX_BUDGET = 10_000
MAX_ROUND_TRIALS = 100_000

TaskType = Literal["classification", "regression", "detection", "sequence", "other"]
Algorithm = Literal["quasi_random", "random", "bayesian", "explore_exploit"]
PromotionMode = Literal["synchronous", "asynchronous"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Task(_Frozen):
    type: TaskType
    goal: str = Field(description="the business goal, in a sentence")
    success: str = Field("", description="the success criteria, e.g. 'dev accuracy >= 0.97'")
    target_error: float | None = Field(
        None, ge=0, le=1,
        description="human-level or Bayes error estimate, used to measure avoidable bias")


class Metric(_Frozen):
    name: str
    split: str
    goal: Goal

    @field_validator("split")
    @classmethod
    def _split(cls, v: str) -> str:
        if v not in SPLITS:
            raise SpecError("split", f"one of {list(SPLITS)}", v, _near(v, list(SPLITS)))
        return v

    @property
    def key(self) -> str:
        return f"{self.split}/{self.name}"


class ScoreSpec(_Frozen):
    formula: str
    goal: Goal


class Architecture(_Frozen):
    family: str
    size: str = "small"
    version: str = "1"


class Baseline(_Frozen):
    architecture: Architecture | None = None
    config: dict[str, Any] = Field(default_factory=dict)


class Promotion(_Frozen):
    """How a candidate earns promotion to baseline (checklist 3.4)."""

    min_gain: float = Field(0.0, ge=0, description="the smallest score gain worth adopting "
                            "(practical threshold, in score units)")
    seeds: int = Field(5, ge=2, description="seeds per arm when re-training candidate and "
                       "baseline")
    confidence: float = Field(0.95, gt=0.5, lt=1, description="level of the two-sided Welch "
                              "interval whose lower end must exceed 0")


class DataSpec(_Frozen):
    """Where the examples are and how to split them (``tunebook data split``)."""

    file: str = Field(description="CSV or Parquet table, relative to the project folder")
    id: str = "id"
    label: str = "label"
    group: str | None = Field(None, description="rows of one group stay in one split")
    source: str | None = Field(None, description="column saying where each row comes from")
    deployment: list[str | int] = Field(
        default_factory=list,
        description="values of `source` that mark the deployment distribution (dev, test)")
    fractions: dict[str, float] = Field(
        default_factory=lambda: {"train": 0.7, "train_dev": 0.1, "dev": 0.1, "test": 0.1})
    stratify: bool = True
    seed: int = Field(0, ge=0, le=MAX_SEED)
    features: list[str] | None = Field(
        None, description="feature columns for the report and mismatch check (default: rest)")

    @field_validator("fractions")
    @classmethod
    def _fractions(cls, v: dict[str, float]) -> dict[str, float]:
        return split_fractions(v)


def split_fractions(fractions: dict[str, float]) -> dict[str, float]:
    """All four splits with fractions in [0, 1] summing to 1; train and dev non-empty."""
    unknown = sorted(set(fractions) - set(SPLITS))
    if unknown:
        raise SpecError("fractions", f"keys among {list(SPLITS)}", unknown,
                        _near(unknown[0], list(SPLITS)))
    full = {s: float(fractions.get(s, 0.0)) for s in SPLITS}
    bad = {s: f for s, f in full.items() if not 0 <= f <= 1}
    if bad:
        raise SpecError("fractions", "fractions between 0 and 1", bad)
    total = sum(full.values())
    if abs(total - 1) > 1e-6:
        raise SpecError("fractions", "fractions that sum to 1", f"{full} (sum {total:.6g})",
                        "Adjust them so they add up to 1.")
    if full["train"] <= 0 or full["dev"] <= 0:
        raise SpecError("fractions", "train > 0 and dev > 0", full)
    return full


class CheckpointPolicy(_Frozen):
    """Which checkpoints each trial keeps when it finishes (``tunebook gc`` frees the rest)."""

    keep_best: int = Field(2, ge=0, description="the N best-scoring checkpoints per trial")
    keep_latest: bool = Field(True, description="also the latest (a re-queued trial resumes "
                              "from it)")


class ProjectSpec(_Frozen):
    """The contents of ``tunebook.yaml``."""

    name: str
    task: Task
    metrics: list[Metric] = Field(min_length=1)
    constraints: list[str] = Field(default_factory=list)
    score: str | ScoreSpec
    pipeline: str | CommandPipeline = Field(
        description="module:function importable from the project folder, or {command: ...}")
    eval_every: int = Field(100, gt=0, le=10**12)
    seed: int = Field(0, ge=0, le=MAX_SEED)
    trial_timeout_s: float | None = Field(
        None, gt=0, le=30 * 86_400, description="default time limit of one trial, seconds")
    no_progress_timeout_s: float | None = Field(
        None, gt=0, le=30 * 86_400,
        description="default limit on seconds without a run.log before a trial fails")
    baseline: Baseline = Field(default_factory=Baseline)
    promotion: Promotion = Field(default_factory=Promotion)
    notes: dict[str, str] = Field(default_factory=dict)
    data: DataSpec | None = None
    checkpoints: CheckpointPolicy = Field(default_factory=CheckpointPolicy)

    @field_validator("pipeline", mode="before")
    @classmethod
    def _pipeline(cls, v: Any) -> Any:
        if isinstance(v, dict):
            try:
                return CommandPipeline.model_validate(v)
            except ValidationError as exc:
                err = _translate(exc, CommandPipeline, "-")  # named relative to pipeline:
                raise SpecError(err.where.removeprefix("-: "), err.expected, err.got,
                                err.hint) from None
        return v

    @property
    def metric_keys(self) -> set[str]:
        return {m.key for m in self.metrics}

    def scorer(self, score: str | None = None, constraints: list[str] | None = None) -> Scorer:
        """The project's scorer, or one with another score/constraints (re-scoring)."""
        known = self.metric_keys
        spec = self.score if score is None else score
        if isinstance(spec, ScoreSpec):
            formula: Formula = parse_formula(spec.formula, known)
            goal: Goal = spec.goal
        else:
            key = metric_key(spec)
            if key in known:
                formula = parse_formula(key.replace("/", "_"), known, "score")
                goal = next(m.goal for m in self.metrics if m.key == key)
            else:
                raise SpecError("score", f"a metric among {sorted(known)} or "
                                "{formula: ..., goal: max|min}", spec, _near(key, sorted(known)))
        texts = self.constraints if constraints is None else constraints
        cons = tuple(parse_constraint(c, known, f"constraints[{i}]") for i, c in enumerate(texts))
        return Scorer(goal, formula, cons)


class Fidelity(_Frozen):
    """Short-then-long (successive halving): stage 1 trains every config at ``fraction`` of
    ``max_train_steps``; the best ``keep`` of each stage and target value go on to the next;
    the last stage trains at full length (checklist 5.1, compute-bound)."""

    stages: int = Field(2, ge=1, le=3, description="1 to 3 stages; the last is full length")
    fraction: float = Field(0.2, gt=0, le=1, description="stage 1 length / max_train_steps")
    keep: float = Field(0.25, gt=0, le=1, description="share of a stage promoted to the next")
    promotion: PromotionMode = Field(
        "synchronous",
        description="synchronous (a stage waits for all of the one before) | asynchronous "
                    "(ASHA: the top keep share so far is promoted whenever a worker looks)")


class EarlyStop(_Frozen):
    """Stop a clearly hopeless trial: past ``after`` of its length, its best score so far is
    worse than the ``quantile`` (the worst side) of finished peers at the same step."""

    after: float = Field(0.25, gt=0, lt=1, description="share of training before any stop")
    quantile: float = Field(0.25, gt=0, le=0.5, description="worst-side quantile of peers")
    min_peers: int = Field(4, ge=1, description="finished trials of the same group and stage")


class RoundSpec(_Frozen):
    """The contents of a round file: one question and its hyperparameters."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=MAX_ROUND_NAME)
    question: str = Field(min_length=1)
    params: dict[str, Param] = Field(default_factory=dict)
    algorithm: Algorithm = Field(
        "explore_exploit",
        description="explore_exploit (quasi-random start, then Bayesian) | quasi_random | random "
                    "| bayesian")
    budget: int = Field(gt=0, le=MAX_BUDGET, description="trials per target value")
    seed: int = Field(0, ge=0, le=MAX_SEED)
    max_train_steps: int | None = Field(None, gt=0, le=10**12)
    trial_timeout_s: float | None = Field(
        None, gt=0, le=30 * 86_400, description="time limit of one trial, seconds")
    no_progress_timeout_s: float | None = Field(
        None, gt=0, le=30 * 86_400,
        description="seconds without a run.log before a trial fails")
    fidelity: Fidelity | None = None
    early_stop: EarlyStop | None = None
    warm_start: list[str] = Field(
        default_factory=list,
        description="earlier rounds whose trials on compatible configs inform the model "
                    "(bayesian, explore_exploit); they never count against the budget")
    enqueue: list[dict[str, Any]] = Field(
        default_factory=list,
        description="hand-picked configs run first ({param: value}; within the budget)")

    @field_validator("budget", mode="before")
    @classmethod
    def _budget(cls, v: Any) -> Any:
        # YAML's `true` would count as 1 trial and `1e8` as a float: say what a budget is.
        if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()):
            raise SpecError("budget", f"a whole number of trials per target value "
                            f"(1 to {MAX_BUDGET:,})", v)
        if isinstance(v, float) and abs(v) < 2**63:
            return int(v)
        return v

    @model_validator(mode="after")
    def _roles(self) -> RoundSpec:
        # Cross-checks between hyperparameters, before anything is queued.
        targets = {k: p.values or [] for k, p in self.params.items() if p.role == "target"}
        for name, p in self.params.items():
            for key, wanted in (p.when or {}).items():
                if key not in targets:
                    raise SpecError(f"params.{name}.when", "the name of a target hyperparameter "
                                    f"among {sorted(targets)}", key, _near(key, sorted(targets)))
                for v in wanted if isinstance(wanted, list) else [wanted]:
                    if v not in targets[key]:
                        raise SpecError(f"params.{name}.when.{key}",
                                        f"values among {key}'s values {targets[key]}", v)
        if self.total_trials > MAX_ROUND_TRIALS:
            raise SpecError("budget", f"at most {MAX_ROUND_TRIALS:,} trials in a round "
                            "(budget x target groups)",
                            f"{self.budget} x {self.total_trials // self.budget} groups",
                            "Split the question into smaller rounds.")
        if self.warm_start and self.algorithm not in ("bayesian", "explore_exploit"):
            raise SpecError("warm_start", "a round searched by a model (algorithm: bayesian or "
                            "explore_exploit)", self.algorithm,
                            "Earlier trials inform a model; a quasi-random search ignores them.")
        if self.name in self.warm_start:
            raise SpecError("warm_start", "earlier rounds, not this one", self.name)
        for i, entry in enumerate(self.enqueue):
            self.space.check_config(entry, f"enqueue[{i}]")
        if self.algorithm == "bayesian":
            space = self.space
            empty = [g for g in space.target_groups() if space.for_group(g).dim == 0]
            if empty:
                got = ("no nuisance hyperparameter" if space.dim == 0
                       else f"none for the target group {empty[0]}")
                raise SpecError("algorithm", "at least one nuisance hyperparameter to search "
                                "with 'bayesian'", got, "Add a nuisance range, or use "
                                "algorithm: quasi_random to repeat one config.")
        return self

    @property
    def space(self) -> Space:
        return Space(self.params)

    @property
    def total_trials(self) -> int:
        # The product of the value counts, not len(target_groups()): never build 10**9 groups.
        counts = [len(p.values or []) for p in self.params.values() if p.role == "target"]
        return self.budget * math.prod(counts)


# --- loading and error translation -------------------------------------------------------------


def _near(got: str, options: list[str]) -> str:
    best = difflib.get_close_matches(str(got), options, n=1)
    return f"Did you mean '{best[0]}'?" if best else ""


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The valid keys of the model found by walking ``loc`` (for 'did you mean')."""
    cur: Any = model
    for part in loc:
        if isinstance(cur, type) and issubclass(cur, BaseModel):
            field = cur.model_fields.get(str(part))
            if field is None:
                return list(cur.model_fields)
            cur = field.annotation
            continue
        cur = _unwrap(cur)
        if isinstance(cur, type) and issubclass(cur, BaseModel):
            field = cur.model_fields.get(str(part))
            if field is None:
                return list(cur.model_fields)
            cur = field.annotation
    cur = _unwrap(cur)
    if isinstance(cur, type) and issubclass(cur, BaseModel):
        return list(cur.model_fields)
    return []


def _unwrap(tp: Any) -> Any:
    """dict[str, X] / list[X] / X | None -> X, the model a nested key lives in."""
    args = typing.get_args(tp)
    origin = typing.get_origin(tp)
    if origin in (dict, list) and args:
        return _unwrap(args[-1])
    if origin in (typing.Union, types.UnionType):
        for a in args:
            if isinstance(a, type) and issubclass(a, BaseModel):
                return a
    return tp


def _translate(exc: ValidationError, model: type[BaseModel], source: str) -> SpecError:
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    path = ".".join(str(p) for p in loc) or "(top level)"
    where = f"{source}: {path}"
    ctx_err = (err.get("ctx") or {}).get("error")
    if isinstance(ctx_err, SpecError):
        if not loc:  # a cross-check over the whole spec names its own field
            return SpecError(f"{source}: {ctx_err.where}", ctx_err.expected, ctx_err.got,
                             ctx_err.hint)
        inner = f"{where}.{ctx_err.where}" if ctx_err.where not in path.split(".") else where
        return SpecError(inner, ctx_err.expected, ctx_err.got, ctx_err.hint)
    if err["type"] == "extra_forbidden":
        valid = _fields_at(model, loc[:-1])
        return SpecError(where, f"a known key ({', '.join(valid)})", str(loc[-1]),
                         _near(str(loc[-1]), valid) + " Unknown keys are errors.")
    if err["type"] == "missing":
        return SpecError(where, "this required key", "nothing")
    msg = str(err["msg"])  # lower-case the first letter only: patterns keep their case
    return SpecError(where, msg[:1].lower() + msg[1:], err.get("input"))


def parse_project(data: Any, source: str = "tunebook.yaml") -> ProjectSpec:
    if not isinstance(data, dict):
        raise SpecError(source, "a mapping of project keys", type(data).__name__)
    try:
        spec = ProjectSpec.model_validate(data)
    except ValidationError as exc:
        raise _translate(exc, ProjectSpec, source) from None
    except SpecError as exc:
        raise SpecError(f"{source}: {exc.where}", exc.expected, exc.got, exc.hint) from None
    try:
        spec.scorer()  # checks the score formula and constraints against the metrics
    except SpecError as exc:
        raise SpecError(f"{source}: {exc.where}", exc.expected, exc.got, exc.hint) from None
    if isinstance(spec.pipeline, str) and ":" not in spec.pipeline:
        raise SpecError(f"{source}: pipeline", "'module:function'", spec.pipeline)
    return spec


def parse_round(data: Any, source: str = "round.yaml") -> RoundSpec:
    if not isinstance(data, dict):
        raise SpecError(source, "a mapping of round keys", type(data).__name__)
    try:
        return RoundSpec.model_validate(data)
    except ValidationError as exc:
        raise _translate(exc, RoundSpec, source) from None


def load_project(path: str | Path = "tunebook.yaml") -> ProjectSpec:
    p = Path(path)
    return parse_project(load_yaml(p), str(p))


def load_round(path: str | Path) -> RoundSpec:
    p = Path(path)
    return parse_round(load_yaml(p), str(p))


def import_project_module(project_dir: str | Path, module_name: str) -> Any:
    """Import ``module_name`` from the project folder, never another project's same-named file.

    A file in the folder is loaded by path under a name unique to that file (and its mtime), so
    two projects in one process (tests, notebooks, inline rounds) each get their own
    ``train.py``; cached siblings from other folders (``prepare``, ``model``) are dropped so that
    the module's own ``import prepare`` finds the one beside it.
    """
    folder = Path(project_dir).resolve()
    if sys.path[:1] != [str(folder)]:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(folder))
        sys.path.insert(0, str(folder))  # so the module can import its siblings
    for sibling in folder.glob("*.py"):
        cached = sys.modules.get(sibling.stem)
        origin = getattr(cached, "__file__", None)
        if cached is not None and origin and Path(origin).resolve().parent != folder:
            del sys.modules[sibling.stem]
    file = folder / (module_name.replace(".", "/") + ".py")
    if not file.exists():
        return importlib.import_module(module_name)
    stat = file.stat()  # an edited file is loaded anew, not served from the cache
    tag = abs(hash((str(file), stat.st_mtime_ns, stat.st_size)))
    unique = f"_tunebook_project_{tag:x}_{module_name.replace('.', '_')}"
    module = sys.modules.get(unique)
    if module is None:
        spec = importlib.util.spec_from_file_location(unique, file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[unique] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[unique]
            raise
    return module


def load_pipeline(project: ProjectSpec, project_dir: str | Path) -> Any:
    """Import the project's ``module:function`` from its folder; refuse clearly if it can't.

    A command pipeline has nothing to import: it is returned as is (``tunebook.workers.command``
    runs it).
    """
    if isinstance(project.pipeline, CommandPipeline):
        return project.pipeline
    module_name, _, func_name = project.pipeline.partition(":")
    folder = Path(project_dir).resolve()
    try:
        module = import_project_module(folder, module_name)
    except Exception as exc:  # an import error of the user's module is theirs to see
        raise SpecError("pipeline", f"an importable module '{module_name}' in {folder}",
                        project.pipeline,
                        f"Importing it raised {type(exc).__name__}: {exc}") from exc
    fn = getattr(module, func_name, None)
    if not callable(fn):
        names = [n for n in dir(module) if callable(getattr(module, n)) and not n.startswith("_")]
        raise SpecError("pipeline", f"a function '{func_name}' in module '{module_name}'",
                        project.pipeline, _near(func_name, names))
    return fn
