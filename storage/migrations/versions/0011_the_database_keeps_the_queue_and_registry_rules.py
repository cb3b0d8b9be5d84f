"""the database keeps the queue's and the registry's rules: one serving model per task, one
live rater label per rater and item, one open lease per rater and item, one active batch per
item (partial unique indexes); existing data is repaired first; model paths inside the data
folder become relative; a task's batch selection is claimed (``task.selecting_until``)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 15:45:00.000000
"""
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
import sqlmodel
from alembic import op

from storage.settings import Settings

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in storage/models.py at this revision (a migration never follows later model changes).
OPEN_LEASE = "status = 'leased'"
LIVE_RATER_LABEL = "source = 'rater' AND NOT superseded AND rater_id IS NOT NULL"
SERVING = "serving"
ACTIVE = "active"

# Repairs, before the indexes: of each group breaking a rule, the newest row keeps it.
REPAIRS = (
    # Two serving versions of a task: the newest serves.
    f"""UPDATE modelversion SET serving = false WHERE {SERVING} AND id NOT IN (
        SELECT max(id) FROM modelversion WHERE {SERVING} GROUP BY task_id)""",
    # Two live labels by one rater on one item: the older is superseded (it stays, as after a
    # correction).
    f"""UPDATE label SET superseded = true WHERE {LIVE_RATER_LABEL} AND id NOT IN (
        SELECT max(id) FROM label WHERE {LIVE_RATER_LABEL} GROUP BY item_id, rater_id)""",
    # An item in two active batches: the newer selection keeps it.
    f"""UPDATE selection SET active = false WHERE {ACTIVE} AND id NOT IN (
        SELECT max(id) FROM selection WHERE {ACTIVE} GROUP BY item_id)""",
    # Two open leases of one item for one rater: the older has expired.
    f"""UPDATE assignment SET status = 'expired' WHERE {OPEN_LEASE} AND id NOT IN (
        SELECT max(id) FROM assignment WHERE {OPEN_LEASE} GROUP BY item_id, rater_id)""",
)


def _relative_model_paths(connection: sa.Connection) -> None:
    """Model paths inside this instance's data folder are stored relative to it."""
    data_dir = Settings().data_dir.resolve()
    rows = connection.execute(sa.text("SELECT id, file_path FROM modelversion")).all()
    for model_id, stored in rows:
        path = Path(stored)
        if not path.is_absolute():
            continue
        try:
            relative = path.relative_to(data_dir).as_posix()
        except ValueError:
            continue
        connection.execute(sa.text("UPDATE modelversion SET file_path = :p WHERE id = :i"),
                           {"p": relative, "i": model_id})


def upgrade() -> None:
    connection = op.get_bind()
    for statement in REPAIRS:
        connection.execute(sa.text(statement))
    _relative_model_paths(connection)
    with op.batch_alter_table('task') as batch:
        batch.add_column(sa.Column('selecting_until', sqlmodel.sql.sqltypes.UTCDateTime(),
                                   nullable=True))
    op.create_index('ux_selection_one_active', 'selection', ['item_id'], unique=True,
                    sqlite_where=sa.text(ACTIVE), postgresql_where=sa.text(ACTIVE))
    op.create_index('ux_modelversion_one_serving', 'modelversion', ['task_id'], unique=True,
                    sqlite_where=sa.text(SERVING), postgresql_where=sa.text(SERVING))
    op.create_index('ux_label_one_live_per_rater', 'label', ['item_id', 'rater_id'],
                    unique=True, sqlite_where=sa.text(LIVE_RATER_LABEL),
                    postgresql_where=sa.text(LIVE_RATER_LABEL))
    op.create_index('ux_assignment_one_open_lease', 'assignment', ['item_id', 'rater_id'],
                    unique=True, sqlite_where=sa.text(OPEN_LEASE),
                    postgresql_where=sa.text(OPEN_LEASE))


def downgrade() -> None:
    op.drop_index('ux_selection_one_active', table_name='selection')
    with op.batch_alter_table('task') as batch:
        batch.drop_column('selecting_until')
    op.drop_index('ux_assignment_one_open_lease', table_name='assignment')
    op.drop_index('ux_label_one_live_per_rater', table_name='label')
    op.drop_index('ux_modelversion_one_serving', table_name='modelversion')
