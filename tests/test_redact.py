"""Credentials are never shown: one rule (tunebook.core.redact) over URLs, libpq strings and
password environment variables, used by errors (plain and --json), the report, project_status."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from runbook_support import make_project, with_round

from tunebook.cli import app
from tunebook.cli.output import run_app
from tunebook.core.redact import MASK, redact_text, redact_url
from tunebook.tools import agent

# The secret always carries a marker that no other part of a generated URL can contain.
SECRET = st.builds(lambda tail: "Zq9" + tail, st.text(min_size=0, max_size=12))
WORD = st.text(alphabet="abcdefghijklmnop0123456789_-", min_size=1, max_size=10)
SECRET_PARAMS = ["password", "PASSWORD", "sslpassword", "passfile", "sslkey", "api_token",
                 "Password", "pass%77ord"]
PLAIN_PARAMS = ["sslmode", "connect_timeout", "application_name", "options"]


@st.composite
def urls(draw: st.DrawFn) -> tuple[str, str, str, str]:
    """(url, secret, host, database) for a URL holding the secret in userinfo or the query."""
    secret = draw(SECRET)
    host, db, user = draw(WORD), draw(WORD), draw(WORD)
    scheme = draw(st.sampled_from(["postgresql", "postgres", "postgresql+psycopg", "mysql"]))
    port = draw(st.sampled_from(["", ":5432", ":1"]))
    params = [f"{draw(st.sampled_from(PLAIN_PARAMS))}={draw(WORD)}"
              for _ in range(draw(st.integers(0, 2)))]
    where = draw(st.sampled_from(["userinfo", "query", "both"]))
    userinfo = f"{user}@"
    if where in ("userinfo", "both"):
        userinfo = f"{user}:{quote(secret, safe='')}@"
    if where in ("query", "both"):
        params.insert(draw(st.integers(0, len(params))),
                      f"{draw(st.sampled_from(SECRET_PARAMS))}={quote(secret, safe='')}")
    query = ("?" + "&".join(params)) if params else ""
    return f"{scheme}://{userinfo}{host}{port}/{db}{query}", secret, host, db


def hidden(secret: str, text: str) -> bool:
    return all(form not in text for form in {secret, quote(secret, safe=""),
                                             quote(secret)} if len(form) >= 3)


@settings(max_examples=400, deadline=None)
@given(urls())
def test_no_generated_url_shows_its_secret(case: tuple[str, str, str, str]) -> None:
    url, secret, host, db = case
    shown = redact_url(url)
    assert hidden(secret, shown), shown
    assert host in shown and db in shown and MASK in shown  # still says which store
    for text in (f"store {url} is unreachable", f"(psycopg) '{url}': refused", url + "\n"):
        assert hidden(secret, redact_text(text))


@pytest.mark.parametrize("url", [
    "postgresql://ann:p@ss@db/tb",                      # an unencoded '@' in the password
    "postgresql://ann:s3cr3tpw@db/tb?password=s3cr3tpw",
    "postgresql://db/tb?sslmode=require&password=s3cr3tpw",
    "postgresql://db/tb?user=ann&sslpassword=s3cr3tpw#frag",
    "postgresql://db/tb?passfile=/home/ann/s3cr3tpw",
    "postgresql://ann:s3cr3tpw@[::1]:5432/tb",
])
def test_known_forms(url: str) -> None:
    secret = "p@ss" if "p@ss" in url else "s3cr3tpw"
    assert secret not in redact_url(url) and secret not in redact_text(f"at {url}: failed")


def test_libpq_strings_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "connection 'host=db user=ann password=hunter22 sslpassword = \"x y\"' failed"
    assert "hunter22" not in redact_text(text) and "x y" not in redact_text(text)
    assert "host=db" in redact_text(text)
    monkeypatch.setenv("PGPASSWORD", "Sekr3tVal")
    assert "Sekr3tVal" not in redact_text("auth with Sekr3tVal refused")
    assert redact_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


@pytest.mark.parametrize("as_json", [False, True], ids=["plain", "json"])
@pytest.mark.parametrize("url", [
    "postgresql://u@127.0.0.1:1/x?password=pw12345",
    "postgresql://u:pw12345@127.0.0.1:1/x",
    "postgresql://u@127.0.0.1:1/x?sslpassword=pw12345&password=pw12345",
    "postgresql://u:pw12345@127.0.0.1:notaport/x",
    "postgresql://u:pw12345@/x?host=/nonexistent",
])
def test_cli_errors_never_print_the_password(url: str, as_json: bool, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    proj = make_project(tmp_path / "p")
    monkeypatch.chdir(proj)
    monkeypatch.setenv("TUNEBOOK_STORE_RETRY_S", "0")
    monkeypatch.setattr(sys, "argv", ["tunebook", "trials", "r1", "--store", url,
                                      *(["--json"] if as_json else [])])
    capsys.readouterr()
    code = run_app(app)
    got = capsys.readouterr()
    assert code != 0
    assert "pw12345" not in got.out + got.err
    if as_json:
        assert "error" in json.loads(got.out)


@pytest.mark.skipif(not os.environ.get("TUNEBOOK_TEST_POSTGRES"), reason="needs PostgreSQL")
def test_status_and_report_hide_a_query_password(tmp_path: Path, store_url: str) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("the password is PostgreSQL's")
    # the fixture's URL has user:password@; move the password into the query string
    head, rest = store_url.split("://", 1)
    userinfo, hostpart = rest.split("@", 1)
    user, password = userinfo.split(":", 1)
    url = f"{head}://{user}@{hostpart}?password={password}&sslmode=disable"
    proj = make_project(tmp_path / "p")
    s = agent.Session(proj, url)
    with_round(proj, s.store)
    status = agent.status(s)
    assert f"password={password}" not in json.dumps(status)
    assert "password=***" in status["store"]
    html = Path(agent.report(s)["path"]).read_text()
    assert f"password={password}" not in html and "password=***" in html
