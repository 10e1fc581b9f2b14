"""Store upgrades: a store written by schema version 1 (before migrations) is upgraded in place,
on SQLite and PostgreSQL; stores at another revision are refused with one line."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest
from conftest import PROJECT
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

from tunebook.cli import app
from tunebook.cli.output import run_app
from tunebook.core.errors import StoreError
from tunebook.store import Store, migrations, normalize_url
from tunebook.store.schema import meta

FIXTURES = Path(__file__).parent / "fixtures"

# A later revision, as a release that adds a column would ship it: one small file, the number
# after this tunebook's head.
HEAD = migrations.head()
NEXT = f"{int(HEAD) + 1:04d}"
REVISION_NEXT = f'''
import sqlalchemy as sa
from alembic import op

revision = "{NEXT}"
down_revision = "{HEAD}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rounds") as batch:
        batch.add_column(sa.Column("owner", sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rounds") as batch:
        batch.drop_column("owner")
'''


def _engine(url: str):  # type: ignore[no-untyped-def]
    return create_engine(normalize_url(url), poolclass=NullPool)


def write_v1_store(url: str) -> None:
    """A store exactly as tunebook's schema version 1 left it, with a round of data in it."""
    engine = _engine(url)
    ddl = (FIXTURES / f"store_v1_{engine.dialect.name}.sql").read_text()
    with engine.begin() as conn:
        for stmt in ddl.split(";\n"):
            body = "\n".join(ln for ln in stmt.splitlines() if not ln.startswith("--")).strip()
            if body:
                conn.execute(text(body))
        conn.execute(text(
            "INSERT INTO rounds (name, question, kind, spec, project, created_at) "
            "VALUES ('r1', 'what lr?', 'search', :spec, :project, 1.0)"),
            # the specs as tunebook writes them (the store parses them on read)
            {"spec": json.dumps({"name": "r1", "question": "what lr?", "budget": 1,
                                 "params": {"lr": {"role": "nuisance", "type": "float",
                                                   "low": 0.01, "high": 1.0}}}),
             "project": json.dumps(PROJECT)})
        conn.execute(text(
            "INSERT INTO trials (round_id, number, kind, grp, config, seed, status, attempts, "
            "created_at, best_step, score, feasible, best_metrics, meta) VALUES "
            "(1, 0, 'search', '{}', '{\"lr\": 0.1}', 3, 'completed', 1, 1.0, 5, 0.8, :f, "
            "'{\"dev/accuracy\": 0.8}', '{}')"), {"f": True})
        conn.execute(text("INSERT INTO curves (trial_id, step, metric, value) VALUES "
                          "(1, 5, 'dev/accuracy', 0.8), (1, 5, 'train/loss', 0.3)"))
        conn.execute(text("INSERT INTO decisions (kind, round_id, summary, payload, created_at) "
                          "VALUES ('note', 1, 'kept', :payload, 2.0)"),
                     {"payload": json.dumps({"item": "4.3.strategy", "text": "kept"})})
    engine.dispose()


def _assert_v1_data(store: Store) -> None:
    (t,) = store.trials(store.round("r1").id)
    assert (t.config, t.seed, t.score, t.feasible) == ({"lr": 0.1}, 3, 0.8, True)
    assert store.curve(t.id) == {5: {"dev/accuracy": 0.8, "train/loss": 0.3}}
    assert [d.summary for d in store.decisions("note")] == ["kept"]


@pytest.fixture
def newer_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This tunebook's revisions plus the next one, as the next release would ship them."""
    folder = tmp_path / "versions"
    shutil.copytree(migrations.VERSIONS, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / f"{NEXT}_round_owner.py").write_text(REVISION_NEXT)
    monkeypatch.setattr(migrations, "VERSIONS", folder)
    return folder


def test_revision_files_form_one_line_named_by_their_ids() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("script_location", str(migrations.VERSIONS.parent))
    cfg.set_main_option("version_locations", str(migrations.VERSIONS))
    script = ScriptDirectory.from_config(cfg)
    assert script.get_heads() == [migrations.head()]  # one head, the highest file number
    known = migrations.revisions()
    for i, rev in enumerate(known):
        s = script.get_revision(rev)
        assert s is not None and s.down_revision == (known[i - 1] if i else None)


def test_a_fresh_store_is_created_at_the_head(store_url: str) -> None:
    Store(store_url).close()
    with _engine(store_url).connect() as conn:
        assert migrations.current(conn) == migrations.head()


def test_a_version_1_store_upgrades_to_the_current_tables(store_url: str) -> None:
    write_v1_store(store_url)
    with pytest.raises(StoreError, match="tunebook store upgrade"):  # older than the head
        Store(store_url)
    done = migrations.upgrade(store_url)
    assert (done.before, done.after) == ("0001", migrations.head())
    after = Store(store_url)
    _assert_v1_data(after)  # nothing lost
    after.close()
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = _engine(store_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), meta)
        assert migrations.current(conn) == migrations.head()
    engine.dispose()
    assert diff == [], f"store/schema.py and the revisions disagree: {diff}"
    again = migrations.upgrade(store_url)
    assert again.applied == ()


def test_an_older_store_is_refused_until_upgraded(store_url: str, newer_code: Path) -> None:
    write_v1_store(store_url)
    with pytest.raises(StoreError) as info:
        Store(store_url)
    line = str(info.value)
    assert "\n" not in line and "revision 0001" in line and f"needs {NEXT}" in line
    assert "tunebook store upgrade --store" in line
    done = migrations.upgrade(store_url)
    assert (done.before, done.after) == ("0001", NEXT)
    assert done.applied == tuple(f"{i:04d}" for i in range(2, int(NEXT) + 1))
    store = Store(store_url)
    _assert_v1_data(store)  # nothing lost
    store.close()
    engine = _engine(store_url)
    with engine.connect() as conn:
        assert "owner" in {c["name"] for c in inspect(conn).get_columns("rounds")}
    engine.dispose()


def test_a_newer_store_is_refused_by_older_code(store_url: str, newer_code: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    Store(store_url).close()  # created at NEXT by the newer code
    monkeypatch.setattr(migrations, "VERSIONS", Path(migrations.__file__).parent / "versions")
    for attempt in (lambda: Store(store_url), lambda: migrations.upgrade(store_url)):
        with pytest.raises(StoreError, match=rf"revision {NEXT}, newer than this tunebook .*"
                                             r"pip install -U tunebook"):
            attempt()


def _cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
         *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["tunebook", *args])
    capsys.readouterr()
    code = run_app(app)
    return code, capsys.readouterr().out


def test_cli_store_upgrade(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                           monkeypatch: pytest.MonkeyPatch, newer_code: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    write_v1_store(url)
    code, out = _cli(capsys, monkeypatch, "reap", "--store", url, "--json")
    assert code == 2 and "tunebook store upgrade" in json.loads(out)["error"]
    code, out = _cli(capsys, monkeypatch, "store", "upgrade", "--store", url, "--json")
    assert code == 0 and json.loads(out) == {
        "store": normalize_url(url), "before": "0001", "after": NEXT,
        "applied": [f"{i:04d}" for i in range(2, int(NEXT) + 1)]}
    code, out = _cli(capsys, monkeypatch, "store", "upgrade", "--store", url)
    assert code == 0 and re.search(rf"already at schema revision {NEXT}", out)


def test_processes_opening_a_fresh_store_together_all_get_one_store(store_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def open_close(_: int) -> str:
        s = Store(store_url)
        s.close()
        return "ok"

    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(open_close, range(6))) == ["ok"] * 6
    engine = _engine(store_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    engine.dispose()
    assert [r[0] for r in rows] == [migrations.head()]
