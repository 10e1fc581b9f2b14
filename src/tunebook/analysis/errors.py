"""Error analysis: a reproducible sample of dev errors, tallied into categories, ranked.

From a trial's stored dev predictions (``run.save_predictions``: id, label, prediction,
confidence and any extra columns), take every wrong prediction, draw a seeded sample (default
150, the checklist's 100-200), and count it by true class, predicted class, confusion pair,
confidence band and every metadata column. Categories are ranked by their share of the sampled
errors; each carries its *ceiling*, the dev error that would go away if every error of that
category were fixed (share x dev error), which says how much fixing it can be worth.

Likely label errors are listed apart, and judged, by the one label-quality rule in
:mod:`tunebook.analysis.judgements.labels` (confidently wrong, confirmed by other models in the
store, and as sure as the correct predictions of their class).

The sample exports to CSV with empty ``tag`` and ``note`` columns for manual tagging; reading
the filled file back adds a ``tag`` dimension to the tally (``;`` separates several tags).
"""

from __future__ import annotations

import csv
import io
import math
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from tunebook.analysis.findings import Finding
from tunebook.analysis.judgements.labels import LabelVerdict, Suspect, find_suspects, label_verdict
from tunebook.core.errors import SpecError
from tunebook.core.spec import ProjectSpec
from tunebook.core.trial import TrialRecord
from tunebook.store import Store

BASE_COLUMNS = ("id", "label", "prediction", "confidence")
BANDS = (0.5, 0.8, 0.95)
MAX_LEVELS = 20          # a text column with more distinct values is an id, not a slice
NUMERIC_BINS = 4         # numeric metadata with many values is cut at its quartiles
SLICE_LIFT = 1.5         # a slice this much more error-prone than average is worth a finding
FEW_ERRORS = 30          # below this many errors, shares are anecdotes, not a ranking


@dataclass(frozen=True)
class Category:
    """One value of one dimension and how many of the sampled errors fall in it."""

    dimension: str        # "true class", "predicted class", "confusion", "confidence", meta, "tag"
    value: str
    count: int            # sampled errors in the category
    share: float          # of the sampled (or tagged) errors
    ceiling: float        # dev error removed if all its errors were fixed: share * dev error
    rate: float | None = None   # error rate among all dev examples of the category


@dataclass(frozen=True)
class ErrorAnalysis:
    trial_id: int | None
    n_examples: int
    n_errors: int
    dev_error: float
    seed: int
    sample_size: int
    sample: list[dict[str, str]]
    categories: list[Category]          # every dimension, ranked by share of sampled errors
    suspects: list[Suspect]             # likely mislabelled, most likely first
    metadata_columns: list[str]
    tags: list[Category] = field(default_factory=list)
    n_tagged: int = 0
    findings: list[Finding] = field(default_factory=list)
    # Which model made the predictions read: the step they were saved at (None: saved without
    # a step) and the trial's best step (the model its score describes).
    predictions_step: int | None = None
    best_step: int | None = None

    @property
    def step_note(self) -> str:
        if self.predictions_step is None:
            return ("predictions saved without a step (the plain run.save_predictions API: the "
                    "model as train() left it, usually its last step)"
                    + (f"; the trial's best step is {self.best_step}"
                       if self.best_step is not None else ""))
        if self.predictions_step == self.best_step:
            return f"predictions of step {self.predictions_step}, the trial's best step"
        return (f"predictions of step {self.predictions_step}, not the trial's best step "
                f"{self.best_step}")
    labels: LabelVerdict | None = None  # the label-quality judgement


def _bands(edges: Sequence[float]) -> list[tuple[float, float, str]]:
    cuts = [0.0, *edges, math.inf]
    out = []
    for lo, hi in zip(cuts, cuts[1:], strict=False):
        name = f"< {hi:g}" if lo == 0.0 else f">= {lo:g}" if hi == math.inf else f"{lo:g}-{hi:g}"
        out.append((lo, hi, name))
    return out


def _band(conf: float, bands: list[tuple[float, float, str]]) -> str:
    return next(name for lo, hi, name in bands if lo <= conf < hi or hi == math.inf)


def _float(x: str | None) -> float | None:
    try:
        v = float(x) if x not in (None, "") else None
    except ValueError:
        return None
    return v if v is not None and math.isfinite(v) else None


def _slicers(rows: list[dict[str, str]], columns: list[str]) -> dict[str, dict[str, str]]:
    """Per metadata column: raw value -> slice name (numeric columns binned, ids dropped)."""
    out: dict[str, dict[str, str]] = {}
    for col in columns:
        values = [r.get(col, "") for r in rows]
        distinct = sorted(set(values))
        if len(distinct) <= MAX_LEVELS:
            out[col] = {v: v for v in distinct}
            continue
        nums = [_float(v) for v in values]
        if any(n is None for n in nums):
            continue  # many distinct texts: an identifier or free text, not a slice
        qs = sorted(n for n in nums if n is not None)
        cuts = [qs[int(len(qs) * k / NUMERIC_BINS)] for k in range(1, NUMERIC_BINS)]
        mapping = {}
        for v, n in zip(values, nums, strict=True):
            assert n is not None
            i = sum(n >= c for c in cuts)
            lo = f"{cuts[i - 1]:g}" if i > 0 else "min"
            hi = f"{cuts[i]:g}" if i < len(cuts) else "max"
            mapping[v] = f"[{lo}, {hi})"
        out[col] = mapping
    return out


def _keys(row: Mapping[str, str], slicers: Mapping[str, Mapping[str, str]],
          bands: list[tuple[float, float, str]] | None) -> list[tuple[str, str]]:
    keys = [("true class", row["label"]), ("predicted class", row["prediction"]),
            ("confusion", f"{row['label']} -> {row['prediction']}")]
    conf = _float(row.get("confidence"))
    if bands is not None and conf is not None:
        keys.append(("confidence", _band(conf, bands)))
    for col, mapping in slicers.items():
        keys.append((col, mapping.get(row.get(col, ""), row.get(col, ""))))
    return keys


def analyze_errors(rows: Sequence[Mapping[str, str]], *, sample_size: int = 150, seed: int = 0,
                   metadata: Mapping[str, Mapping[str, str]] | None = None,
                   others: Mapping[str, Sequence[str]] | None = None,
                   tags: Mapping[str, str] | None = None, bands: Sequence[float] = BANDS,
                   trial_id: int | None = None) -> ErrorAnalysis:
    """Sample dev errors reproducibly, tally them by category, list likely label errors.

    ``metadata`` maps example id -> {column: value} (joined to the rows); ``others`` maps id ->
    other models' predictions; ``tags`` maps id -> "tag1;tag2" read back from a tagged export.

    >>> rows = [{"id": str(i), "label": "3", "prediction": "8" if i < 6 else "3"}
    ...         for i in range(20)]
    >>> a = analyze_errors(rows)
    >>> a.n_errors, next(c.value for c in a.categories if c.dimension == "confusion")
    (6, '3 -> 8')
    """
    if sample_size < 1:
        raise SpecError("--sample", "an int >= 1 (the checklist suggests 100-200)", sample_size)
    table = [dict(r) for r in rows]
    for r in table:
        r.update((metadata or {}).get(r.get("id", ""), {}))
    if not table:
        raise SpecError("predictions", "at least one stored dev prediction", 0)
    missing = [c for c in ("id", "label", "prediction") if c not in table[0]]
    if missing:
        raise SpecError("predictions columns", "id, label and prediction", sorted(table[0]),
                        "Save them with run.save_predictions(ids, labels, predictions, ...).")
    meta_cols = [c for c in table[0] if c not in BASE_COLUMNS]
    slicers = _slicers(table, meta_cols)
    has_conf = "confidence" in table[0]
    band_list = _bands(sorted(bands)) if has_conf else None
    wrong = [r for r in table if r["label"] != r["prediction"]]
    n, n_err = len(table), len(wrong)
    dev_error = n_err / n
    k = min(sample_size, n_err)
    picked = sorted(random.Random(seed).sample(range(n_err), k)) if k else []
    sample = [wrong[i] for i in picked]
    # Error rates per category over all dev examples: is a category big, or merely common?
    totals: Counter[tuple[str, str]] = Counter()
    errs_all: Counter[tuple[str, str]] = Counter()
    for r in table:
        for key in _keys(r, slicers, band_list):
            if key[0] == "confusion":
                key = ("confusion", f"{r['label']} -> *")  # a pair's base: its true class
            totals[key] += 1
    for r in wrong:
        for key in _keys(r, slicers, band_list):
            errs_all[key] += 1
    counts: Counter[tuple[str, str]] = Counter()
    for r in sample:
        counts.update(_keys(r, slicers, band_list))
    categories = []
    for (dim, value), c in counts.items():
        base = (dim, f"{value.split(' -> ')[0]} -> *") if dim == "confusion" else (dim, value)
        rate = errs_all[(dim, value)] / totals[base] if totals[base] else None
        categories.append(Category(dim, value, c, c / k, c / k * dev_error, rate))
    categories.sort(key=lambda c: (-c.share, c.dimension, c.value))
    suspects = find_suspects(table, others)
    tag_cats, n_tagged = _tally_tags(tags or {}, {r["id"] for r in wrong}, dev_error)
    result = ErrorAnalysis(trial_id, n, n_err, dev_error, seed, k, sample, categories, suspects,
                           list(slicers), tag_cats, n_tagged,
                           labels=label_verdict(table, suspects, others))
    return replace(result, findings=_findings(result))


def _tally_tags(tags: Mapping[str, str], error_ids: set[str],
                dev_error: float) -> tuple[list[Category], int]:
    unknown = sorted(i for i in tags if i not in error_ids)
    if unknown:
        raise SpecError("--tags", "ids of dev errors of this trial", unknown[:5],
                        "Tag the CSV written by `tunebook errors NAME --export FILE` for the "
                        "same trial.")
    tagged = {i: [t.strip() for t in v.replace(",", ";").split(";") if t.strip()]
              for i, v in tags.items()}
    tagged = {i: ts for i, ts in tagged.items() if ts}
    counts: Counter[str] = Counter(t for ts in tagged.values() for t in ts)
    n = len(tagged)
    cats = [Category("tag", t, c, c / n, c / n * dev_error) for t, c in counts.items()]
    cats.sort(key=lambda c: (-c.share, c.value))
    return cats, n


def _findings(a: ErrorAnalysis) -> list[Finding]:
    out: list[Finding] = []
    if a.n_errors == 0:
        return [Finding("errors.none", "info", "The trial makes no dev errors.",
                        "Nothing to analyze; check that dev is hard enough and drawn like "
                        "deployment.", {"trial": a.trial_id, "examples": a.n_examples})]
    few = a.n_errors < FEW_ERRORS
    if few:
        out.append(Finding(
            "errors.few", "info",
            f"Only {a.n_errors} dev errors: too few to rank categories reliably.",
            "Read them one by one; for a ranking, analyze a weaker trial or grow the dev set.",
            {"errors": a.n_errors, "examples": a.n_examples}))
    pairs = [c for c in a.categories if c.dimension == "confusion"]
    if pairs:
        top = pairs[0]
        out.append(Finding(
            "errors.confusion", "warning" if top.share >= 0.2 and not few else "info",
            f"The largest confusion is {top.value}: {top.share:.0%} of the {a.sample_size} "
            f"sampled dev errors ({top.count}).",
            f"Look at these examples first; fixing all of them would remove at most "
            f"{top.ceiling:.4g} of dev error (now {a.dev_error:.4g}). Target them with more or "
            "augmented data of these classes, better features, or clearer labeling rules.",
            {"category": top.__dict__, "trial": a.trial_id}))
    for dim in a.metadata_columns:
        cats = [c for c in a.categories if c.dimension == dim and c.rate is not None]
        worst = max(cats, key=lambda c: c.rate or 0.0, default=None)
        if worst is not None and worst.rate and worst.rate >= SLICE_LIFT * a.dev_error \
                and worst.count >= 3 and not few:
            out.append(Finding(
                "errors.slice", "warning",
                f"{dim} = {worst.value} has error rate {worst.rate:.1%}, "
                f"{worst.rate / a.dev_error:.1f}x the dev average; it holds {worst.share:.0%} "
                "of sampled errors.",
                "Collect or weight more training data for this slice, and check its labels.",
                {"category": worst.__dict__}))
    if a.suspects:
        share = len(a.suspects) / a.n_errors
        problem = a.labels is not None and a.labels.problem
        out.append(Finding(
            "errors.label_quality", "warning" if problem else "info",
            f"{len(a.suspects)} of {a.n_errors} dev errors ({share:.0%}) look mislabelled "
            "(confidently wrong and other models agree); "
            + (a.labels.reason if a.labels else "") + ".",
            "Review them; if dev labels are wrong, clean dev and test first to restore trust in "
            "the metric; systematic train label noise calls for targeted relabeling.",
            {"ids": [s.id for s in a.suspects[:20]], "share": share, "problem": problem,
             "typical_p": a.labels.typical_p if a.labels else None}))
    if a.tags:
        top_tag = a.tags[0]
        out.append(Finding(
            "errors.tag", "info",
            f"Most tagged errors are '{top_tag.value}': {top_tag.share:.0%} of {a.n_tagged} "
            "tagged.",
            f"Fixing them would remove at most {top_tag.ceiling:.4g} of dev error; weigh that "
            "against how hard they are to fix.", {"tags": [c.__dict__ for c in a.tags]}))
    return out


def export_sample(analysis: ErrorAnalysis) -> str:
    """The sample as CSV text with empty ``tag`` and ``note`` columns for manual tagging."""
    suspects = {s.id for s in analysis.suspects}
    cols = [c for c in BASE_COLUMNS if analysis.sample and c in analysis.sample[0]]
    cols += analysis.metadata_columns
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([*cols, "likely_mislabelled", "tag", "note"])
    for r in analysis.sample:
        writer.writerow([r.get(c, "") for c in cols] + [int(r["id"] in suspects), "", ""])
    return buf.getvalue()


def read_tags(path: str | Path) -> dict[str, str]:
    """``id -> tag`` from a tagged export (rows with an empty tag are kept as untagged)."""
    p = Path(path)
    if not p.is_file():
        raise SpecError("--tags", "a CSV file written by --export and tagged by hand", str(p),
                        "Write one with: tunebook errors NAME --export sample.csv")
    with p.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []
        if "id" not in cols or "tag" not in cols:
            raise SpecError(f"{p} columns", "at least 'id' and 'tag'", cols)
        return {row["id"]: row.get("tag") or "" for row in reader}


def read_metadata(path: str | Path) -> dict[str, dict[str, str]]:
    """``id -> {column: value}`` from a CSV with an ``id`` column (joined to predictions)."""
    p = Path(path)
    if not p.is_file():
        raise SpecError("--metadata", "a CSV file with an 'id' column", str(p))
    with p.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if "id" not in (reader.fieldnames or []):
            raise SpecError(f"{p} columns", "an 'id' column", reader.fieldnames)
        return {row["id"]: {k: v for k, v in row.items() if k != "id"} for row in reader}


def errors_of_trial(store: Store, project: ProjectSpec, project_dir: str | Path,
                    trial: TrialRecord, *, sample_size: int = 150, seed: int = 0,
                    metadata: Mapping[str, Mapping[str, str]] | None = None,
                    tags: Mapping[str, str] | None = None, neighbours: int = 10,
                    split: str = "dev") -> ErrorAnalysis:
    """Error analysis of a stored trial; the other trials in the store act as neighbours.

    Every other completed trial with stored predictions of ``split`` can confirm a suspect
    (the trial's own round first, then the latest of other rounds), up to ``neighbours``.

    >>> errors_of_trial(store, project, ".", store.trial(4)).categories[0]  # doctest: +SKIP
    Category(dimension='confusion', value='3 -> 8', ...)
    """
    from tunebook.experiments.baseline import predictions_artifact, read_predictions
    from tunebook.rounds.lifecycle import ranked

    if project.task.type == "regression":
        raise SpecError("task.type", "a classification-like task (labels compared exactly)",
                        project.task.type, "Error analysis tallies wrong labels; for "
                        "regression, slice the residuals instead.")
    rows = read_predictions(store, trial, project_dir, split)
    if not rows:
        raise SpecError(f"trial {trial.id}", f"stored {split} predictions", "none",
                        f"Call run.save_predictions(ids, labels, predictions, confidence, "
                        f"split='{split}') at the end of train(config, run), then re-run it "
                        f"(tunebook round run {trial.round}, or tunebook baseline).")
    others: dict[str, list[str]] = {}
    same = [t for t in ranked(store, store.round(trial.round_id))
            if t.id != trial.id and t.status == "completed"]
    seen = {t.id for t in same} | {trial.id}
    rest = sorted((t for t in store.trials(status="completed") if t.id not in seen),
                  key=lambda t: -t.id)
    used = 0
    for peer in [*same, *rest]:
        if used >= neighbours:
            break
        peer_rows = read_predictions(store, peer, project_dir, split)
        if not peer_rows:
            continue
        used += 1
        for r in peer_rows:
            others.setdefault(r["id"], []).append(r["prediction"])
    result = analyze_errors(rows, sample_size=sample_size, seed=seed, metadata=metadata,
                            others=others, tags=tags, trial_id=trial.id)
    art = predictions_artifact(store, trial, split)
    result = replace(result, predictions_step=art.step if art else None,
                     best_step=trial.best_step)
    if result.predictions_step != trial.best_step:
        result = replace(result, findings=[*result.findings, Finding(
            "errors.predictions_step", "warning",
            f"These errors are of the model at another point than the trial's score: "
            f"{result.step_note}.",
            "Save predictions at the best step: reload the best checkpoint first "
            "(tk.Checkpoints.load_best, then tk.save_predictions(..., step=best_step)), or pass "
            "step= to run.save_predictions.",
            {"predictions_step": result.predictions_step, "best_step": trial.best_step})])
    return result
