"""The store's tables (SQLAlchemy Core): one schema for SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# Changing a table? Add a revision file in store/migrations/versions/ in the same commit
# (docs/architecture.md, "Changing the store's tables"); tests compare the two.
meta = MetaData()

rounds = Table(
    "rounds", meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("question", Text, nullable=False),
    Column("kind", String(40), nullable=False, default="search"),
    Column("spec", JSON, nullable=False),
    Column("project", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
)

trials = Table(
    "trials", meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("round_id", Integer, ForeignKey("rounds.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("kind", String(40), nullable=False, default="search"),
    Column("grp", JSON, nullable=False),
    Column("config", JSON, nullable=False),
    Column("seed", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("worker", String(200)),
    Column("token", String(40)),
    Column("lease_until", Float),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("error", Text),
    Column("best_step", Integer),
    Column("score", Float),
    Column("feasible", Boolean),
    Column("best_metrics", JSON),
    Column("parent_id", Integer),
    Column("meta", JSON),
    UniqueConstraint("round_id", "number", name="uq_trial_number"),
    Index("ix_trials_claim", "round_id", "status", "id"),
)

curves = Table(
    "curves", meta,
    Column("trial_id", Integer, nullable=False),
    Column("step", Integer, nullable=False),
    Column("metric", String(200), nullable=False),
    Column("value", Float),
    Index("ix_curves_trial", "trial_id"),
)

artifacts = Table(
    "artifacts", meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("trial_id", Integer),
    Column("kind", String(40), nullable=False),
    Column("step", Integer),
    Column("path", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("meta", JSON),
    Column("created_at", Float, nullable=False),
    # Each trial reads its own checkpoints (retention, a retried attempt's resume point): by
    # index, not a scan of every artifact in the store (revision 0002).
    Index("ix_artifacts_trial", "trial_id", "kind"),
)

decisions = Table(
    "decisions", meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(40), nullable=False),
    Column("round_id", Integer),
    Column("summary", Text, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
)

info = Table(
    "info", meta,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)
