"""The schema of tunebook's first release (``SCHEMA_VERSION = 1``, before migrations existed).

A frozen copy: never edit it to follow ``store/schema.py``. A change to the tables is a new
revision file beside this one (see docs/architecture.md, "Changing the store's tables").
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rounds",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("project", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "trials",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("round_id", sa.Integer, sa.ForeignKey("rounds.id"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("grp", sa.JSON, nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("worker", sa.String(200)),
        sa.Column("token", sa.String(40)),
        sa.Column("lease_until", sa.Float),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float),
        sa.Column("finished_at", sa.Float),
        sa.Column("error", sa.Text),
        sa.Column("best_step", sa.Integer),
        sa.Column("score", sa.Float),
        sa.Column("feasible", sa.Boolean),
        sa.Column("best_metrics", sa.JSON),
        sa.Column("parent_id", sa.Integer),
        sa.Column("meta", sa.JSON),
        sa.UniqueConstraint("round_id", "number", name="uq_trial_number"),
    )
    op.create_index("ix_trials_claim", "trials", ["round_id", "status", "id"])
    op.create_table(
        "curves",
        sa.Column("trial_id", sa.Integer, nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("metric", sa.String(200), nullable=False),
        sa.Column("value", sa.Float),
    )
    op.create_index("ix_curves_trial", "curves", ["trial_id"])
    op.create_table(
        "artifacts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("trial_id", sa.Integer),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("step", sa.Integer),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("meta", sa.JSON),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("round_id", sa.Integer),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "info",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.bulk_insert(sa.table("info", sa.column("key"), sa.column("value")),
                   [{"key": "schema", "value": "1"}])


def downgrade() -> None:
    for name in ("info", "decisions", "artifacts", "curves", "trials", "rounds"):
        op.drop_table(name)
