"""audit: append-only audit rows (triggers refuse UPDATE and DELETE, and TRUNCATE on PostgreSQL)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 10:00:00.000000

SQLite drops a table's triggers with the table, and Alembic's batch mode changes a SQLite table
by copying it into a new one: a later migration that alters ``auditevent`` in batch mode must
create these triggers again (the tests check them on the newest schema).
"""
from collections.abc import Sequence

from alembic import op


revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MESSAGE = 'audit rows are append-only'
SQLITE_TRIGGERS = ('auditevent_no_update', 'auditevent_no_delete')
PG_FUNCTION = 'auditevent_append_only'
PG_TRIGGERS = ('auditevent_no_update_or_delete', 'auditevent_no_truncate')


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        for name, event in zip(SQLITE_TRIGGERS, ('UPDATE', 'DELETE'), strict=True):
            op.execute(f"CREATE TRIGGER {name} BEFORE {event} ON auditevent "
                       f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END")
        return
    op.execute(f"""
        CREATE FUNCTION {PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '{MESSAGE} (% refused)', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END
        $$""")
    op.execute(f"CREATE TRIGGER {PG_TRIGGERS[0]} BEFORE UPDATE OR DELETE ON auditevent "
               f"FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}()")
    op.execute(f"CREATE TRIGGER {PG_TRIGGERS[1]} BEFORE TRUNCATE ON auditevent "
               f"FOR EACH STATEMENT EXECUTE FUNCTION {PG_FUNCTION}()")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        return
    for name in PG_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON auditevent")
    op.execute(f"DROP FUNCTION IF EXISTS {PG_FUNCTION}()")
