"""The documented rules ``tunebook advise`` applies, each with its source.

Every proposal names one of these rules and the evidence it was applied to, so a person (or an
agent) can check the reasoning instead of trusting it. Sources: the checklist (docs/checklist.md,
section numbers), Google's Deep Learning Tuning Playbook (Godbole et al., 2023; "playbook"), and
Andrew Ng's Machine Learning Yearning (2018; "MLY").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Rule:
    name: str
    text: str
    source: str


@dataclass(frozen=True)
class Proposal:
    """One proposed choice, the rule behind it, and the evidence the rule was applied to."""

    topic: str
    value: Any
    rule: str
    source: str
    why: str
    evidence: list[str] = field(default_factory=list)


_RULES = [
    # --- from a task description (runbook steps 1-3) ---
    Rule("task-first", "Extract the task type and the business goal first: the type picks the "
         "metric, the goal and success criterion judge the score.", "checklist 0; runbook "
         "step 1"),
    Rule("metric-by-task", "Classification: accuracy when classes are balanced, macro-F1 when "
         "the rarest class is 3x rarer than the commonest; regression: MAE (RMSE when large "
         "errors cost more); detection: mAP; sequence: the task's standard metric.",
         "checklist 1.1; MLY ch. 8"),
    Rule("satisficing-constraints", "Every must-meet threshold (latency, memory, fairness) is a "
         "constraint, not part of the score.", "checklist 1.1; MLY ch. 9"),
    Rule("single-score", "Select models by one number: the optimizing metric itself unless a "
         "trade-off is stated.", "checklist 1.1; MLY ch. 8"),
    Rule("split-sizes", "Dev and test large enough to see the differences that matter: 15% each "
         "under 10k examples, about 10k each up to 1M, 1% each beyond.", "checklist 1.2; "
         "MLY ch. 5-7"),
    Rule("train-dev", "When training data is drawn differently from deployment, hold out a "
         "train-dev split from the training distribution to separate variance from mismatch.",
         "checklist 1.2, 3.3; MLY ch. 36-38"),
    Rule("mature-family", "Start from a mature architecture family that already works for the "
         "modality and task, at small or base size.", "checklist 2.1; playbook: choosing the "
         "model architecture"),
    Rule("transfer-or-end-to-end", "Limited target data in a standard modality: pretrained model "
         "+ task head. Lots of end-to-end data with intermediate labels hard to get: end-to-end. "
         "Limited data with intermediate tasks easy to label: a multi-stage pipeline. "
         "(tunebook calls under 100k labelled examples limited, 1M or more lots.)",
         "checklist 4.3; MLY ch. 47-50"),
    Rule("popular-optimizer", "Use the most popular optimizer for the problem: AdamW for "
         "transformers and fine-tuning (lr 3e-5) and for small models from scratch (lr 1e-3); "
         "SGD + Nesterov momentum 0.9 for large CNNs from scratch (lr 0.1 at batch 256).",
         "checklist 2.2; playbook: choosing the optimizer"),
    Rule("adam-by-budget", "With fewer than 10 trials per round tune only the learning rate; "
         "10-25: lr and beta1; 25 or more: lr, beta1 and epsilon; far more than 25: beta2 too.",
         "playbook: choosing the optimizer"),
    Rule("batch-size-throughput", "Batch size is not a knob for dev performance: use the largest "
         "size whose throughput still scales (scan powers of two until out of memory), then "
         "keep it; changing it re-opens lr, regularization and steps.", "checklist 2.3; "
         "playbook: choosing the batch size"),
    Rule("simple-schedule", "Baseline with a constant lr (it also serves the steps probe); once "
         "max_train_steps is fixed, use linear or cosine decay.", "checklist 2.4; playbook: "
         "learning rate schedules"),
    Rule("steps-from-probe", "Not compute-bound: start near 20 epochs from scratch (3 when "
         "fine-tuning) and refine with a constant-lr probe (tunebook steps). Compute-bound: round "
         "1 at 10-20% of the full length, round 2 near full length for the top configs.",
         "checklist 5.1; playbook: deciding how long to train"),
    Rule("eval-every", "Evaluate at fixed step intervals, about 20 times per run, so the best "
         "checkpoint can be chosen retrospectively.", "checklist 6.2"),
    # --- from a project's results (runbook steps 4-9) ---
    Rule("baseline-first", "No tuning round before a baseline that beats chance and trains "
         "stably.", "checklist 2.4; runbook step 3"),
    Rule("first-round", "With a fresh baseline and nothing diagnosed yet, the first question is "
         "the lr range (with the other nuisance hyperparameters tuned alongside).",
         "checklist 3.1"),
    Rule("honoured-keys", "Never propose, scan or tick a config key that train() does not read: "
         "a round over it trains the same model for every value. Make train() use it first.",
         "tunebook: the keys train() read are recorded per trial"),
    Rule("finish-the-round", "Analyze a round only once its trials have finished.",
         "checklist 3.3"),
    Rule("stability-gate", "Frequent divergence or an unstable lr probe comes before any other "
         "question: scan warmup (at most 10% of training) with lr as nuisance; then clipping at "
         "the 90th percentile of the grad norm; lowering the peak lr is the last resort.",
         "checklist 5.2; playbook: instability"),
    Rule("expand-boundary", "When the best trials sit at the edge of a range, repeat the round "
         "with the range extended past that edge before reading its answer.", "checklist 3.3; "
         "playbook: identifying bad search-space boundaries"),
    Rule("labels-first", "Significant label errors in dev/test come first: clean them to "
         "restore trust in the metric. (tunebook calls likely label errors significant when "
         "other models agree with the 'wrong' prediction on at least 1% of the dev examples; "
         "a note on 4.2.dev_test_labels answers it.)", "checklist 4.2; MLY ch. 16"),
    Rule("largest-gap", "The largest gap of the error ladder picks the work: avoidable bias -> "
         "bigger model or longer training; variance -> more data or regularization; mismatch "
         "-> training data closer to dev/test; overfitting to dev -> a fresh dev set.",
         "checklist 4.1; MLY ch. 20-28, 40"),
    Rule("promote-by-seeds", "Before the next question, re-train the round's best config and the "
         "baseline over several seeds; promote only a gain beyond seed noise.",
         "checklist 3.4"),
    Rule("exploit-when-understood", "When no gap stands out and the space is understood, "
         "switch from exploration (quasi-random) to exploitation (Bayesian optimization).",
         "checklist 3.2; playbook: exploration vs exploitation"),
    Rule("nuisance-range", "Tune lr on a log scale over one decade each side of the baseline "
         "(or the previous round's range), weight decay on a log scale over 1e-6..1e-2.",
         "checklist 3.2; playbook: search spaces"),
    Rule("trials-per-target", "Enough trials per target value that one lands in the good "
         "corner of the nuisance space (tunebook round plan's rule).", "checklist 3.2"),
]
RULES: dict[str, Rule] = {r.name: r for r in _RULES}


def propose(topic: str, value: Any, rule: str, why: str, *evidence: str) -> Proposal:
    """A proposal under a named rule (an unknown rule name is a bug, raised at once)."""
    r = RULES[rule]
    return Proposal(topic, value, r.name, r.source, why, [e for e in evidence if e])
