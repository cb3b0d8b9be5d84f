"""end users who opted out of human review, by a digest of the pseudonym

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 11:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'end_user_opt_out',
        sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('reference'),
    )


def downgrade() -> None:
    op.drop_table('end_user_opt_out')
