"""The MCP server driven by a real MCP client session over stdio (a spawned server process)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from runbook_support import ROUND, make_project

from tunebook.tools.schemas import SCHEMAS

pytest.importorskip("mcp")

SRC = str(Path(__file__).parents[1] / "src")
TOOLS = {"project_status", "checklist", "note", "advise_task", "run_baseline", "propose_round",
         "run_round", "analyze", "diagnose", "error_sample", "promote", "report"}
SCHEMA_OF = {"run_baseline": "baseline"}


def _session(project: Path, body: Callable[[Any], Awaitable[None]], timeout: float,
             errlog: Path | None = None) -> None:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    env = {**os.environ, "TUNEBOOK_TEST_PRINT": "1", "PYTHONPATH": os.pathsep.join(
        [SRC, *filter(None, [os.environ.get("PYTHONPATH")])])}
    params = StdioServerParameters(command=sys.executable, env=env,
                                   args=["-m", "tunebook", "mcp", "--project", str(project)])

    async def main() -> None:
        async with stdio_client(params, errlog=err) as (read, write), \
                ClientSession(read, write) as s:
            await s.initialize()
            await body(s)

    with open(errlog or os.devnull, "w") as err:
        asyncio.run(asyncio.wait_for(main(), timeout))


def _error(res: Any) -> bool:
    return bool(getattr(res, "is_error", getattr(res, "isError", False)))


def _data(res: Any, tool: str) -> dict[str, Any]:
    """The structured answer, checked against the tool's published schema."""
    assert not _error(res), res.content
    data = getattr(res, "structured_content", None) or getattr(res, "structuredContent", None)
    assert isinstance(data, dict)
    jsonschema.validate(data, SCHEMAS[SCHEMA_OF.get(tool, tool)].model_json_schema())
    return data


async def _call(s: Any, tool: str, **args: Any) -> dict[str, Any]:
    return _data(await s.call_tool(tool, args), tool)


def _text(res: Any) -> str:
    return " ".join(getattr(c, "text", "") for c in res.content)


def test_tools_publish_schemas_and_bad_calls_are_error_results(tmp_path: Path) -> None:
    folder = make_project(tmp_path / "p")
    (folder / "round.yaml").write_text(yaml.safe_dump(ROUND))
    seen: dict[str, Any] = {}

    async def body(s: Any) -> None:
        tools = (await s.list_tools()).tools
        seen["tools"] = {t.name: (getattr(t, "output_schema", None)
                                  or getattr(t, "outputSchema", None)) for t in tools}
        seen["bad_type"] = await s.call_tool("run_round", {"round": "round.yaml",
                                                           "workers": "many"})
        seen["unknown_round"] = await s.call_tool("run_round", {"round": "nope"})
        seen["empty_report"] = await s.call_tool("report", {})
        seen["no_task"] = await s.call_tool("advise_task", {"description": "goal: be nice"})
        seen["bad_note"] = await s.call_tool("note", {"item": "9.9", "text": "x"})
        seen["baseline"] = await _call(s, "run_baseline")
        # Worker processes write to fd 1 too (the planted print): stderr, not the stream.
        seen["run"] = await _call(s, "run_round", round="round.yaml", workers=2,
                                  executor="processes")
        seen["status"] = await _call(s, "project_status")
        seen["checklist"] = await _call(s, "checklist")

    _session(folder, body, timeout=120, errlog=tmp_path / "server.err")
    # Every print of train() went to the server's stderr: the baseline's (inline) and the
    # six trials' (two worker processes), none into the protocol stream.
    assert (tmp_path / "server.err").read_text().count("training with") == 7
    assert set(seen["tools"]) == TOOLS
    for name, schema in seen["tools"].items():
        assert schema and schema["type"] == "object", name
    assert _error(seen["bad_type"]) and "workers" in _text(seen["bad_type"])
    assert _error(seen["unknown_round"]) and "'nope' is not in the store" in _text(
        seen["unknown_round"])
    assert _error(seen["empty_report"]) and "holds no rounds yet" in _text(seen["empty_report"])
    assert _error(seen["no_task"]) and "task type" in _text(seen["no_task"])
    assert _error(seen["bad_note"]) and "checklist item id" in _text(seen["bad_note"])
    # ... and the server kept serving after every bad call.
    assert seen["baseline"]["ok"] and seen["run"]["created"]
    assert len(seen["run"]["trials"]) == 6
    assert [r["name"] for r in seen["status"]["rounds"]] == ["baseline", "width"]
    items = {i["id"]: i for sec in seen["checklist"]["sections"] for i in sec["items"]}
    assert items["0.multiple_trials"]["status"] == "done"


DIGITS_TASK = """Task: classification
We want to read handwritten digits on scanned forms: 1797 labelled images of 8x8 pixels.
Success: dev accuracy >= 0.97.
"""


@pytest.mark.slow
def test_an_agent_completes_runbook_steps_1_to_9_on_digits(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from tunebook.demo import prepare, write_example

    folder = tmp_path / "digits"
    write_example(folder)
    prepare(folder)
    spec = yaml.safe_load((folder / "tunebook.yaml").read_text())
    spec["baseline"]["config"]["max_train_steps"] = 100  # keep the test short
    spec["eval_every"] = 20
    (folder / "tunebook.yaml").write_text(yaml.safe_dump(spec))
    got: dict[str, Any] = {}

    async def body(s: Any) -> None:
        got["task"] = await _call(s, "advise_task", description=DIGITS_TASK)     # steps 1-3
        got["baseline"] = await _call(s, "run_baseline")                          # step 3
        got["advice"] = await _call(s, "propose_round", write="next.yaml")        # steps 4-6
        # Step 7: launch the proposed round, trimmed to 2 trials per target value.
        proposed = yaml.safe_load((folder / "next.yaml").read_text())
        proposed.update(budget=2, max_train_steps=80)
        (folder / "next.yaml").write_text(yaml.safe_dump(proposed))
        name = proposed["name"]
        got["run"] = await _call(s, "run_round", round="next.yaml", workers=1,
                                 executor="inline")
        got["analyze"] = await _call(s, "analyze", round=name)                   # step 8
        got["diagnose"] = await _call(s, "diagnose", round=name)
        got["errors"] = await _call(s, "error_sample", round=name, sample=50)
        got["promote"] = await _call(s, "promote", round=name, seeds=2, workers=1,  # step 9
                                     executor="inline")
        got["next"] = await _call(s, "propose_round")
        got["report"] = await _call(s, "report")
        got["checklist"] = await _call(s, "checklist")

    _session(folder, body, timeout=600)
    by = {p["topic"]: p for p in got["task"]["proposals"]}
    assert got["task"]["task"]["task"] == "classification"
    assert by["architecture"]["value"]["family"] == "cnn" and by["score"]["value"]
    assert got["baseline"]["ok"], got["baseline"]["problems"]
    assert got["advice"]["bottleneck"]["kind"] in ("bias", "variance", "none", "mismatch",
                                                   "data", "search_space")
    assert got["advice"]["round"] is not None and got["advice"]["written"]
    targets = [p for p in got["advice"]["round"]["params"].values() if p["role"] == "target"]
    assert got["run"]["created"]
    assert len(got["run"]["trials"]) == 2 * (len(targets[0]["values"]) if targets else 1)
    assert all(t["status"] == "completed" for t in got["run"]["trials"])
    assert got["diagnose"]["errors"]["dev"] is not None
    assert got["errors"]["n_examples"] > 0
    assert got["promote"]["verdict"]
    assert Path(got["report"]["path"]).is_file()
    items = {i["id"]: i for sec in got["checklist"]["sections"] for i in sec["items"]}
    assert items["3.4.decision"]["status"] == "done"
    assert items["7.3"]["status"] == "done" and items["7.7"]["status"] == "done"
    print(json.dumps({"bottleneck": got["next"]["bottleneck"]["kind"]}))
