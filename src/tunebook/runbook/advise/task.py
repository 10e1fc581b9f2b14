"""Runbook steps 1-3: from a task description to metrics, splits and a baseline to train.

A task description is a short YAML file (or plain text, read by keywords)::

    task: classification            # classification | regression | detection | sequence | other
    goal: Read handwritten digits on scanned forms
    success: dev accuracy >= 0.97
    data: {modality: image, examples: 1797, classes: 10, input: 8x8 grayscale}
    constraints: ["latency_ms <= 1"]
    compute: {accelerator: cpu, trial_minutes: 1, budget_hours: 2}

``advise_task`` answers with one proposal per choice, each naming its rule, and a draft
``tunebook.yaml`` that passes ``tunebook validate``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from tunebook.core.errors import SpecError
from tunebook.core.spec import parse_project
from tunebook.runbook.advise.baseline import baseline_proposals
from tunebook.runbook.advise.description import (
    LIMITED,
    PLENTY,
    TASK_TYPES,
    Compute,
    Data,
    TaskDescription,
    parse_task,
    read_task,
)
from tunebook.runbook.advise.rules import Proposal, propose


@dataclass(frozen=True)
class TaskAdvice:
    """Runbook steps 1-3 for one task description."""

    task: dict[str, Any]              # the description as read (text input: what was found)
    proposals: list[Proposal]
    project_yaml: str                 # a draft tunebook.yaml with these choices
    next_steps: list[str]


# --- reading ------------------------------------------------------------------------------------


def _metric(t: TaskDescription) -> tuple[str, str, str]:
    """(metric name, goal, why) for the task."""
    if t.task == "classification":
        if t.data.imbalance is not None and t.data.imbalance >= 3:
            return "f1_macro", "max", f"classes are imbalanced ({t.data.imbalance:g}:1)"
        return "accuracy", "max", "classes are balanced" if t.data.imbalance else \
            "no class imbalance stated"
    if t.task == "regression":
        return "mae", "min", "a regression task"
    if t.task == "detection":
        return "map", "max", "a detection task (mAP at IoU 0.5:0.95)"
    if t.task == "sequence":
        return "error_rate", "min", "a sequence task: use its standard metric (WER for speech, " \
            "BLEU/chrF for translation, exact match for tagging) in place of error_rate"
    return "score", "max", "task type 'other': name its metric"


def _constraint(text: str) -> tuple[str, str]:
    """'latency_ms <= 20' -> ('dev/latency_ms <= 20', 'latency_ms')."""
    m = re.match(r"^\s*([A-Za-z_][\w/]*)\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*$", text)
    if not m:
        raise SpecError("constraints", "a constraint like 'latency_ms <= 20'", text)
    name = m.group(1) if "/" in m.group(1) else f"dev/{m.group(1)}"
    return f"{name} {m.group(2)} {m.group(3)}", name.split("/", 1)[1]


def _splits(t: TaskDescription) -> dict[str, float]:
    n = t.data.examples
    if n is None or n < 10_000:
        dev = test = 0.15
    elif n <= PLENTY:
        dev = test = max(10_000 / n, 0.01)
    else:
        dev = test = 0.01
    out = {"dev": round(dev, 4), "test": round(test, 4)}
    if not t.data.train_matches_deployment:
        out["train_dev"] = out["dev"]
    out["train"] = round(1 - sum(out.values()), 4)
    return out


_FAMILIES: dict[tuple[str, str], tuple[str, str]] = {
    ("image", "classification"): ("resnet", "resnet18"),
    ("image", "detection"): ("retinanet-resnet50-fpn", "base"),
    ("text", "classification"): ("bert", "base"),
    ("text", "sequence"): ("t5", "small"),
    ("audio", "classification"): ("wav2vec2", "base"),
    ("audio", "sequence"): ("wav2vec2-ctc", "base"),
    ("video", "classification"): ("video-resnet-r2plus1d", "18"),
    ("tabular", "classification"): ("mlp", "small"),
    ("tabular", "regression"): ("mlp", "small"),
}
STANDARD = ("image", "text", "audio", "video")


def tiny_images(t: TaskDescription) -> bool:
    """Images of at most 64x64 pixels: too small for ImageNet backbones (made for ~224x224)."""
    m = re.search(r"(\d+)\s*x\s*(\d+)", t.data.input)
    return t.data.modality == "image" and m is not None and max(map(int, m.groups())) <= 64


def _family(t: TaskDescription) -> tuple[str, str, str]:
    m = t.data.modality
    if tiny_images(t):
        return "cnn", "small", f"{t.data.input} images: a 2-3 layer CNN is the mature choice"
    fam, size = _FAMILIES.get((m, t.task), ("mlp" if m == "tabular" else "transformer", "small"))
    return fam, size, f"the common family for {m} {t.task}"


def _strategy(t: TaskDescription) -> tuple[str, str]:
    n = t.data.examples
    standard = t.data.modality in STANDARD and not tiny_images(t)
    if n is not None and n < LIMITED and t.data.intermediate_labels == "easy":
        return "multi-stage pipeline", f"{n} examples is limited and intermediate labels are easy"
    if standard and (n is None or n < LIMITED):
        return "pretrained model + task head", (
            f"{t.data.modality} is a standard modality and "
            + (f"{n} labelled examples is limited (< {LIMITED})" if n else "data size unknown"))
    if n is not None and n >= PLENTY and t.data.intermediate_labels != "easy":
        return "end-to-end model", f"{n} end-to-end examples and no easy intermediate labels"
    why = "tiny images that pretrained backbones do not fit" if tiny_images(t) else \
        f"{t.data.modality} inputs without a standard pretrained backbone"
    return "end-to-end model (small, from scratch)", (
        why + (f"; {n} examples" if n else "") + "; no intermediate task is named")


def advise_task(t: TaskDescription) -> TaskAdvice:
    """Proposals for runbook steps 1-3, each with its rule, and a draft tunebook.yaml.

    >>> a = advise_task(parse_task("task: classification\\ndata: {modality: image}"))
    >>> [p.topic for p in a.proposals][:3]
    ['task', 'metrics', 'constraints']
    """
    ps: list[Proposal] = [propose(
        "task", {"type": t.task, "goal": t.goal, "success": t.success}, "task-first",
        "the task type picks the metric; the goal and success criterion judge the score",
        f"task: {t.task}", f"goal: {t.goal or '(not stated: add one)'}")]
    name, goal, why = _metric(t)
    cons = [_constraint(c) for c in t.constraints]
    metrics = [{"name": name, "split": s, "goal": goal} for s in ("dev", "train", "test")]
    if not t.data.train_matches_deployment:
        metrics.append({"name": name, "split": "train_dev", "goal": goal})
    metrics.append({"name": "loss", "split": "train", "goal": "min"})
    metrics += [{"name": n, "split": "dev", "goal": "min"} for _, n in cons]
    ps.append(propose("metrics", metrics, "metric-by-task", why, f"task: {t.task}"))
    ps.append(propose("constraints", [c for c, _ in cons], "satisficing-constraints",
                      "each stated limit becomes a constraint" if cons else
                      "no limit stated: add one for latency or memory if deployment has it",
                      *[f"constraint: {c}" for c in t.constraints]))
    ps.append(propose("score", f"dev/{name}", "single-score",
                      f"the optimizing metric dev/{name} ({goal})"))
    splits = _splits(t)
    ps.append(propose("splits", splits, "split-sizes",
                      f"{t.data.examples or 'an unknown number of'} examples",
                      f"examples: {t.data.examples}"))
    if not t.data.train_matches_deployment:
        ps.append(propose("train_dev", True, "train-dev", "training data is drawn unlike "
                          "deployment", "data.train_matches_deployment: false"))
    fam, size, why = _family(t)
    ps.append(propose("architecture", {"family": fam, "size": size, "version": "1"},
                      "mature-family", why, f"modality: {t.data.modality}", f"task: {t.task}"))
    strategy, why = _strategy(t)
    ps.append(propose("strategy", strategy, "transfer-or-end-to-end", why,
                      f"examples: {t.data.examples}", f"modality: {t.data.modality}",
                      f"intermediate_labels: {t.data.intermediate_labels}"))
    ps += baseline_proposals(t, fam, strategy)
    draft = _project_yaml(t, ps)
    steps = ["write the draft to tunebook.yaml (tunebook advise --task FILE --write-project "
             "tunebook.yaml), adapt train.py, then tunebook validate",
             "tunebook data split", "tunebook batch-size", "tunebook baseline",
             "tunebook steps", "tunebook advise (proposes the first round)"]
    return TaskAdvice(t.model_dump(mode="json"), ps, draft, steps)


def _project_yaml(t: TaskDescription, ps: list[Proposal]) -> str:
    by = {p.topic: p.value for p in ps}
    config = {k: by[k] for k in ("optimizer", "lr", "weight_decay", "batch_size", "schedule",
                                 "max_train_steps") if k in by}
    doc = {
        "name": re.sub(r"[^A-Za-z0-9_.-]+", "-", t.name) or "project",
        "task": {"type": t.task, "goal": t.goal or "TODO: state the business goal",
                 "success": t.success},
        "metrics": by["metrics"], "constraints": by["constraints"], "score": by["score"],
        "pipeline": "train:train", "eval_every": by.get("eval_every", 100),
        "baseline": {"architecture": by["architecture"], "config": config},
    }
    parse_project(doc, "draft tunebook.yaml")  # the draft is valid by construction; check it
    head = "# Draft by tunebook advise: every choice below names its rule in the advice.\n"
    return head + yaml.safe_dump(doc, sort_keys=False)


__all__ = ["LIMITED", "PLENTY", "TASK_TYPES", "Compute", "Data", "TaskAdvice", "TaskDescription",
           "advise_task", "parse_task", "read_task"]
