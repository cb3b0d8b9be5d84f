"""what each task's consensus was last computed from, for incremental refreshes

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 04:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'consensusrefresh',
        sa.Column('task_id', sa.Integer(), nullable=False),
        sa.Column('labels', sa.Integer(), nullable=False),
        sa.Column('newest_label_id', sa.Integer(), nullable=False),
        sa.Column('superseded', sa.Integer(), nullable=False),
        sa.Column('basis', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
        sa.Column('refreshed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['task_id'], ['task.id']),
        sa.PrimaryKeyConstraint('task_id'),
    )


def downgrade() -> None:
    op.drop_table('consensusrefresh')
