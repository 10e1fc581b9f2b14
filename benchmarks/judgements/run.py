"""The judgement corpus: real training scripts, their expected findings, precision and recall.

    nice python benchmarks/judgements/run.py              # every script (a few minutes of CPU)
    nice python benchmarks/judgements/run.py --only tiny_data epoch_steplr
    python benchmarks/judgements/run.py --json out.json   # the readings, for docs

Each folder here is a tunebook project (``tunebook.yaml``, ``train.py``, ``round.yaml``). In a
fresh process per script (each project names its module ``train``), the script is copied to a
temporary folder, its baseline is trained and checked, its round is run inline on CPU, and then
every command that speaks of a question is asked: the baseline check, ``analyze`` (of the
baseline round and of the round), ``stability``'s curve check (check_curve on each trial's
loss), ``errors``, the checklist and ``advise``.

The project's finding for each question is the owner's verdict as ``analyze``/``errors`` state
it; it is scored against ``expected.yaml`` (written before the scripts ran) for precision and
recall per finding. A *contradictory pair* is two commands (or two findings of one output) that
answer the same question differently on the same trials; the benchmark counts them.

``ignores_keys`` needs the record of which config keys ``train()`` read (issue 13, item 2); a
store without it reports the finding as "not measured".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
FINDINGS = ("instability", "periodic_loss", "train_shorter", "train_longer", "overfitting",
            "boundary", "label_quality", "ignores_keys")
SHORTER = {"early_saturation", "best_step_early"}
LONGER = {"still_improving", "best_step_late"}


def scripts() -> list[str]:
    return sorted(p.name for p in HERE.iterdir() if (p / "tunebook.yaml").is_file())


# -- one script, in its own process ---------------------------------------------------------


def _read_keys(trial: Any) -> set[str] | None:
    """The config keys train() read, as the store records them (None: not recorded)."""
    from tunebook.core.usage import train_usage

    reads = train_usage(trial).reads
    if reads is None:
        return None
    return set(reads.keys) if reads.wholesale else set(reads.read)


def measure(name: str) -> dict[str, Any]:
    """Train one script's baseline and round, and ask every command; return the readings."""
    from tunebook.analysis.errors import errors_of_trial
    from tunebook.analysis.overview import analyze_round
    from tunebook.analysis.stability import check_curve
    from tunebook.core.errors import TunebookError
    from tunebook.core.spec import load_project, load_round
    from tunebook.experiments.baseline import run_baseline
    from tunebook.rounds.lifecycle import create_round
    from tunebook.runbook.advise.project import advise_project
    from tunebook.runbook.checklist import evaluate
    from tunebook.runbook.evidence import Evidence
    from tunebook.store import Store
    from tunebook.workers.execute import run_round

    t0 = time.process_time()
    work = Path(tempfile.mkdtemp(prefix=f"judge-{name}-"))
    shutil.copytree(HERE / name, work, dirs_exist_ok=True)
    project = load_project(work / "tunebook.yaml")
    store = Store(work / "tunebook.db")
    verdict = run_baseline(store, project, work, show_progress=False)
    spec = load_round(work / "round.yaml")
    create_round(store, project, spec)
    run_round(store, spec.name, work, workers=1, executor="inline", show_progress=False)

    said: dict[str, dict[str, bool | None]] = {q: {} for q in FINDINGS}
    contradictions: list[str] = []
    readings: dict[str, Any] = {"baseline_problems": list(verdict.problems)}
    analyses = {}
    for rname in ("baseline", spec.name):
        try:
            a = analyze_round(store, rname, top=3 if rname == spec.name else 1,
                              importance_method=None)
        except TunebookError as exc:  # e.g. every trial diverged: nothing to read
            readings[f"analyze {rname}"] = str(exc)
            analyses[rname] = None
            continue
        analyses[rname] = a
        codes = {f.code for f in a.findings}
        readings[f"analyze {rname}"] = sorted(codes)
        if codes & SHORTER and codes & LONGER:
            contradictions.append(f"analyze {rname}: train shorter and train longer")
        for d in a.curves.trials:
            trial = store.trial(d.trial)
            loss = [(s, m["train/loss"]) for s, m in sorted(store.curve(d.trial).items())
                    if "train/loss" in m]
            chk = check_curve(loss, status=trial.status)
            if bool(d.loss_signals) != chk.unstable:
                contradictions.append(f"trial {d.trial}: analyze and stability disagree on "
                                      "instability")
    rnd = analyses[spec.name]
    base = analyses["baseline"]
    rcodes = {f.code for f in rnd.findings} if rnd else set()
    bcodes = {f.code for f in base.findings} if base else set()
    trials = store.trials(store.round(spec.name).id)
    diverged = [t for t in trials if t.status == "diverged"]
    # The project's verdicts, as the owners state them (analyze of the round and baseline).
    base_diverged = verdict.status == "diverged"
    said["instability"]["analyze"] = "instability" in rcodes | bcodes or bool(diverged) \
        or base_diverged
    said["instability"]["baseline check"] = not verdict.stable
    if base is not None and ("instability" in bcodes) != (not verdict.stable):
        contradictions.append("baseline: analyze and the baseline check disagree on stability")
    said["periodic_loss"]["analyze"] = "periodic_loss" in rcodes | bcodes
    said["train_shorter"]["analyze"] = bool(rcodes & SHORTER)
    said["train_longer"]["analyze"] = bool(rcodes & LONGER)
    said["overfitting"]["analyze"] = "overfitting" in rcodes
    said["boundary"]["analyze"] = "boundary" in rcodes

    ev = Evidence(project, work, store)
    items = {i.id: i for s in evaluate(ev).sections for i in s.items}
    curves_item = items.get("3.3.training_curves")
    if curves_item is not None:
        text = " ".join(curves_item.evidence)
        for q, codes in (("overfitting", {"overfitting"}), ("instability", {"instability"})):
            listed = any(f"{c}:" in text for c in codes)
            if q == "overfitting" and listed != said[q]["analyze"]:
                contradictions.append(f"checklist 3.3.training_curves and analyze disagree on {q}")
    axis_item = items.get("3.3.axis_plots")
    if rnd is not None and axis_item is not None and axis_item.status in ("done", "not_done") \
            and (axis_item.status == "not_done") != said["boundary"]["analyze"]:
        contradictions.append("checklist 3.3.axis_plots and analyze disagree on boundary")

    label: bool | None = None
    if project.task.type == "classification":
        best = (rnd.best_trial if rnd else None) or verdict.trial_id
        try:
            e = errors_of_trial(store, project, work, store.trial(verdict.trial_id))
            label = bool(e.labels and e.labels.problem)
            readings["labels"] = e.labels.reason if e.labels else None
            e2 = errors_of_trial(store, project, work, store.trial(best))
            if bool(e2.labels and e2.labels.problem) != label:
                readings["labels_best"] = e2.labels.reason if e2.labels else None
        except TunebookError as exc:
            readings["labels"] = str(exc)
        item = items.get("4.2.dev_test_labels")
        if item is not None and label is not None and (item.status == "not_done") != label:
            contradictions.append("checklist 4.2 and errors disagree on label quality")
    said["label_quality"]["errors"] = label

    advice = advise_project(ev)
    readings["advise"] = f"{advice.bottleneck.kind}: {advice.bottleneck.why}"
    unstable_anywhere = said["instability"]["analyze"] or said["instability"]["baseline check"]
    if advice.bottleneck.kind == "stability" and not unstable_anywhere:
        contradictions.append("advise names stability but no command finds instability")
    if advice.bottleneck.kind == "search_space" and not said["boundary"]["analyze"]:
        contradictions.append("advise names the search space but analyze finds no boundary")
    if advice.bottleneck.rule == "labels-first" and not label:
        contradictions.append("advise puts labels first but errors finds no label problem")

    # The owner is analyze's ignored_param finding (a tuned key train() never read); the
    # recorded reads are the second voice.
    said["ignores_keys"]["analyze"] = "ignored_param" in rcodes
    keys = [_read_keys(t) for t in trials]
    if any(k is None for k in keys):
        said["ignores_keys"]["read keys"] = None
        readings["ignores_keys"] = "not measured (no record of the keys train() read)"
    else:
        # The same question as analyze's: a hyperparameter the round tunes that train() never
        # read (a fixed key it ignores changes nothing between trials).
        tuned = {k for k, p in spec.params.items() if p.role != "fixed"}
        read = set().union(*[k for k in keys if k is not None])
        said["ignores_keys"]["read keys"] = bool(tuned - read)
        readings["ignores_keys"] = sorted(tuned - read)
    return {"script": name, "said": said, "contradictions": contradictions,
            "readings": readings, "cpu_s": round(time.process_time() - t0, 1)}


# -- the whole corpus -----------------------------------------------------------------------


def verdict_of(said: dict[str, bool | None]) -> bool | None:
    """The project's finding: the owner's verdict (the first command listed)."""
    return next(iter(said.values()), None) if said else None


def score(results: list[dict[str, Any]], expected: dict[str, dict[str, bool | None]]
          ) -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {}
    for q in FINDINGS:
        tp = fp = fn = tn = 0
        measured = False
        for r in results:
            want = expected.get(r["script"], {}).get(q)
            got = verdict_of(r["said"][q])
            if got is None:
                continue
            measured = True
            if want is None:
                continue
            tp += bool(want and got)
            fp += bool(got and not want)
            fn += bool(want and not got)
            tn += bool(not want and not got)
        prec = tp / (tp + fp) if tp + fp else None
        rec = tp / (tp + fn) if tp + fn else None
        table[q] = {"measured": measured, "tp": tp, "fp": fp, "fn": fn, "tn": tn,
                    "precision": prec, "recall": rec}
    return table


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="run only these scripts")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # the child process
    ap.add_argument("--json", help="write the readings and the table to this file")
    args = ap.parse_args()
    if args.one:
        print(json.dumps(measure(args.one)))
        return 0
    expected = yaml.safe_load((HERE / "expected.yaml").read_text())
    names = args.only or scripts()
    results = []
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for name in names:
        out = subprocess.run([sys.executable, __file__, "--one", name], capture_output=True,
                             text=True, env=env, check=False)
        if out.returncode != 0:
            print(f"{name}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
            return 1
        r = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(r)
        wrong = [q for q in FINDINGS if expected.get(name, {}).get(q) is not None
                 and verdict_of(r["said"][q]) is not None
                 and verdict_of(r["said"][q]) != expected[name][q]]
        print(f"{name:18s} cpu {r['cpu_s']:5.1f}s  contradictions {len(r['contradictions'])}"
              f"  wrong: {', '.join(wrong) or '-'}", flush=True)
    table = score(results, expected)
    n_contra = sum(len(r["contradictions"]) for r in results)
    print()
    print("| finding | precision | recall | TP | FP | FN | TN |")
    print("|---|---|---|---|---|---|---|")
    for q, row in table.items():
        if not row["measured"]:
            print(f"| {q} | not measured | not measured | - | - | - | - |")
            continue
        print(f"| {q} | {_fmt(row['precision'])} | {_fmt(row['recall'])} | {row['tp']} | "
              f"{row['fp']} | {row['fn']} | {row['tn']} |")
    print(f"\ncontradictory pairs: {n_contra} over {len(results)} scripts")
    for r in results:
        for c in r["contradictions"]:
            print(f"  {r['script']}: {c}")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "table": table,
                                               "contradictions": n_contra}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
