"""a task can train with pseudo-labels of its unlabeled items (``task.self_training``, off)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 13:40:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('task') as batch:
        batch.add_column(sa.Column('self_training', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('task') as batch:
        batch.drop_column('self_training')
