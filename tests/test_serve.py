"""`tunebook serve`: pages, JSON, token and bind rules, confinement, escaping (no browser)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from runbook_support import make_project, with_baseline, with_round

from tunebook.core.errors import SpecError
from tunebook.serve.access import Access, access_for, is_loopback
from tunebook.serve.app import create_app
from tunebook.store import Store, open_store

starlette = pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

TOKEN = "a-long-enough-secret-token"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = make_project(tmp_path_factory.mktemp("serve") / "proj")
    store = open_store(None, folder)
    with_baseline(folder, store)
    with_round(folder, store)
    store.close()
    return folder


def client(project: Path, host: str = "127.0.0.1", token: str | None = None) -> TestClient:
    app = create_app(project / "tunebook.yaml", None, Access(host, token))
    # TestClient's default Host is "testserver", which a loopback dashboard refuses.
    return TestClient(app, base_url="http://127.0.0.1:8765")


def test_project_page_shows_checklist_rounds_and_baseline(project: Path) -> None:
    r = client(project).get("/")
    assert r.status_code == 200
    body = r.text
    assert "Does a wider model help once lr is tuned?" in body
    assert 'href="/rounds/width"' in body
    assert "Baseline history" in body and "baseline" in body
    assert "1.1" in body and "evidence:" in body          # checklist items with their evidence
    assert r.headers["content-security-policy"].startswith("default-src 'self'")


def test_round_api_matches_the_store(project: Path) -> None:
    c = client(project)
    table = c.get("/api/rounds/width").json()
    store = open_store(None, project)
    trials = store.trials(store.round("width").id)
    assert {row["id"] for row in table["rows"]} == {t.id for t in trials}
    assert table["columns"] == ["width", "lr"]
    scores = [row["score"] for row in table["rows"] if row["score"] is not None]
    assert scores == sorted(scores, reverse=True)          # best first (goal max)
    # Polling with the current version answers "unchanged" without the rows.
    again = c.get("/api/rounds/width", params={"version": table["version"]}).json()
    assert again == {"unchanged": True, "version": table["version"]}


def test_round_analysis_and_every_plot_it_lists(project: Path) -> None:
    c = client(project)
    a = c.get("/api/rounds/width/analysis").json()
    assert a["answer"] and a["missing"] is None
    assert {"history", "distribution", "parallel", "contour", "axes"} <= set(a["plots"])
    for plot in a["plots"]:
        r = c.get(f"/plots/rounds/width/{plot}.png")
        assert r.status_code == 200, plot
        assert r.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert c.get("/plots/rounds/width/nope.png").status_code == 404


def test_trial_page_has_config_curves_artifacts_and_errors(project: Path) -> None:
    store = open_store(None, project)
    best = next(t for t in store.trials(store.round("width").id) if t.status == "completed")
    c = client(project)
    page = c.get(f"/trials/{best.id}")
    assert page.status_code == 200
    data = c.get(f"/api/trials/{best.id}").json()
    assert data["trial"]["config"] == best.config
    assert {s["metric"] for s in data["curves"]} >= {"dev/accuracy", "train/loss"}
    dev = next(s for s in data["curves"] if s["metric"] == "dev/accuracy")
    curve = store.curve(best.id)
    assert dev["steps"] == [s for s in sorted(curve) if "dev/accuracy" in curve[s]]
    assert dev["values"] == [curve[s]["dev/accuracy"] for s in dev["steps"]]
    assert data["errors"]["n_examples"] == 120
    kinds = {a["kind"] for a in data["artifacts"]}
    assert "predictions" in kinds
    art = next(a for a in data["artifacts"] if a["kind"] == "predictions")
    got = c.get(f"/artifacts/{art['id']}")
    assert got.status_code == 200 and got.headers["x-sha256"] == art["sha256"]


def test_unknown_round_and_trial_are_404(project: Path) -> None:
    c = client(project)
    assert c.get("/rounds/nope").status_code == 404
    assert "not in the store" in c.get("/api/rounds/nope").json()["error"]
    assert c.get("/trials/999999").status_code == 404


def test_artifact_rows_cannot_point_outside_the_artifact_root(project: Path, tmp_path: Path
                                                              ) -> None:
    store = open_store(None, project)
    outside = tmp_path / "secret.txt"
    outside.write_text("TOPSECRET-CONTENT")
    link = project / ".tunebook" / "artifacts" / "escape"
    link.symlink_to(tmp_path)
    ids = [store.add_artifact(None, "checkpoint", p, "0" * 64, 1)
           for p in ("../../secret.txt", str(outside), "escape/secret.txt",
                     "%2e%2e/%2e%2e/secret.txt")]
    c = client(project)
    try:
        for aid in ids:
            r = c.get(f"/artifacts/{aid}")
            assert r.status_code == 400, r.text
            assert "TOPSECRET-CONTENT" not in r.text
    finally:
        link.unlink()
    # The static mount does not serve files outside its folder either.
    assert c.get("/static/../app.py").status_code == 404
    assert c.get("/static/%2e%2e/app.py").status_code == 404


def test_store_text_is_escaped_in_pages(tmp_path: Path) -> None:
    folder = make_project(tmp_path / "proj")
    store = open_store(None, folder)
    question = '<script>alert(1)</script> [/note] [bold red]x'
    with_round(folder, store, question=question)
    page = client(folder).get("/rounds/width").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; [/note] [bold red]x" in page
    # The JSON island the page script reads cannot close its <script> tag either.
    assert "\\u003cscript>" in page or "\\u003c/script>" in page


def test_token_is_required_on_every_request_when_set(project: Path) -> None:
    c = client(project, host="0.0.0.0", token=TOKEN)
    for path in ("/", "/api/project", "/rounds/width", "/api/rounds/width",
                 "/static/app.js", "/artifacts/1", "/plots/rounds/width/history.png"):
        assert c.get(path).status_code == 401, path
        assert c.get(path, headers={"Authorization": "Bearer wrong-token-wrong-token"}
                     ).status_code == 401, path
    assert c.get("/api/project", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    # ?token= is traded for a cookie and a clean URL.
    r = c.get(f"/rounds/width?token={TOKEN}", follow_redirects=False)
    assert r.status_code == 303 and "token" not in r.headers["location"]
    assert c.get("/rounds/width").status_code == 200      # the cookie now carries it


def test_loopback_server_refuses_foreign_host_headers(project: Path) -> None:
    app = create_app(project / "tunebook.yaml", None, Access("127.0.0.1", None))
    evil = TestClient(app, base_url="http://evil.example:8765")
    assert evil.get("/api/project").status_code == 403
    for host in ("localhost:8765", "127.0.0.1", "[::1]:8765"):
        assert TestClient(app, base_url=f"http://{host}").get("/api/project").status_code == 200


def test_bind_rules() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10")
    assert access_for("127.0.0.1", None).token is None
    with pytest.raises(SpecError, match="--host"):
        access_for("0.0.0.0", None)
    with pytest.raises(SpecError, match="at least 16"):
        access_for("0.0.0.0", "short")
    os.environ["TUNEBOOK_SERVE_TOKEN"] = TOKEN
    try:
        assert access_for("0.0.0.0", None).token == TOKEN
    finally:
        del os.environ["TUNEBOOK_SERVE_TOKEN"]


def test_cli_refuses_a_public_bind_without_token(project: Path) -> None:
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TUNEBOOK_SERVE_TOKEN"}
    r = subprocess.run([sys.executable, "-m", "tunebook", "serve", "--host", "0.0.0.0",
                        "--project", str(project / "tunebook.yaml")],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 2
    assert "--host" in r.stderr and "Traceback" not in r.stderr


def test_store_is_untouched_by_serving(project: Path) -> None:
    store: Store = open_store(None, project)
    before = [(t.id, t.status, t.score) for t in store.trials()]
    decisions = len(store.decisions())
    c = client(project)
    for path in ("/", "/api/project", "/api/rounds/width", "/api/rounds/width/analysis"):
        c.get(path)
    assert [(t.id, t.status, t.score) for t in store.trials()] == before
    assert len(store.decisions()) == decisions
