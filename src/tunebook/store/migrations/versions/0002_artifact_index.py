"""An index on ``artifacts (trial_id, kind)``: a worker reads each trial's checkpoints by index.

Without it every trial's retention (and a retried attempt's resume point) scanned every artifact
in the store, a cost that grew with the number of trials ever run (issue 18).
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_artifacts_trial", "artifacts", ["trial_id", "kind"])


def downgrade() -> None:
    op.drop_index("ix_artifacts_trial", table_name="artifacts")
