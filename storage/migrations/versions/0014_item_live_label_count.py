"""each item keeps the count of its live rater labels (``item.live_labels``), kept by the
database itself (triggers on ``label``), so the queue's pool and hand-out read a column instead
of counting a million items' labels. (A later SQLite migration that recreates ``label`` in batch
mode drops its triggers: it must create them again.)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 04:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in storage/models.py at this revision (a migration never follows later model changes).
LIVE = "{row}.source = 'rater' AND NOT {row}.unsure AND NOT {row}.superseded"
"""A label that counts towards its item's k: a rater's, sure, not superseded (the database
allows one live label per rater and item, so this counts raters)."""

BACKFILL = f"""UPDATE item SET live_labels = (
    SELECT count(*) FROM label WHERE label.item_id = item.id AND {LIVE.format(row='label')})"""

SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER label_live_insert AFTER INSERT ON label
        WHEN {LIVE.format(row='NEW')}
        BEGIN UPDATE item SET live_labels = live_labels + 1 WHERE id = NEW.item_id; END""",
    f"""CREATE TRIGGER label_live_delete AFTER DELETE ON label
        WHEN {LIVE.format(row='OLD')}
        BEGIN UPDATE item SET live_labels = live_labels - 1 WHERE id = OLD.item_id; END""",
    f"""CREATE TRIGGER label_live_update
        AFTER UPDATE OF source, unsure, superseded, item_id ON label
        BEGIN
            UPDATE item SET live_labels = live_labels - 1
                WHERE id = OLD.item_id AND {LIVE.format(row='OLD')};
            UPDATE item SET live_labels = live_labels + 1
                WHERE id = NEW.item_id AND {LIVE.format(row='NEW')};
        END""",
)
SQLITE_NAMES = ("label_live_insert", "label_live_delete", "label_live_update")

POSTGRES_FUNCTION = f"""CREATE FUNCTION label_live_count() RETURNS trigger AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        IF {LIVE.format(row='OLD')} THEN
            UPDATE item SET live_labels = live_labels - 1 WHERE id = OLD.item_id;
        END IF;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        IF {LIVE.format(row='NEW')} THEN
            UPDATE item SET live_labels = live_labels + 1 WHERE id = NEW.item_id;
        END IF;
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql"""
POSTGRES_TRIGGERS = (
    f"""CREATE TRIGGER label_live_insert AFTER INSERT ON label FOR EACH ROW
        WHEN ({LIVE.format(row='NEW')}) EXECUTE FUNCTION label_live_count()""",
    f"""CREATE TRIGGER label_live_delete AFTER DELETE ON label FOR EACH ROW
        WHEN ({LIVE.format(row='OLD')}) EXECUTE FUNCTION label_live_count()""",
    """CREATE TRIGGER label_live_update AFTER UPDATE OF source, unsure, superseded, item_id
        ON label FOR EACH ROW EXECUTE FUNCTION label_live_count()""",
)


def upgrade() -> None:
    with op.batch_alter_table('item') as batch:
        batch.add_column(sa.Column('live_labels', sa.Integer(), nullable=False,
                                   server_default='0'))
    connection = op.get_bind()
    connection.execute(sa.text(BACKFILL))
    if connection.dialect.name == "postgresql":
        statements = (POSTGRES_FUNCTION, *POSTGRES_TRIGGERS)
    else:
        statements = SQLITE_TRIGGERS
    for statement in statements:
        connection.execute(sa.text(statement))


def downgrade() -> None:
    connection = op.get_bind()
    for name in SQLITE_NAMES:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text(f"DROP TRIGGER IF EXISTS {name} ON label"))
        else:
            connection.execute(sa.text(f"DROP TRIGGER IF EXISTS {name}"))
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("DROP FUNCTION IF EXISTS label_live_count()"))
    with op.batch_alter_table('item') as batch:
        batch.drop_column('live_labels')
