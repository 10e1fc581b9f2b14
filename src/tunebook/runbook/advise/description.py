"""A task description (runbook steps 1-3's input): the YAML file, or plain text read by keywords.

Its own module so that the advice modules (``task``, ``baseline``) both import it and neither
imports the other back.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tunebook.core.errors import SpecError
from tunebook.core.spec import TaskType

Modality = Literal["image", "text", "audio", "video", "tabular", "time_series", "other"]
TASK_TYPES = ("classification", "regression", "detection", "sequence", "other")
LIMITED = 100_000        # labelled examples: "data limited" (checklist 4.3), tunebook's threshold
PLENTY = 1_000_000       # "lots of end-to-end data"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Data(_Strict):
    modality: Modality = "other"
    examples: int | None = Field(None, gt=0, description="labelled examples available")
    classes: int | None = Field(None, gt=1)
    imbalance: float | None = Field(None, ge=1, description="commonest / rarest class count")
    input: str = ""
    train_matches_deployment: bool = True
    intermediate_labels: Literal["easy", "hard", "none"] = "none"


class Compute(_Strict):
    accelerator: Literal["cpu", "gpu", "tpu"] = "cpu"
    trial_minutes: float | None = Field(None, gt=0, description="one full-length trial")
    budget_hours: float | None = Field(None, gt=0, description="per round")


class TaskDescription(_Strict):
    task: TaskType
    name: str = "project"
    goal: str = ""
    success: str = ""
    data: Data = Field(default_factory=Data)
    constraints: list[str] = Field(default_factory=list)
    compute: Compute = Field(default_factory=Compute)


def read_task(path: str | Path) -> TaskDescription:
    """Read a YAML task description, or a text one by keywords; refuse one without a task type."""
    p = Path(path)
    if not p.is_file():
        raise SpecError("--task", "a task description file (YAML or text)", str(p))
    return parse_task(p.read_text(encoding="utf-8"), str(p))


def parse_task(text: str, source: str = "task description") -> TaskDescription:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    known = set(TaskDescription.model_fields)
    # Prose with colons also parses as YAML: read it as YAML only when it looks like the format.
    if not isinstance(data, dict) or not ("task" in data or set(map(str, data)) & known):
        data = _from_text(text, source)
    if "task" not in data or data["task"] in (None, ""):
        raise SpecError(f"{source}: task", f"the task type, one of {list(TASK_TYPES)}",
                        "nothing", "Add a line 'task: classification' (or regression, "
                        "detection, sequence, other).")
    data = {**data, "constraints": [str(c) for c in (data.get("constraints") or [])]}
    try:
        return TaskDescription.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        if err["type"] == "extra_forbidden":
            raise SpecError(f"{source}: {where}", "a known key of the task description",
                            str(err["loc"][-1]), "Known keys: " + ", ".join(
                                TaskDescription.model_fields)) from None
        raise SpecError(f"{source}: {where}", err["msg"].lower(), err.get("input")) from None


_TYPE_WORDS = [("detection", r"\bdetect|bounding box"),
               ("regression", r"regress|predict (the |a )?(price|value|number|amount|count)"),
               ("sequence", r"translat|transcri|sequence|tagging|summari[sz]|generat"),
               ("classification", r"classif|categori[sz]|recogni[sz]e|label each|which class")]
_MODALITY_WORDS = [("image", r"image|photo|picture|scan|pixel|digit"),
                   ("audio", r"audio|speech|sound|spoken"),
                   ("video", r"video|clip"),
                   ("text", r"\btext|sentence|document|review|tweet|email"),
                   ("tabular", r"tabular|table|csv|column|spreadsheet")]
_COUNT = re.compile(r"(\d[\d,_.]*)\s*(k|thousand|m|million)?\s+(?:[a-z-]+\s+){0,2}?"
                    r"(?:examples|images|samples|rows|documents|sentences|records|clips|items|"
                    r"emails|tickets|messages|reviews|photos|scans)\b", re.I)
_LATENCY = re.compile(r"(?:latency|inference)[^.\d]{0,30}?(?:under|below|<=?|at most)\s*"
                      r"(\d+(?:\.\d+)?)\s*ms", re.I)


def _from_text(text: str, source: str) -> dict[str, Any]:
    low = text.lower()
    out: dict[str, Any] = {}
    keyed = dict(re.findall(r"^\s*(task|goal|success)\s*:\s*(.+)$", text, re.M | re.I))
    keyed = {k.lower(): v.strip() for k, v in keyed.items()}
    kind = keyed.get("task", "").lower()
    if kind not in TASK_TYPES:
        kind = next((t for t, pat in _TYPE_WORDS if re.search(pat, low)), "")
    if kind:
        out["task"] = kind
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s.strip()]
    out["goal"] = keyed.get("goal") or (sentences[0] if sentences else "")
    if "success" in keyed:
        out["success"] = keyed["success"]
    data: dict[str, Any] = {}
    modality = next((m for m, pat in _MODALITY_WORDS if re.search(pat, low)), None)
    if modality:
        data["modality"] = modality
    m = _COUNT.search(text)
    if m:
        n = float(m.group(1).replace(",", "").replace("_", ""))
        scale = {"k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6}.get(
            (m.group(2) or "").lower(), 1)
        data["examples"] = int(n * scale)
    res = re.search(r"\b(\d+)\s*x\s*(\d+)\b", text)
    if res:
        data["input"] = f"{res.group(1)}x{res.group(2)}"
    if data:
        out["data"] = data
    lat = _LATENCY.search(text)
    if lat:
        out["constraints"] = [f"latency_ms <= {lat.group(1)}"]
    return out


# --- proposing ------------------------------------------------------------------------------------
