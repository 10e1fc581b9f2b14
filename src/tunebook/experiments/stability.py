"""The stability protocol's probes (checklist 5.2) as a one-off round of kind ``stability``.

What the probes are and how they are read is :mod:`tunebook.analysis.stability`; this module
queues them for the chosen trial, runs them and records the decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tunebook.analysis.selection import fresh_round_name, trial_in_round
from tunebook.analysis.stability import (
    WARMUPS,
    StabilityReport,
    lr_and_steps,
    plan_probes,
    read_probes,
)
from tunebook.core.errors import SpecError
from tunebook.core.spec import ProjectSpec, RoundSpec
from tunebook.core.usage import train_usage
from tunebook.experiments.oneoff import Decision, Execution, Finished, one_off
from tunebook.store import Store


def stability(store: Store, project: ProjectSpec, project_dir: str | Path, round_name: str, *,
              trial_id: int | None = None, lr_factor: float = 2.0, probe_steps: int = 500,
              warmups: Sequence[int] = WARMUPS, workers: int = 2, executor: str = "processes",
              show_progress: bool = True) -> StabilityReport:
    """Run the stability probes for the round's best trial (or ``trial_id``) and judge them.

    >>> stability(store, project, ".", "width").recommended_warmup  # doctest: +SKIP
    10
    """
    chosen = trial_in_round(store, round_name, trial_id)
    if chosen.status not in ("completed", "diverged"):
        raise SpecError(f"trial {chosen.id}", "a finished trial (completed or diverged)",
                        chosen.status, f"Run it first: tunebook round run {chosen.round}.")
    lr_and_steps(chosen.config)  # an lr and a length to scale, before anything trains
    usage = train_usage(chosen)
    if usage.ignores("lr"):
        raise SpecError(f"trial {chosen.id} config.lr", "a learning rate that train() reads",
                        "a key train() never read",
                        "The probes scale config['lr']; read it in train(config, run) (e.g. "
                        "tk.make_optimizer) and run the trial again.")
    warmup_read = False if usage.ignores("warmup_steps") else None
    if warmup_read is False:
        warmups = ()  # never run what the script ignores
    items = plan_probes(chosen.config, lr_factor=lr_factor, probe_steps=probe_steps,
                        warmups=warmups, seed=chosen.seed, parent_id=chosen.id)
    name = fresh_round_name(store, f"stability-{round_name}")
    spec = RoundSpec(name=name, budget=1, seed=project.seed,
                     question=f"Is trial {chosen.id} stable at {lr_factor:g}x its lr, and "
                              "which warmup helps?")

    def judged(done: Finished) -> tuple[StabilityReport, Decision]:
        report = read_probes(store, project, done.record, chosen, lr_factor=lr_factor,
                             probe_steps=probe_steps, warmup_read=warmup_read)
        probe, clip = report.probe, report.clip
        return report, Decision(
            "stability", f"stability of trial {chosen.id}: "
            + "; ".join(f.message for f in report.findings[:2]),
            {"trial_id": chosen.id, "round": name,
             "recommended_warmup": report.recommended_warmup,
             "warmup_ignored": any(f.code == "stability.warmup_ignored"
                                   for f in report.findings),
             "clip_threshold": clip.threshold if clip else None,
             "probe_unstable": probe.unstable if probe else None})

    report, _ = one_off(store, project, project_dir, spec, judged, kind="stability",
                        items=items, trial_kind="probe",
                        execution=Execution(workers, executor, show_progress))
    return report
