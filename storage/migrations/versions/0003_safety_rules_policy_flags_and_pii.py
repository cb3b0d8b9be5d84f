"""safety: rule list versions, policy versions, flag details, PII types, task text features

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 20:35:32.023468
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('rulelistversion',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('entries', sa.JSON(), nullable=True),
    sa.Column('change', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('version')
    )
    op.create_table('safetypolicy',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('settings', sa.JSON(), nullable=True),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['task.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('task_id', 'version')
    )
    with op.batch_alter_table('safetypolicy', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_safetypolicy_task_id'), ['task_id'], unique=False)

    with op.batch_alter_table('flag', schema=None) as batch_op:
        batch_op.add_column(sa.Column('task_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('item_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('text_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('verdict', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.add_column(sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('severity', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('uncertainty', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('rule_hits', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('pii_types', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('versions', sa.JSON(), nullable=True))
        batch_op.create_index(batch_op.f('ix_flag_item_id'), ['item_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_flag_task_id'), ['task_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_flag_text_hash'), ['text_hash'], unique=False)
        batch_op.create_foreign_key('fk_flag_task_id_task', 'task', ['task_id'], ['id'])
        batch_op.create_foreign_key('fk_flag_item_id_item', 'item', ['item_id'], ['id'])

    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pii_types', sa.JSON(), nullable=True))

    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('text_features', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('safe_label', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.drop_column('safe_label')
        batch_op.drop_column('text_features')

    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.drop_column('pii_types')

    with op.batch_alter_table('flag', schema=None) as batch_op:
        batch_op.drop_constraint('fk_flag_item_id_item', type_='foreignkey')
        batch_op.drop_constraint('fk_flag_task_id_task', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_flag_text_hash'))
        batch_op.drop_index(batch_op.f('ix_flag_task_id'))
        batch_op.drop_index(batch_op.f('ix_flag_item_id'))
        batch_op.drop_column('versions')
        batch_op.drop_column('pii_types')
        batch_op.drop_column('rule_hits')
        batch_op.drop_column('uncertainty')
        batch_op.drop_column('severity')
        batch_op.drop_column('category')
        batch_op.drop_column('verdict')
        batch_op.drop_column('text_hash')
        batch_op.drop_column('item_id')
        batch_op.drop_column('task_id')

    with op.batch_alter_table('safetypolicy', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_safetypolicy_task_id'))

    op.drop_table('safetypolicy')
    op.drop_table('rulelistversion')
