"""queue relabeling and aggregation settings

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 11:00:23.574905
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('consensus', schema=None) as batch_op:
        batch_op.add_column(sa.Column('suspect', sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.add_column(sa.Column('extra_raters', sa.Integer(), nullable=False, server_default='0'))

    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('aggregation', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False, server_default='majority'))



def downgrade() -> None:
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.drop_column('aggregation')

    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.drop_column('extra_raters')

    with op.batch_alter_table('consensus', schema=None) as batch_op:
        batch_op.drop_column('suspect')

