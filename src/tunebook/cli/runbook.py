"""Runbook commands: checklist, note, report, advise, mcp (checklist sections 0-7)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from tunebook.cli.output import JsonOption, ProjectOption, StoreOption, emit, fmt, out

STATUS_MARK = {"done": "[green]✓ done[/]", "not_done": "[yellow]○ todo[/]",
               "not_applicable": "[dim]– n/a[/]"}


def _session(project: str, store: str | None, named: Path | None = None) -> Any:
    """The agent session; a path the user typed on the command line is their explicit choice,
    so its folder is allowed too (an agent's paths stay inside the project)."""
    from tunebook.tools.agent import Session

    return Session(project, store, allow=[named.resolve().parent] if named else ())


def register(app: typer.Typer) -> None:
    @app.command()
    def checklist(section: str = typer.Option(None, "--section", help="Only this section "
                                              "(e.g. 2.4 or 3)."),
                  todo: bool = typer.Option(False, "--todo", help="Only items not done."),
                  project: str = ProjectOption, store: str = StoreOption,
                  as_json: bool = JsonOption) -> None:
        """Every checklist item with its status from the evidence, and what to do next."""
        from tunebook.tools import agent

        data = agent.checklist(_session(project, store))
        if section:
            data["sections"] = [s for s in data["sections"]
                                if s["id"] == section or s["id"].startswith(section + ".")]
        if todo:
            for s in data["sections"]:
                s["items"] = [i for i in s["items"] if i["status"] == "not_done"]
        emit(data, as_json, render_checklist)

    @app.command()
    def note(item: str = typer.Argument(..., help="Checklist item id, e.g. 1.2.deployment."),
             text: str = typer.Argument(..., help="The answer; 'n/a: why' marks it not "
                                        "applicable."),
             project: str = ProjectOption, store: str = StoreOption,
             as_json: bool = JsonOption) -> None:
        """Record a human answer to a checklist item (a judgment the store cannot show)."""
        from tunebook.tools import agent

        data = agent.note(_session(project, store), item, text)
        emit(data, as_json, lambda c, d: c.print(
            f"noted [bold]{d['item']}[/] (decision {d['decision_id']}): {d['text']}"))

    @app.command()
    def report(round_name: str = typer.Argument(None, metavar="[ROUND]",
                                                help="A round (default: the project report)."),
               out: Path = typer.Option(None, "--out", help="HTML file to write (default: "
                                        ".tunebook/reports/project.html or round-NAME.html)."),
               project: str = ProjectOption, store: str = StoreOption,
               as_json: bool = JsonOption) -> None:
        """Write one self-contained HTML report (no network needed to view it)."""
        from tunebook.tools import agent

        data = agent.report(_session(project, store, out), round_name,
                            str(out.resolve()) if out else None)
        emit(data, as_json, _render_report)

    @app.command()
    def advise(task: Path = typer.Option(None, "--task", help="A task description (YAML or "
                                         "text): propose metrics, splits and a baseline."),
               write: Path = typer.Option(None, "--write", help="Write the proposed round "
                                          "file here."),
               write_project: Path = typer.Option(None, "--write-project", help="With --task: "
                                                  "write the draft tunebook.yaml here."),
               force: bool = typer.Option(False, help="Overwrite an existing file."),
               project: str = ProjectOption, store: str = StoreOption,
               as_json: bool = JsonOption) -> None:
        """The runbook: from a task description (steps 1-3) or from the project's results
        (steps 4-9: bottleneck, promotion, the next round as a ready-to-run file)."""
        from tunebook.core.errors import SpecError
        from tunebook.store.files import allowed_roots
        from tunebook.tools import agent

        if task is not None:
            data = agent.advise_task(str(task.resolve()), allowed_roots(Path.cwd(),
                                                                         [task.resolve().parent]))
            if write_project is not None:
                if write_project.exists() and not force:
                    raise SpecError("--write-project", "a path that does not exist yet",
                                    str(write_project), "Pass --force to replace it.")
                from tunebook.store.files import atomic_write

                atomic_write(write_project, data["project_yaml"].encode("utf-8"))
                data["written"] = str(write_project)
            emit(data, as_json, _render_task)
            return
        data = agent.propose_round(_session(project, store, write),
                                   str(write.resolve()) if write else None, force)
        emit(data, as_json, render_advice)

    @app.command()
    def mcp(project: str = typer.Option("tunebook.yaml", "--project", "-p",
                                        help="The project file or its folder."),
            store: str = StoreOption,
            schemas: bool = typer.Option(False, "--schemas", help="Print the tools' output "
                                         "JSON schemas and exit."),
            allow: list[Path] = typer.Option(None, "--allow", help="A folder outside the "
                                             "project that tools may read and write (repeat); "
                                             "by default only the project folder.")) -> None:
        """Serve the runbook as Model Context Protocol tools over stdio (pip install
        'tunebook\\[mcp]')."""
        if schemas:
            from tunebook.tools.schemas import SCHEMAS, json_schema

            out().write(json.dumps({n: json_schema(n) for n in SCHEMAS}, indent=2) + "\n")
            return
        from tunebook.tools.mcp_server import serve

        serve(project, store, allow or ())


# --- rendering ---------------------------------------------------------------------------------


def _plain(text: str, style: str = "") -> Text:
    """Evidence and commands as plain text: no Rich markup or :emoji: codes (train:train)."""
    return Text(text, style=style)


def render_checklist(console: Console, d: dict[str, Any], compact: bool = False) -> None:
    """The checklist by section; ``compact``: one line per item (id, status, evidence)."""
    c = d["counts"]
    console.print(f"[bold]checklist of {escape(d['project'])}[/]: [green]{c['done']} done[/], "
                  f"[yellow]{c['not_done']} not done[/], [dim]{c['not_applicable']} "
                  f"not applicable[/]", emoji=False)
    for s in d["sections"]:
        if not s["items"]:
            continue
        if compact:
            console.print(_plain(f"{s['id']} {s['title']}", "bold"))
            for i in s["items"]:
                said = "; ".join(i["evidence"][:1]) or (f"next: {i['next']}" if i["next"]
                                                          else i["detail"])
                line = Text.from_markup("  " + STATUS_MARK[i["status"]] + " ")
                line.append(f"{i['id']}: {said}")
                console.print(line, overflow="ellipsis", no_wrap=True)
            continue
        table = Table(title=f"{s['id']} {s['title']}", title_justify="left", show_header=False,
                      expand=True, box=None, padding=(0, 1))
        table.add_column("status", no_wrap=True, width=8)
        table.add_column("item", ratio=2)
        table.add_column("evidence / next", ratio=3)
        for i in s["items"]:
            item = _plain(f"{i['id']} ", "bold")
            item.append(i["text"] + (" (note)" if i["source"] == "note" else ""))
            right = _plain("; ".join(i["evidence"]) or i["detail"])
            if i["next"]:
                right.append(("\n" if right.plain else "") + "next: ", style="cyan")
                right.append(i["next"])
            table.add_row(Text.from_markup(STATUS_MARK[i["status"]]), item, right)
        console.print(table)
    if d["next_steps"]:
        console.print("[bold]next steps[/]")
        for step in d["next_steps"]:
            console.print(_plain(f"  • {step}"))
    for key in d.get("unknown_notes") or []:
        console.print(_plain(f"note {key!r} names no checklist item", "yellow"))


def _render_report(console: Console, d: dict[str, Any]) -> None:
    console.print(f"wrote the {d['kind']} report: [bold]{escape(d['path'])}[/] "
                  f"({d['bytes']} bytes)", emoji=False)
    for section, state in d["sections"].items():
        if state != "ok":
            console.print(f"  [yellow]{section}[/]: {escape(state)}", emoji=False)


def _render_task(console: Console, d: dict[str, Any]) -> None:
    t = d["task"]
    say = _printer(console)
    say("[bold]task[/]: ", f"{t['task']} — {t['goal'] or '(no goal stated)'}")
    table = Table(show_lines=False, expand=True)
    for col in ("choice", "proposal", "why", "rule"):
        table.add_column(col, ratio=2 if col in ("why", "proposal") else 1)
    for p in d["proposals"]:
        value = p["value"]
        text = value if isinstance(value, str) else json.dumps(value)
        rule = _plain(p["rule"] + "\n")
        rule.append(p["source"], style="dim")
        table.add_row(_plain(p["topic"]), _plain(text[:200]), _plain(p["why"]), rule)
    console.print(table)
    if d.get("written"):
        say("wrote the draft project file to ", d["written"])
    else:
        say("[dim]draft tunebook.yaml: --write-project PATH (or --json)[/]", "")
    for s in d["next_steps"]:
        say("  • ", s)


def _printer(console: Console) -> Any:
    """print(markup prefix, plain text): the text is never read as markup or emoji codes."""
    def say(prefix: str, text: str, suffix: str = "") -> None:
        line = Text.from_markup(prefix)
        line.append(text)
        if suffix:
            line.append_text(Text.from_markup(suffix))
        console.print(line)

    return say


def render_advice(console: Console, d: dict[str, Any]) -> None:
    say = _printer(console)
    b = d["bottleneck"]
    say("[bold]bottleneck[/]: ", f"{b['kind']} — {b['why']} ",
        f"[dim]\\[{escape(b['rule'])}; {escape(b['source'])}][/]")
    for e in b["evidence"]:
        say("  evidence: ", e)
    u = d.get("baseline_update")
    if u:
        say("[bold]baseline[/]: ", f"{u['value']} — {u['why']} ", f"[dim]\\[{u['rule']}][/]")
    r = d.get("round")
    if r:
        say("[bold]next round[/] ", f"{r['name']}: {r['question']} ({r['total_trials']} "
            f"trials, {r['algorithm']})")
        for p in r["rules"]:
            say("  - ", f"{p['topic']}: {p['why']} ",
                f"[dim]\\[{escape(p['rule'])}; {escape(p['source'])}][/]")
        for row in r["preview"][:4]:
            say("  [dim]first configs:[/] ", ", ".join(f"{k}={fmt(v)}"
                                                      for k, v in row["config"].items()))
        if d.get("written"):
            say("wrote the round file to ", d["written"])
    console.print("[bold]next steps[/]")
    for s in d["next_steps"]:
        say("  • ", s)
