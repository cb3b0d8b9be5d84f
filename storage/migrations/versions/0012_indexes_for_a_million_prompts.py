"""indexes for a million prompts (issue 14, bench/scale_postgres.py): a task's labels by time
(Label quality over a range), the end user's prompts (erasure, opt-out), and the references a
deleted label or batch is checked against (erasure: without them PostgreSQL scans every label
and assignment for each deleted row); the items waiting for adjudication, least confident first

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 18:40:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in storage/models.py at this revision (a migration never follows later model changes).
WAITING = "needs_adjudication"


def upgrade() -> None:
    op.create_index('ix_label_task_submitted', 'label', ['task_id', 'submitted_at'])
    op.create_index(op.f('ix_label_corrects_label_id'), 'label', ['corrects_label_id'])
    op.create_index(op.f('ix_assignment_selection_id'), 'assignment', ['selection_id'])
    op.create_index(op.f('ix_item_end_user_id'), 'item', ['end_user_id'])
    op.create_index('ix_consensus_waiting', 'consensus', ['task_id', 'confidence'],
                    sqlite_where=sa.text(WAITING), postgresql_where=sa.text(WAITING))


def downgrade() -> None:
    op.drop_index('ix_consensus_waiting', table_name='consensus')
    op.drop_index(op.f('ix_item_end_user_id'), table_name='item')
    op.drop_index(op.f('ix_assignment_selection_id'), table_name='assignment')
    op.drop_index(op.f('ix_label_corrects_label_id'), table_name='label')
    op.drop_index('ix_label_task_submitted', table_name='label')
