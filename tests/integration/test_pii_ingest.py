"""PII is never stored unredacted: generated e-mails, phone numbers, card numbers, IBANs and ID
numbers go in through every ingest path (file imports in each format, skip reasons,
adjudication notes, safety checks, flags, user reports, triage notes), then every text and JSON
column of every table is scanned for them."""

from __future__ import annotations

import json
import random
import re
import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import JSON, LargeBinary, MetaData, String, Text, select

from labeling.ml.encoders import HashingEncoder
from labeling.project.accounts import create_account
from labeling.project.importing import import_file
from labeling.project.tasks import create_task
from labeling.queue import assignments as queue
from labeling.review import adjudication
from safety.policy import SafetyGate
from safety.taxonomy import category_names
from safety.triage import decide, flag_verdicts, report
from storage.db import make_engine, migrate
from tests.factories import CLI, acting
from tests.unit.test_pii import cards, emails, ibans, phones

ENCODER = HashingEncoder()
SSNS = st.builds(lambda a, b, c: f"{a:03d}-{b:02d}-{c:04d}", st.integers(100, 665),
                 st.integers(10, 99), st.integers(1000, 9999))
VALUES = st.lists(st.one_of(emails(), phones(), cards(), ibans(), SSNS), min_size=4,
                  max_size=8, unique=True)


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def _scan(engine, values: list[str]) -> list[tuple[str, str]]:
    """(table.column, value) for every raw value found in a text or JSON column."""
    metadata = MetaData()
    metadata.reflect(bind=engine)
    found = []
    with engine.connect() as connection:
        for name, table in metadata.tables.items():
            columns = [c for c in table.columns
                       if isinstance(c.type, String | Text | JSON) and
                       not isinstance(c.type, LargeBinary)]
            for row in connection.execute(select(*columns)) if columns else []:
                for column, cell in zip(columns, row, strict=True):
                    text = cell if isinstance(cell, str) else json.dumps(cell)
                    squeezed = _digits(text)
                    for value in values:
                        digits = _digits(value)
                        if value in text or value.lower() in text.lower() or (
                                len(digits) >= 9 and digits in squeezed):
                            found.append((f"{name}.{column.name}", value))
    return found


def _ingest(engine, folder: Path, values: list[str]) -> None:
    labels = ["mood", "workout", "out_of_scope"]
    create_task(engine=engine, actor=CLI, name="music", kind="intent", labels=labels,
                oos_label="out_of_scope")
    create_task(engine=engine, actor=CLI, name="safety", kind="safety", labels=category_names())
    ana = create_account(engine=engine, username="ana", password="ana-password",
                         role="rater", actor=CLI).id
    rosa = create_account(engine=engine, username="rosa", password="rosa-password",
                          role="reviewer", actor=CLI).id
    texts = [f"play jazz and call me on {v} tonight" for v in values]
    jsonl = folder / "prompts.jsonl"
    jsonl.write_text("".join(json.dumps({"text": t, "label": "mood"}) + "\n" for t in texts))
    import_file(engine=engine, actor=CLI, task_name="music", path=jsonl, encoder=ENCODER)
    csv = folder / "prompts.csv"
    pd.DataFrame({"text": [f"workout mix for {v}" for v in values],
                  "user": values}).to_csv(csv, index=False)
    import_file(engine=engine, actor=CLI, task_name="music", path=csv, encoder=ENCODER,
                user_col="user", pseudonym_key="test-key")
    studio = folder / "studio.json"
    studio.write_text(json.dumps([{"data": {"text": f"songs like {v}"}, "annotations": []}
                                  for v in values]))
    import_file(engine=engine, actor=CLI, task_name="music", path=studio, encoder=ENCODER)
    item = queue.next_item(engine=engine, task_name="music", actor=acting(ana), encoder=ENCODER,
                           rng=random.Random(0))
    queue.skip(engine=engine, assignment_id=item.assignment_id, actor=acting(ana),
               reason=f"Other: it has my number {values[0]}")
    adjudication.decide(engine=engine, actor=acting(rosa), task_name="music",
                        item_id=item.item_id, value="mood", note=f"asked {values[1]}")
    gate = SafetyGate.load(engine=engine, encoder=ENCODER, actor=CLI)
    verdicts = gate.check_many([f"kill yourself, {v}" for v in values])
    flags = flag_verdicts(engine=engine, actor=CLI, verdicts=verdicts)
    report(engine=engine, actor=acting(ana), verdict=gate.check(f"this output leaked {values[2]}"),
           note=f"my details {values[3]}")
    decide(engine=engine, actor=acting(rosa), flag_id=flags[0], decision="block",
           category="harassment", note=f"reach the user at {values[-1]}")


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(VALUES)
def test_no_raw_pii_in_any_column_of_any_table_after_every_ingest_path(values):
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'workbench.db'}")
        migrate(engine)
        _ingest(engine, Path(folder), values)
        assert _scan(engine, values) == []
        with engine.connect() as connection:
            cells = connection.execute(select(_item_table(engine).c.pii_types)).scalars()
            types = {t for cell in cells if cell
                     for t in (json.loads(cell) if isinstance(cell, str) else cell)}
        assert types and types <= {"EMAIL", "PHONE", "CARD", "IBAN", "ID"}
        engine.dispose()


def _item_table(engine):
    metadata = MetaData()
    metadata.reflect(bind=engine, only=["item"])
    return metadata.tables["item"]
