"""Team commands: reap trials whose workers died, without starting a new trial."""

from __future__ import annotations

import typer

from tunebook.cli.output import JsonOption, ProjectOption, StoreOption, emit


def register(app: typer.Typer) -> None:
    @app.command()
    def reap(round_name: str = typer.Option(None, "--round", help="Only this round."),
             max_attempts: int = typer.Option(3, help="Fail a trial after this many attempts."),
             project: str = ProjectOption, store: str = StoreOption,
             as_json: bool = JsonOption) -> None:
        """Re-queue running trials whose lease expired (their worker died or was preempted)."""
        from pathlib import Path

        from tunebook.core.errors import SpecError
        from tunebook.project import Project

        if max_attempts < 1:
            raise SpecError("--max-attempts", "an int >= 1", max_attempts)
        # The handle without reading tunebook.yaml: reaping needs only the store.
        reaped = Project(Path(project), store).reap(round_name, max_attempts)
        rows = [{"trial": t.id, "round": t.round, "status": t.status, "attempts": t.attempts}
                for t in reaped]
        emit({"reaped": rows}, as_json,
             lambda c, d: c.print(f"reaped {len(d['reaped'])} trials: " + ", ".join(
                 f"{r['trial']} -> {r['status']}" for r in d["reaped"]) if d["reaped"]
                 else "no expired leases"))
