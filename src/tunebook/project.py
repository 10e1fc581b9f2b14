"""One handle on a project: every verb of the CLI as a method, returning typed results.

>>> import tunebook
>>> project = tunebook.open_project("tunebook-demo")          # doctest: +SKIP
>>> project.baseline().ok                                    # doctest: +SKIP
True
>>> width = project.new_round("round.yaml")                  # doctest: +SKIP
>>> width.run(workers=2).counts                              # doctest: +SKIP
{'completed': 16}

The CLI, the JSON agent tools, the MCP server and the demo are thin layers over this module: they
parse arguments, call one method and print its result. Orchestration (which library functions
run in which order, and which decisions are recorded) lives here, once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunebook.core.errors import SpecError
from tunebook.core.spec import ProjectSpec, RoundSpec, load_pipeline, load_project, load_round
from tunebook.core.trial import RoundRecord, TrialRecord
from tunebook.rounds.lifecycle import (
    Progress,
    all_failed,
    best_trials,
    create_round,
    progress,
    ranked,
)
from tunebook.store import Store, open_store

if TYPE_CHECKING:
    from tunebook.analysis.baseline import BaselineVerdict
    from tunebook.analysis.diagnose import Diagnosis
    from tunebook.analysis.errors import ErrorAnalysis
    from tunebook.analysis.overview import RoundAnalysis
    from tunebook.analysis.promotion import PromotionResult
    from tunebook.analysis.stability import StabilityReport
    from tunebook.core.throughput import ThroughputPoint
    from tunebook.data.mismatch import MismatchResult
    from tunebook.data.project import SplitOutcome
    from tunebook.data.report import DataReport
    from tunebook.experiments.cleanup import Collected
    from tunebook.experiments.plan import Plan
    from tunebook.experiments.seeds import SeedSpread
    from tunebook.experiments.steps import StepsEstimate
    from tunebook.pytorch.probe import BatchSizeReport, InputReport
    from tunebook.rounds.fidelity import FidelityReport
    from tunebook.rounds.rescore import RescoreResult
    from tunebook.runbook.advise import ProjectAdvice
    from tunebook.runbook.checklist import Checklist, Note
    from tunebook.runbook.evidence import Evidence
    from tunebook.runbook.report import ReportResult


def open_project(path: str | Path = ".", store: str | None = None) -> Project:
    """The project whose ``tunebook.yaml`` is ``path`` (or lies in folder ``path``).

    ``store`` is a store URL (``sqlite:///...``, ``postgresql://...``); default
    ``$TUNEBOOK_STORE``, else ``.tunebook/store.db`` in the project folder. The spec is read
    now, so a broken ``tunebook.yaml`` fails here with the field that is wrong.
    """
    p = Path(path)
    file = p / "tunebook.yaml" if p.is_dir() else p
    load_project(file)
    return Project(file, store)


@dataclass(frozen=True)
class RoundStatus:
    """Counts by status and the best trial per target value."""

    round: str
    question: str
    progress: Progress
    best: list[TrialRecord]
    fidelity: FidelityReport | None = None  # a short-then-long round's stages so far


@dataclass(frozen=True)
class RoundRun:
    """What ``Round.run`` did: final status counts, seed spreads and the stage summary.

    ``failed`` is one line saying why when every finished trial failed (the work failed).
    """

    round: str
    counts: dict[str, int]
    seeds: list[SeedSpread] | None
    fidelity: FidelityReport | None
    failed: str | None = None


class Round:
    """One round of a project: run it, watch it, read it."""

    def __init__(self, project: Project, name: str) -> None:
        self.project = project
        self.name = project.store.round(name).name  # an unknown name lists the known ones

    @property
    def record(self) -> RoundRecord:
        return self.project.store.round(self.name)

    @property
    def spec(self) -> RoundSpec:
        return self.record.spec

    def run(self, workers: int = 2, executor: str = "processes", threads: int | None = None,
            *, fidelity: tuple[int | None, float | None, float | None] | None = None,
            seeds: int | None = None, trial: int | None = None,
            show_progress: bool = False, gpus: str | Sequence[str] | None = None,
            gpus_per_trial: float | None = None, trial_timeout: float | None = None,
            no_progress_timeout: float | None = None) -> RoundRun:
        """Run the queued trials to the end; optionally short-then-long and seed re-runs.

        ``fidelity`` is (stages, fraction, keep), each None for the round's own or the default;
        ``seeds`` re-runs the best config of each target value (or ``trial``) with K more seeds.
        ``gpus``: ``all``, a count or ids (``"0,2"``), or a list of ids; ``gpus_per_trial``
        shares them out. ``trial_timeout`` / ``no_progress_timeout`` (seconds) override the
        round's and project's trial limits. Every argument is checked before anything trains.
        """
        from tunebook.experiments.seeds import check_k, parents, run_seeds
        from tunebook.rounds.fidelity import from_flags, report, set_fidelity
        from tunebook.workers.execute import run_round
        from tunebook.workers.gpus import parse_gpus
        from tunebook.workers.limits import TrialLimits

        limits = TrialLimits(trial_timeout, no_progress_timeout)  # checked before the store

        store, pdir = self.project.store, self.project.dir
        record = self.record
        devices = parse_gpus(gpus) if isinstance(gpus, str) else (
            list(gpus) if gpus is not None else None)
        if seeds is not None:
            check_k(seeds)
        if trial is not None:
            if seeds is None:
                raise SpecError("--trial", "--seeds K as well (it names the trial to re-run)",
                                trial)
            parents(store, record, trial)  # of this round, completed, full length, not a re-run
        if fidelity is not None:
            record = set_fidelity(store, record, from_flags(record.spec.fidelity,
                                                            *fidelity))
        counts = run_round(store, self.name, pdir, workers=workers, executor=executor,
                           threads=threads, show_progress=show_progress, gpus=devices,
                           gpus_per_trial=gpus_per_trial, limits=limits)
        spread = None
        if seeds is not None:
            spread = run_seeds(store, self.name, pdir, seeds, trial, workers=workers,
                               executor=executor, threads=threads, show_progress=show_progress,
                               gpus=devices, gpus_per_trial=gpus_per_trial)
            counts = store.counts(record.id)
        stages = report(store, record) if record.spec.fidelity is not None else None
        return RoundRun(self.name, counts, spread, stages, all_failed(store, record))

    def progress(self) -> Progress:
        return progress(self.project.store, self.record)

    def status(self) -> RoundStatus:
        from tunebook.rounds.fidelity import report

        record, store = self.record, self.project.store
        return RoundStatus(record.name, record.question, progress(store, record),
                           list(best_trials(store, record).values()),
                           report(store, record) if record.spec.fidelity is not None else None)

    def trials(self, status: str | None = None) -> list[TrialRecord]:
        """The round's trials, best first (feasible completed by score, then the rest)."""
        ts = ranked(self.project.store, self.record)
        return [t for t in ts if t.status == status] if status else ts

    def table(self, limit: int | None = None, status: str | None = None) -> dict[str, Any]:
        """The trial table the CLI prints (config columns that vary, best first)."""
        from tunebook.runbook.export import trials_payload

        return trials_payload(self.project.store, self.record, limit=limit, status=status)

    def export(self, format: str = "csv") -> str:
        from tunebook.runbook.export import export_round

        if format not in ("csv", "json"):
            raise SpecError("--format", "csv or json", format)
        return export_round(self.project.store, self.record, format)

    def analyze(self, top: int = 5, metric: str | None = None, target: str | None = None,
                buckets: int = 5, importance: str | None = "fanova") -> RoundAnalysis:
        from tunebook.analysis.overview import analyze_round

        return analyze_round(self.project.store, self.name, top=top, metric=metric,
                             target=target, buckets=buckets, importance_method=importance)

    def plots(self, analysis: RoundAnalysis) -> dict[str, str]:
        """Draw ``analysis`` into ``.tunebook/reports/ROUND/``; {plot name: path}."""
        from tunebook.plots import draw_round

        return draw_round(analysis, self.project.dir / ".tunebook" / "reports" / analysis.round)

    def rescore(self, score: str | None = None, goal: str | None = None,
                constraints: Sequence[str] | None = None, record: bool = False
                ) -> RescoreResult:
        """Best steps and bests per target value under another score, without training."""
        from tunebook.rounds.rescore import rescore

        cons = None if constraints is None else list(constraints)
        return rescore(self.project.store, self.record, score, goal, cons,
                       record_decision=record)

    def plan(self, hours: float | None = None, workers: int = 1, timing_steps: int = 50,
             show_progress: bool = False) -> Plan:
        return self.project.plan(self.spec, hours, workers, timing_steps, show_progress)

    def __repr__(self) -> str:
        return f"Round({self.name!r})"


class DataKit:
    """``project.data``: splits, the data report and the mismatch check (checklist 0-1)."""

    def __init__(self, project: Project) -> None:
        self.project = project

    def split(self, force: bool = False, seed: int | None = None) -> SplitOutcome:
        from tunebook.data.project import split_project

        return split_project(self.project.dir, store=self.project.store, force=force, seed=seed)

    def report(self, label_issues: bool = True, record: bool = True) -> DataReport:
        """The data report; recorded as a ``data_report`` decision unless ``record=False``."""
        from tunebook.data.report import record_report, report_project

        rep = report_project(self.project.dir, label_issues=label_issues)
        if record:
            record_report(self.project.store, rep)
        return rep

    def mismatch(self, a: str = "train", b: str = "dev", embeddings: str | Path | None = None,
                 seed: int = 0) -> MismatchResult:
        from tunebook.data.mismatch import mismatch_project

        return mismatch_project(self.project.dir, a, b, embeddings, store=self.project.store,
                                seed=seed)


class Project:
    """A project file, its folder and its store. Build it with :func:`open_project`.

    Paths given to methods are read as Python reads them (relative to the working directory).
    """

    def __init__(self, file: str | Path, store: str | None = None) -> None:
        self.file = Path(file).resolve()
        self.dir = self.file.parent
        self.store_url = store
        self.data = DataKit(self)

    @property
    def spec(self) -> ProjectSpec:
        """The project spec, read again when the file changed (edits in a notebook apply)."""
        try:
            mtime = self.file.stat().st_mtime_ns
        except FileNotFoundError:
            return load_project(self.file)  # the clean error that names the missing file
        return _read_spec(self.file, mtime)

    @functools.cached_property
    def store(self) -> Store:
        return open_store(self.store_url, self.dir)

    def evidence(self) -> Evidence:
        from tunebook.runbook.evidence import Evidence

        return Evidence(self.spec, self.dir, self.store)

    # --- rounds --------------------------------------------------------------------------------

    def round(self, name: str) -> Round:
        return Round(self, name)

    def rounds(self) -> list[Round]:
        return [Round(self, r.name) for r in self.store.rounds()]

    def new_round(self, path: str | Path | RoundSpec) -> Round:
        """Record a round from its file (or spec) and queue its trials; the pipeline must load."""
        spec = path if isinstance(path, RoundSpec) else load_round(path)
        load_pipeline(self.spec, self.dir)
        create_round(self.store, self.spec, spec)
        return Round(self, spec.name)

    def trial(self, trial_id: int) -> TrialRecord:
        from tunebook.analysis.selection import trial_by_id

        return trial_by_id(self.store, trial_id)

    def validate(self, rounds: Sequence[str | Path] = ()) -> list[RoundSpec]:
        """Check the pipeline loads and each round file parses and can be searched."""
        from tunebook.search import make_searcher

        spec = self.spec
        load_pipeline(spec, self.dir)
        out = []
        for r in rounds:
            rs = load_round(r)
            make_searcher(rs.algorithm, rs.space, rs.seed)
            if not isinstance(spec.pipeline, str):  # a command: every {name} has a value
                keys = set(spec.baseline.config) | set(rs.params)
                if rs.max_train_steps is not None:
                    keys.add("max_train_steps")
                spec.pipeline.check_keys(keys, f"{self.file.name}: pipeline.command")
            out.append(rs)
        return out

    def work(self, round_name: str, threads: int | None = None, gpu: str | None = None,
             trial_timeout: float | None = None, no_progress_timeout: float | None = None
             ) -> int:
        """Be one worker of ``round_name`` until it is done; the number of trials run.

        ``gpu``: the device this worker (and its trials) may use (sets CUDA_VISIBLE_DEVICES);
        the timeouts (seconds) override the round's and project's trial limits.
        """
        from tunebook.workers.execute import worker_loop
        from tunebook.workers.gpus import use_gpu
        from tunebook.workers.limits import TrialLimits
        from tunebook.workers.threads import per_trial

        limits = TrialLimits(trial_timeout, no_progress_timeout)
        use_gpu(gpu)
        return worker_loop(self.store.url, round_name, str(self.dir),
                           threads=per_trial(1, threads), limits=limits)

    def plan(self, round: str | Path | RoundSpec, hours: float | None = None, workers: int = 1,
             timing_steps: int = 50, show_progress: bool = False) -> Plan:
        """Compute a round needs (a round in the store, a round file or a spec)."""
        from tunebook.experiments.plan import check_args, plan_round

        check_args(hours, workers, timing_steps)
        project = self.spec
        if isinstance(round, RoundSpec):
            rs = round
        elif Path(round).is_file():
            rs = load_round(round)
        else:
            record = self.store.round(str(round))
            project, rs = record.project, record.spec
        return plan_round(self.store, project, self.dir, rs, hours, workers, timing_steps,
                          show_progress=show_progress)

    # --- one-off experiments -------------------------------------------------------------------

    def baseline(self, seed: int | None = None, show_progress: bool = False) -> BaselineVerdict:
        """Train the baseline config once; check it beats chance and trains stably; record it."""
        from tunebook.experiments.baseline import run_baseline

        return run_baseline(self.store, self.spec, self.dir, seed=seed,
                            show_progress=show_progress)

    def steps(self, probe_steps: int | None = None, within: float = 0.05,
              metric: str = "train/loss", show_progress: bool = False) -> StepsEstimate:
        from tunebook.experiments.steps import check_within, run_probe

        check_within(within)
        return run_probe(self.store, self.spec, self.dir, probe_steps, within, metric,
                         show_progress=show_progress)

    def promote(self, round: str, trial: int | None = None, seeds: int | None = None,
                workers: int = 2, executor: str = "processes",
                show_progress: bool = False) -> PromotionResult:
        from tunebook.experiments.promotion import promote

        return promote(self.store, self.spec, self.dir, self.store.round(round).name,
                       trial_id=trial, seeds=seeds, workers=workers, executor=executor,
                       show_progress=show_progress)

    def stability(self, round: str, trial: int | None = None, lr_factor: float = 2.0,
                  probe_steps: int = 500, warmups: Sequence[int] = (0, 10, 100, 1000),
                  workers: int = 2, executor: str = "processes",
                  show_progress: bool = False) -> StabilityReport:
        from tunebook.experiments.stability import stability

        return stability(self.store, self.spec, self.dir, round, trial_id=trial,
                         lr_factor=lr_factor, probe_steps=probe_steps, warmups=warmups,
                         workers=workers, executor=executor, show_progress=show_progress)

    def batch_size(self, entry: str | None = None, plot: str | Path | None = None,
                   on_point: Callable[[ThroughputPoint], None] | None = None,
                   **scan: Any) -> BatchSizeReport:
        """Scan batch sizes at powers of two (``scan_batch_sizes`` options); record the knee."""
        from tunebook.pytorch.probe import scan_project

        return scan_project(self.spec, self.dir, self.store, entry=entry, plot=plot,
                            on_point=on_point, **scan)

    def profile_input(self, entry: str | None = None, batch_size: int | None = None,
                      steps: int = 50, threshold: float = 0.1) -> InputReport:
        """The share of step time spent waiting for data; recorded as evidence."""
        from tunebook.pytorch.probe import profile_project

        return profile_project(self.spec, self.dir, self.store, entry=entry,
                               batch_size=batch_size, steps=steps, threshold=threshold)

    def gc(self, keep_best: int | None = None, dry_run: bool = False) -> Collected:
        """Free checkpoint space from finished rounds (never the baseline's or a promoted
        config's checkpoints); ``dry_run`` only says what would be freed."""
        from tunebook.experiments.cleanup import collect

        return collect(self.store, self.spec, self.dir, keep_best=keep_best, dry_run=dry_run)

    def reap(self, round: str | None = None, max_attempts: int = 3) -> list[TrialRecord]:
        """Re-queue running trials whose lease expired (their worker died); those trials now."""
        if max_attempts < 1:
            raise SpecError("--max-attempts", "an int >= 1", max_attempts)
        rid = self.store.round(round).id if round else None
        return [self.store.trial(i) for i in self.store.reap(rid, max_attempts=max_attempts)]

    # --- reading -------------------------------------------------------------------------------

    def pick(self, trial: int | None = None, round: str | None = None) -> TrialRecord:
        """``trial`` (of ``round`` if both), else ``round``'s best, else the baseline's trial."""
        from tunebook.analysis.selection import pick_trial

        if round is not None:
            self.store.round(round)  # an unknown round fails with the known names
        return pick_trial(self.store, trial, round)

    def diagnose(self, trial: int | None = None, round: str | None = None,
                 metric: str | None = None, target: float | None = None) -> Diagnosis:
        """Bias / variance / mismatch of a trial (default: the current baseline)."""
        from tunebook.analysis.diagnose import diagnose_trial

        return diagnose_trial(self.store, self.spec, self.pick(trial, round), metric, target)

    def errors(self, round: str, trial: int | None = None, sample: int = 150, seed: int = 0,
               metadata: dict[str, dict[str, str]] | None = None,
               tags: dict[str, str] | None = None) -> ErrorAnalysis:
        """Error analysis of the round's best trial (or ``trial``, which must be of it)."""
        from tunebook.analysis.errors import errors_of_trial
        from tunebook.analysis.selection import trial_in_round

        if sample < 1:
            raise SpecError("sample", "an int >= 1 (the checklist samples 100-200)", sample)
        chosen = trial_in_round(self.store, round, trial)
        return errors_of_trial(self.store, self.spec, self.dir, chosen, sample_size=sample,
                               seed=seed, metadata=metadata, tags=tags)

    # --- the runbook ---------------------------------------------------------------------------

    def checklist(self, evidence: Evidence | None = None) -> Checklist:
        """Every checklist item with its status from the evidence (read once, or ``evidence``)."""
        from tunebook.runbook.checklist import evaluate

        return evaluate(evidence or self.evidence())

    def note(self, item: str, text: str) -> Note:
        """Record a human answer to a checklist item ('n/a: why' marks it not applicable)."""
        from tunebook.runbook.checklist import record_note

        return record_note(self.store, item, text)

    def report(self, round: str | None = None, out: str | Path | None = None,
               evidence: Evidence | None = None) -> ReportResult:
        """Write the project report (or the round's) as one self-contained HTML file."""
        from tunebook.runbook.report import write_report

        return write_report(self.spec, self.dir, self.store, round, out, evidence=evidence)

    def advise(self, write: str | Path | None = None, overwrite: bool = False) -> ProjectAdvice:
        """The bottleneck and the next round (written to ``write`` when given)."""
        from tunebook.runbook.advise import advise_project

        target = None if write is None else Path(write)
        if target is not None and target.exists() and not overwrite:
            raise SpecError("write", "a path that does not exist yet", str(target),
                            "Pass overwrite (--force) to replace it.")
        return advise_project(self.evidence(), target)

    def __repr__(self) -> str:
        return f"open_project({str(self.file)!r})"


@functools.lru_cache(maxsize=16)
def _read_spec(file: Path, mtime_ns: int) -> ProjectSpec:
    return load_project(file)


__all__ = ["DataKit", "Project", "Round", "RoundRun", "RoundStatus", "open_project"]
