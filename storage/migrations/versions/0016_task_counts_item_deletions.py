"""each task counts the deletions of its items (``task.items_deleted``): the in-memory vectors
and selection scores of a task's items are keyed on it, so an erasure leaves none behind, and
on SQLite (which gives a deleted highest id to the next row) a new item never gets an erased
one's vector

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 02:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('task') as batch:
        batch.add_column(sa.Column('items_deleted', sa.Integer(), nullable=False,
                                   server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('task') as batch:
        batch.drop_column('items_deleted')
