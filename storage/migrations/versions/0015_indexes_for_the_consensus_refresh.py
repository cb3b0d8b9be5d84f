"""indexes for the consensus refresh at a million prompts (issue 14): a task's superseded labels
and its items sent back for more raters, so the refresh's check that nothing changed reads two
small indexes instead of scanning five million labels and a million items

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 02:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in storage/models.py at this revision (a migration never follows later model changes).
SUPERSEDED = "superseded"
SENT_BACK = "extra_raters > 0"


def upgrade() -> None:
    op.create_index('ix_label_task_superseded', 'label', ['task_id'],
                    sqlite_where=sa.text(SUPERSEDED), postgresql_where=sa.text(SUPERSEDED))
    op.create_index('ix_item_task_extra_raters', 'item', ['task_id', 'extra_raters'],
                    sqlite_where=sa.text(SENT_BACK), postgresql_where=sa.text(SENT_BACK))


def downgrade() -> None:
    op.drop_index('ix_item_task_extra_raters', table_name='item')
    op.drop_index('ix_label_task_superseded', table_name='label')
