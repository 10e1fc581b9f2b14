"""Runbook step 3: optimizer, batch size, schedule and training steps for a first baseline."""

from __future__ import annotations

import math

from tunebook.runbook.advise.description import TaskDescription
from tunebook.runbook.advise.rules import Proposal, propose

EPOCHS_SCRATCH = 20
EPOCHS_FINETUNE = 3
EVALS_PER_RUN = 20


def adam_params(trials: int) -> list[str]:
    """The Adam hyperparameters worth tuning with ``trials`` per round (playbook).

    >>> adam_params(8), adam_params(12), adam_params(30), adam_params(100)
    (['lr'], ['lr', 'beta1'], ['lr', 'beta1', 'eps'], ['lr', 'beta1', 'eps', 'beta2'])
    """
    if trials < 10:
        return ["lr"]
    if trials < 25:
        return ["lr", "beta1"]
    if trials < 75:
        return ["lr", "beta1", "eps"]
    return ["lr", "beta1", "eps", "beta2"]


def trials_per_round(t: TaskDescription) -> int | None:
    c = t.compute
    if c.trial_minutes is None or c.budget_hours is None:
        return None
    return max(1, int(c.budget_hours * 60 // c.trial_minutes))


def baseline_proposals(t: TaskDescription, family: str, strategy: str) -> list[Proposal]:
    """Optimizer, lr, weight decay, batch size, schedule, steps and eval interval."""
    finetune = strategy.startswith("pretrained")
    big_cnn = family.startswith("resnet") and not finetune and (t.data.examples or 0) >= 1_000_000
    out: list[Proposal] = []
    if big_cnn:
        opt, lr, why = "nesterov", 0.1, "a large CNN trained from scratch"
    elif finetune:
        opt, lr, why = "adamw", 3e-5, "fine-tuning a pretrained model"
    else:
        opt, lr, why = "adamw", 1e-3, "a small model trained from scratch"
    out.append(propose("optimizer", opt, "popular-optimizer", why, f"family: {family}",
                       f"strategy: {strategy}"))
    out.append(propose("lr", lr, "popular-optimizer", f"the usual starting lr for {why}"))
    out.append(propose("weight_decay", 0.0 if not finetune else 0.01, "popular-optimizer",
                       "start from the community default; tune it as a nuisance later"))
    n = trials_per_round(t)
    tuned = adam_params(n if n is not None else 8)
    out.append(propose("adam_tuning", tuned, "adam-by-budget",
                       f"{n} trials per round fit the compute budget" if n is not None else
                       "no compute budget stated: assuming under 10 trials per round",
                       f"compute: {t.compute.model_dump()}"))
    batch = 32 if finetune else (64 if t.compute.accelerator == "cpu" else 128)
    out.append(propose("batch_size", batch, "batch-size-throughput",
                       f"a starting size for {t.compute.accelerator}; replace it with the knee "
                       "of `tunebook batch-size` before tuning anything else",
                       f"accelerator: {t.compute.accelerator}"))
    out.append(propose("schedule", "constant", "simple-schedule",
                       "constant for the baseline and the steps probe; linear or cosine decay "
                       "once max_train_steps is fixed"))
    train_share = 0.7
    epochs = EPOCHS_FINETUNE if finetune else EPOCHS_SCRATCH
    if t.data.examples:
        steps = max(100, math.ceil(epochs * t.data.examples * train_share / batch / 100) * 100)
        why = f"about {epochs} epochs of {int(t.data.examples * train_share)} training " \
              f"examples at batch {batch}"
    else:
        steps, why = 10_000, "data size unknown: a placeholder to refine with `tunebook steps`"
    staged = n is not None and n < 20
    out.append(propose("max_train_steps", steps, "steps-from-probe", why + (
        "; compute-bound: run round 1 at 20% of this length (fidelity: {stages: 2, "
        "fraction: 0.2})" if staged else "; refine with `tunebook steps`"),
        f"examples: {t.data.examples}", f"trials per round: {n}"))
    out.append(propose("eval_every", max(1, steps // EVALS_PER_RUN), "eval-every",
                       f"{EVALS_PER_RUN} evaluations over {steps} steps"))
    return out
