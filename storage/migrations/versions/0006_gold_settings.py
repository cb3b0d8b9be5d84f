"""tasks: gold accuracy threshold and minimum gold answers for flagging raters

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 10:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('gold_accuracy_threshold', sa.Float(), nullable=False,
                                      server_default='0.8'))
        batch_op.add_column(sa.Column('min_gold_answers', sa.Integer(), nullable=False,
                                      server_default='5'))


def downgrade() -> None:
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.drop_column('min_gold_answers')
        batch_op.drop_column('gold_accuracy_threshold')
