"""`tunebook serve`: a read-only web dashboard over one project's study store.

Pages (HTML, rendered on the server, every asset shipped in the package):

* ``/``               the project: checklist with evidence and next steps, rounds, baseline history
* ``/rounds/NAME``    the trial table (sortable, filterable, live), live curves, plots, findings
* ``/trials/ID``      config, every curve, checkpoints with hashes, predictions, errors, failures

and their JSON under ``/api/...`` (what the pages poll). The server only reads: SQLite readers in
WAL mode never block the workers' writes, and analyses are cached until the round changes.

>>> app = create_app(Path("."), None, Access("127.0.0.1", None))   # doctest: +SKIP
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from tunebook.core.errors import NotFoundError, SpecError, TunebookError
from tunebook.core.html import number
from tunebook.core.jsonable import to_jsonable as jsonable
from tunebook.core.spec import ProjectSpec, load_project
from tunebook.core.trial import RoundRecord
from tunebook.serve.access import COOKIE, Access
from tunebook.serve.pages import (
    Cache,
    RoundAnalysisView,
    RoundSummary,
    RoundTable,
    baseline_history,
    fingerprint,
    live_curves,
    round_summary,
    round_table,
    store_label,
    trial_page,
)
from tunebook.store import Store, open_store
from tunebook.store.files import ArtifactRoot

PLOTS = ("history", "distribution", "parallel", "contour", "importance", "axes", "isolation",
         "curves")
PACKAGE = Path(__file__).parent


class Dashboard:
    """The state one server holds: the project, its store, the artifact root and a cache."""

    def __init__(self, project_file: Path, store_url: str | None) -> None:
        self.project_file = project_file
        self.project_dir = project_file.resolve().parent
        self.project: ProjectSpec = load_project(project_file)
        self.store: Store = open_store(store_url, self.project_dir)
        self.artifacts = ArtifactRoot(self.project_dir / ".tunebook" / "artifacts")
        self.cache = Cache()

    def store_version(self) -> str:
        marks = [f"{r.id}={self.store.mark(r.id)}" for r in self.store.rounds()]
        return fingerprint(f"{marks}|{len(self.store.decisions())}")

    def table_json(self, name: str) -> tuple[RoundTable, str]:
        """The table and its JSON text, encoded once per change (10,000 rows are megabytes)."""
        table = self.table(name)
        text = self.cache.get("table_json", table.round, table.version,
                              lambda: json.dumps(jsonable(table)))
        return table, text

    def table(self, name: str) -> RoundTable:
        """The round's table, re-read only when a trial changed state since the last read."""
        record = self.store.round(name)
        mark = self.store.mark(record.id)
        return self.cache.get("table", record.name, mark,
                              lambda: round_table(self.store, record, mark))

    def summaries(self) -> list[RoundSummary]:
        return [self._summary(r) for r in self.store.rounds()]

    def _summary(self, record: RoundRecord) -> RoundSummary:
        return self.cache.get("summary", record.name, self.store.mark(record.id),
                              lambda: round_summary(self.store, record))

    # -- pages' data ----------------------------------------------------------------------------

    def project_data(self) -> dict[str, Any]:
        from tunebook.runbook.checklist import checklist

        version = self.store_version()
        cl = self.cache.get("checklist", "", version,
                            lambda: checklist(self.project, self.project_dir, self.store))
        return {"project": {"name": self.project.name, "task": self.project.task.type,
                            "goal": self.project.task.goal, "success": self.project.task.success,
                            "store": store_label(self.store)},
                "checklist": cl, "rounds": self.summaries(),
                "baseline_history": baseline_history(self.store.decisions()),
                "version": version}

    def round_analysis(self, name: str, version: str) -> RoundAnalysisView:
        return self.cache.get("analysis", name, version, lambda: self._analyze(name))

    def _analyze(self, name: str) -> RoundAnalysisView:
        from tunebook.analysis.overview import analyze_round

        try:
            a = analyze_round(self.store, name)
        except SpecError as exc:     # nothing completed yet: say so, draw only what exists
            return RoundAnalysisView(answer="", findings=[], plots=[], missing=str(exc))
        plots = ["history", "distribution", "parallel"]
        if len(a.axes.axes) >= 2:
            plots.append("contour")
        if a.importance is not None and a.importance.shares:
            plots.append("importance")
        plots += ["axes"] + (["isolation"] if a.isolation is not None else [])
        plots += ["curves"] if a.curves.trials else []
        return RoundAnalysisView(a.answer, a.findings, plots)

    def plot_png(self, name: str, plot: str, version: str) -> bytes:
        if plot not in PLOTS:
            raise NotFoundError(f"plot {plot!r} is not one of {list(PLOTS)}")
        return self.cache.get(f"plot:{plot}", name, version, lambda: self._draw(name, plot))

    def _draw(self, name: str, plot: str) -> bytes:
        from tunebook.analysis import views
        from tunebook.analysis.records import load_records
        from tunebook.plots import standard
        from tunebook.plots.figure import png_bytes

        recs = load_records(self.store, name)
        if plot == "history":
            return png_bytes(standard.draw_history(views.history(recs)))
        if plot == "distribution":
            return png_bytes(standard.draw_distribution(views.distribution(recs)))
        if plot == "parallel":
            return png_bytes(standard.draw_parallel(views.parallel(recs)))
        if plot == "contour":
            return png_bytes(standard.draw_contour(views.contour(recs)))
        if plot == "importance":
            from tunebook.analysis.importance import importance

            return png_bytes(standard.draw_importance(importance(recs)))
        from tunebook.analysis.overview import analyze_round
        from tunebook.plots import draw_round

        with tempfile.TemporaryDirectory(prefix="tunebook-serve-") as tmp:
            written = draw_round(analyze_round(self.store, name), tmp)
            if plot not in written:
                raise NotFoundError(f"round {name} has no {plot} plot yet")
            return Path(written[plot]).read_bytes()

    def artifact_file(self, artifact_id: int) -> tuple[Path, str]:
        found = [a for a in self.store.artifacts() if a.id == artifact_id]
        if not found:
            raise NotFoundError(f"artifact {artifact_id} is not in the store")
        # The stored path is relative to the artifact root; resolve() refuses any path that
        # leaves it (.., absolute, or a symlink out), so a tampered row cannot serve /etc.
        path = self.artifacts.resolve(found[0].path)
        if not path.is_file():
            raise NotFoundError(f"artifact {artifact_id}'s file is gone ({found[0].path})")
        return path, found[0].sha256


def create_app(project_file: Path, store_url: str | None, access: Access) -> Any:
    """The Starlette application for one project (the CLI runs it with uvicorn)."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.base import BaseHTTPMiddleware
    from starlette.requests import Request
    from starlette.responses import (
        FileResponse,
        HTMLResponse,
        JSONResponse,
        PlainTextResponse,
        RedirectResponse,
        Response,
    )
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    dash = Dashboard(project_file, store_url)
    env = Environment(loader=FileSystemLoader(PACKAGE / "templates"),
                      autoescape=select_autoescape(default=True), trim_blocks=True,
                      lstrip_blocks=True)
    env.filters["num"] = number
    env.filters["when"] = _when
    env.filters["tojson_safe"] = lambda v: json.dumps(jsonable(v)).replace("<", "\\u003c")

    def page(template: str, **context: Any) -> HTMLResponse:
        text = env.get_template(template).render(project=dash.project, **context)
        return HTMLResponse(text, headers=_SECURITY_HEADERS)

    def data(obj: Any, status: int = 200) -> JSONResponse:
        return JSONResponse(jsonable(obj), status_code=status, headers=_SECURITY_HEADERS)

    # Endpoints are plain functions: Starlette runs them in its thread pool, so a slow first
    # analysis never stalls the other requests (an async endpoint would block the event loop).
    def home(request: Request) -> Response:
        return page("project.html.j2", d=dash.project_data())

    def round_page(request: Request) -> Response:
        table, text = dash.table_json(request.path_params["name"])
        return page("round.html.j2", table=table, table_json=text.replace("<", "\\u003c"))

    def trial_view(request: Request) -> Response:
        return page("trial.html.j2", p=trial_page(dash.store, dash.project_dir,
                                                  request.path_params["tid"]))

    def api_project(request: Request) -> Response:
        return data(dash.project_data())

    def api_round(request: Request) -> Response:
        table, text = dash.table_json(request.path_params["name"])
        if request.query_params.get("version") == table.version:
            return data({"unchanged": True, "version": table.version})
        return Response(text, media_type="application/json", headers=_SECURITY_HEADERS)

    def api_live(request: Request) -> Response:
        record = dash.store.round(request.path_params["name"])
        metric = request.query_params.get("metric") or _score_metric(dash.project)
        return data({"metric": metric, "series": live_curves(dash.store, record, metric)})

    def api_analysis(request: Request) -> Response:
        table = dash.table(request.path_params["name"])
        return data({"version": table.version,
                     **jsonable(dash.round_analysis(table.round, table.version))})

    def api_trial(request: Request) -> Response:
        return data(trial_page(dash.store, dash.project_dir, request.path_params["tid"]))

    def plot(request: Request) -> Response:
        table = dash.table(request.path_params["name"])
        png = dash.plot_png(table.round, request.path_params["plot"], table.version)
        return Response(png, media_type="image/png", headers=_SECURITY_HEADERS)

    def artifact(request: Request) -> Response:
        path, sha = dash.artifact_file(request.path_params["aid"])
        return FileResponse(path, filename=path.name, headers={"X-Sha256": sha,
                                                               **_SECURITY_HEADERS})

    routes = [
        Route("/", home), Route("/rounds/{name}", round_page),
        Route("/trials/{tid:int}", trial_view), Route("/api/project", api_project),
        Route("/api/rounds/{name}", api_round), Route("/api/rounds/{name}/live", api_live),
        Route("/api/rounds/{name}/analysis", api_analysis),
        Route("/api/trials/{tid:int}", api_trial),
        Route("/plots/rounds/{name}/{plot}.png", plot),
        Route("/artifacts/{aid:int}", artifact),
        Mount("/static", StaticFiles(directory=PACKAGE / "static"), name="static"),
    ]

    async def refused(request: Request, status: int, message: str) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, status_code=status)
        return PlainTextResponse(message, status_code=status)

    async def errors(request: Request, exc: Exception) -> Response:
        if isinstance(exc, NotFoundError):
            return await refused(request, 404, str(exc))
        return await refused(request, 400, str(exc))

    async def guard(request: Request, call_next: Any) -> Response:
        if not access.host_ok(request.headers.get("host")):
            return await refused(request, 403, "refused: the Host header does not name this "
                                               "machine (a loopback dashboard)")
        presented = request.query_params.get("token") or request.cookies.get(COOKIE)
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            presented = auth[7:].strip()
        if not access.allows(presented):
            return await refused(request, 401, "refused: this dashboard needs its token "
                                               "(?token=..., or Authorization: Bearer ...)")
        if access.token is not None and "token" in request.query_params:
            # Trade the token in the URL for a cookie, so it leaves the address bar and logs.
            clean = request.url.remove_query_params("token")
            resp = RedirectResponse(str(clean), status_code=303)
            resp.set_cookie(COOKIE, access.token, httponly=True, samesite="strict")
            return resp
        response: Response = await call_next(request)
        return response

    app = Starlette(routes=routes, exception_handlers={TunebookError: errors},
                    middleware=[Middleware(BaseHTTPMiddleware, dispatch=guard)])
    app.state.dashboard = dash
    return app


# No third-party content, no framing by other sites, no MIME sniffing: the pages only load
# their own scripts, styles and images.
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "style-src 'self'; script-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _score_metric(project: ProjectSpec) -> str:
    if isinstance(project.score, str):
        return project.score
    return project.scorer().needs[0]


def _when(ts: float | None) -> str:
    import time

    return "–" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
