"""preview: impressions, feedback, per-task collection of preview prompts

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 23:04:42.882222
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('impression',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prompt_id', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('prompt', sa.Text(), nullable=False),
    sa.Column('session_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('context', sa.JSON(), nullable=True),
    sa.Column('ranker', sa.JSON(), nullable=True),
    sa.Column('versions', sa.JSON(), nullable=True),
    sa.Column('slots', sa.JSON(), nullable=True),
    sa.Column('candidates', sa.JSON(), nullable=True),
    sa.Column('shown', sa.JSON(), nullable=True),
    sa.Column('propensities', sa.JSON(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('impression', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_impression_prompt_id'), ['prompt_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_impression_session_id'), ['session_id'], unique=False)

    op.create_table('feedback',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('impression_id', sa.Integer(), nullable=False),
    sa.Column('track_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.ForeignKeyConstraint(['impression_id'], ['impression.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feedback_impression_id'), ['impression_id'], unique=False)

    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.add_column(sa.Column("collect_preview_prompts", sa.Boolean(),
                                      server_default=sa.true(), nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.drop_column('collect_preview_prompts')

    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feedback_impression_id'))

    op.drop_table('feedback')
    with op.batch_alter_table('impression', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_impression_session_id'))
        batch_op.drop_index(batch_op.f('ix_impression_prompt_id'))

    op.drop_table('impression')
