"""Nothing outside the project is read or written through the agent tools (shared by the CLI
and the MCP server): absolute paths, '..', '~' and symlinks that point out are refused with one
line, and project files that tunebook did not write are never replaced."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from runbook_support import ROUND, make_project, with_baseline, with_round

from tunebook.core.errors import SpecError
from tunebook.store import Store
from tunebook.store.files import ROOTS_ENV, allowed_roots, inside
from tunebook.tools import agent


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, Path]:
    """A project, and beside it an "outside" folder holding a file an attacker wants."""
    proj = make_project(tmp_path / "proj")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.yaml").write_text("precious: true\n")
    (outside / "victim.html").write_text("<html>precious</html>")
    (outside / "task.yaml").write_text("task: classification\ngoal: steal\n")
    (proj / "out-link").symlink_to(outside, target_is_directory=True)
    (proj / "victim-link.yaml").symlink_to(outside / "victim.yaml")
    return proj, outside


def escapes(proj: Path, outside: Path, name: str) -> list[str]:
    return [str(outside / name),                       # absolute
            f"../outside/{name}",                      # '..'
            f"sub/../../outside/{name}",               # '..' after a real-looking folder
            f"out-link/{name}",                        # a symlinked folder pointing out
            f"~/{name}",                               # '~' (never expanded)
            f"{proj}/../outside/{name}"]               # absolute through '..'


def untouched(outside: Path) -> None:
    assert (outside / "victim.yaml").read_text() == "precious: true\n"
    assert (outside / "victim.html").read_text() == "<html>precious</html>"
    assert sorted(p.name for p in outside.iterdir()) == ["task.yaml", "victim.html",
                                                         "victim.yaml"]


def test_report_out_is_confined(world: tuple[Path, Path]) -> None:
    proj, outside = world
    s = agent.Session(proj)
    with_round(proj, s.store)
    for bad in escapes(proj, outside, "victim.html"):
        with pytest.raises(SpecError, match="out: expected a path inside"):
            agent.report(s, out=bad)
    for bad, why in [("train.py", "ending .html"), ("tunebook.yaml", "ending .html")]:
        with pytest.raises(SpecError, match=why):
            agent.report(s, out=bad)
    (proj / "mine.html").write_text("<html>my own page</html>")
    with pytest.raises(SpecError, match="not a tunebook report"):
        agent.report(s, out="mine.html")
    assert (proj / "mine.html").read_text() == "<html>my own page</html>"
    # inside: written, and written again over its own report
    for _ in range(2):
        got = agent.report(s, out="reports/r.html")
        assert Path(got["path"]) == proj / "reports" / "r.html"
    untouched(outside)


def test_propose_round_write_is_confined_and_keeps_project_files(
        world: tuple[Path, Path]) -> None:
    proj, outside = world
    s = agent.Session(proj)
    for bad in [*escapes(proj, outside, "victim.yaml"), "victim-link.yaml"]:
        with pytest.raises(SpecError, match="write: expected a path inside"):
            agent.propose_round(s, write=bad, overwrite=True)
    with pytest.raises(SpecError, match="not the project file"):
        agent.propose_round(s, write="tunebook.yaml", overwrite=True)
    with pytest.raises(SpecError, match="ending .yaml"):
        agent.propose_round(s, write="train.py", overwrite=True)
    (proj / "round.yaml").write_text(yaml.safe_dump(ROUND))
    with pytest.raises(SpecError, match="not written by tunebook advise"):
        agent.propose_round(s, write="round.yaml", overwrite=True)
    assert yaml.safe_load((proj / "round.yaml").read_text()) == ROUND
    untouched(outside)


def test_propose_round_overwrites_only_its_own_file(world: tuple[Path, Path]) -> None:
    proj, _ = world
    s = agent.Session(proj)
    with_baseline(proj, s.store)
    with_round(proj, s.store)
    first = agent.propose_round(s, write="next.yaml")
    assert first["written"] and (proj / "next.yaml").read_text().startswith("# Proposed by")
    with pytest.raises(SpecError, match="does not exist yet"):
        agent.propose_round(s, write="next.yaml")
    assert agent.propose_round(s, write="next.yaml", overwrite=True)["written"]


def test_advise_task_reads_only_inside(world: tuple[Path, Path],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    proj, outside = world
    roots = agent.Session(proj).roots
    for bad in [*escapes(proj, outside, "task.yaml"), "/etc/passwd", "../../../etc/shadow"]:
        with pytest.raises(SpecError, match="description: expected a path inside"):
            agent.advise_task(bad, roots)
    (proj / "task.yaml").write_text("task: classification\ngoal: read digits\n")
    assert agent.advise_task("task.yaml", roots)["task"]["task"] == "classification"
    # text that is not a path is still a description
    with pytest.raises(SpecError, match="task type"):
        agent.advise_task("be nice", roots)
    # the CLI's default root is the current folder
    monkeypatch.chdir(proj)
    assert agent.advise_task("task.yaml")["task"]["task"] == "classification"
    with pytest.raises(SpecError, match="expected a path inside"):
        agent.advise_task(str(outside / "task.yaml"))


def test_run_round_file_is_confined(world: tuple[Path, Path]) -> None:
    proj, outside = world
    (outside / "evil.yaml").write_text(yaml.safe_dump({**ROUND, "name": "evil"}))
    s = agent.Session(proj)
    for bad in escapes(proj, outside, "evil.yaml"):
        with pytest.raises(SpecError, match="round: expected a path inside"):
            agent.run_round(s, bad, workers=1, executor="inline")
    assert [r.name for r in s.store.rounds()] == []


def test_allowed_roots_are_explicit(world: tuple[Path, Path],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    proj, outside = world
    s = agent.Session(proj, allow=[outside])
    with_round(proj, s.store)
    target = outside / "r.html"
    assert agent.report(s, out=str(target))["path"] == str(target)
    monkeypatch.setenv(ROOTS_ENV, str(outside))
    assert outside in agent.Session(proj).roots
    monkeypatch.delenv(ROOTS_ENV)
    assert agent.Session(proj).roots == (proj.resolve(),)


SEGMENTS = st.sampled_from(["..", ".", "a", "b", "out-link", "~", "", "victim.yaml",
                            "%2e%2e", "..."])


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(SEGMENTS, min_size=1, max_size=6), absolute=st.booleans())
def test_inside_never_returns_a_path_outside(world: tuple[Path, Path], parts: list[str],
                                            absolute: bool) -> None:
    proj, _ = world
    roots = allowed_roots(proj)
    text = ("/" if absolute else "") + "/".join(parts)
    try:
        got = inside(text, roots, "path")
    except SpecError as exc:
        assert "\n" not in str(exc)
        return
    real = os.path.realpath(got)
    assert real == str(roots[0]) or real.startswith(str(roots[0]) + os.sep)


def test_mcp_server_refuses_paths_outside(world: tuple[Path, Path], tmp_path: Path) -> None:
    pytest.importorskip("mcp")
    import asyncio

    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    proj, outside = world
    store = Store(f"sqlite:///{proj / '.tunebook' / 'store.db'}")
    with_round(proj, store)
    store.close()
    src = str(Path(__file__).parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    params = StdioServerParameters(command=sys.executable, env=env,
                                   args=["-m", "tunebook", "mcp", "--project", str(proj)])
    seen: dict[str, str] = {}

    async def main() -> None:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as s:
            await s.initialize()
            for tool, args in [
                    ("report", {"out": str(outside / "victim.html")}),
                    ("propose_round", {"write": "../outside/victim.yaml", "overwrite": True}),
                    ("propose_round", {"write": "tunebook.yaml", "overwrite": True}),
                    ("advise_task", {"description": str(outside / "task.yaml")}),
                    ("run_round", {"round": "out-link/victim.yaml"})]:
                res = await s.call_tool(tool, args)
                assert getattr(res, "is_error", getattr(res, "isError", False)), tool
                seen[f"{tool} {args}"] = " ".join(getattr(c, "text", "") for c in res.content)

    asyncio.run(asyncio.wait_for(main(), 120))
    assert all("expected" in text for text in seen.values()), seen
    untouched(outside)
    assert "baseline" in (proj / "tunebook.yaml").read_text()


def test_cli_advise_never_replaces_the_project_file(world: tuple[Path, Path]) -> None:
    from typer.testing import CliRunner

    from tunebook.cli import app

    proj, _ = world
    before = (proj / "tunebook.yaml").read_text()
    for target in ("tunebook.yaml", "train.py"):
        result = CliRunner().invoke(app, ["advise", "--write", str(proj / target), "--force",
                                          "-p", str(proj / "tunebook.yaml")])
        assert isinstance(result.exception, SpecError), result.output
    assert (proj / "tunebook.yaml").read_text() == before
