"""A process killed mid-work (SIGKILL after it wrote, before it committed) leaves everything as
it was, and the same work done again succeeds: import, consensus and erasure. (Training and
promotion: tests/integration/test_registry.py.)"""

from __future__ import annotations

import pytest
from sqlmodel import select

from labeling.privacy.erasure import erase_end_user
from labeling.project.authz import Operator
from labeling.project.importing import import_file
from labeling.queue import assignments as queue
from labeling.review.consensus import recompute
from storage.db import session_scope
from storage.models import Consensus, Label
from tests.factories import (
    CLI,
    SAMPLE_ROWS,
    acting,
    label_all,
    make_account,
    make_queue_task,
    make_task,
    run_and_kill,
    snapshot,
    write_jsonl,
)

pytestmark = pytest.mark.slow(seconds=60)

KEY = "kill-test-secret-key-0123"
STALL = """
    import os, pathlib, time

    def stall(*args, **kwargs):  # called inside the transaction, after the writes
        pathlib.Path(os.environ["MARKER"]).touch()
        time.sleep(60)
"""


def test_killing_an_import_midway_imports_nothing(engine, encoder, db_url, tmp_path):
    make_task(engine)
    path = write_jsonl(tmp_path / "a.jsonl", SAMPLE_ROWS)
    before = snapshot(engine)
    engine.dispose()
    run_and_kill(db_url, STALL + f"""
    from storage.db import make_engine
    from labeling.ml.encoders import HashingEncoder
    from labeling.project import importing
    from labeling.project.authz import Operator

    importing.audit.record = stall  # the items, vectors and labels are written by now
    importing.import_file(engine=make_engine(os.environ["DB_URL"]), task_name="music",
                          path={str(path)!r}, encoder=HashingEncoder(), label_col="label",
                          actor=Operator("killed"))
    """, tmp_path / "import.marker")
    assert snapshot(engine) == before
    again = import_file(engine=engine, actor=CLI, task_name="music", path=path, encoder=encoder,
                        label_col="label")
    assert (again.items_added, again.labels_added) == (5, 5)  # not "already imported"


def _consensus(engine) -> dict[int, tuple]:
    with session_scope(engine) as session:
        return {c.item_id: (c.value, c.settled, c.needs_adjudication)
                for c in session.exec(select(Consensus))}


def test_killing_a_consensus_recompute_midway_keeps_the_last_one(engine, encoder, db_url,
                                                                 tmp_path):
    make_queue_task(engine, encoder, tmp_path, n_items=8, batch_size=4)
    raters = [make_account(engine, username=n) for n in ("ana", "ben")]
    label_all(engine, encoder, raters,
              lambda r, i: "mood" if i % 2 == 0 or r == raters[0] else "sleep")
    recompute(engine=engine, actor=CLI, task_name="music")
    stored = _consensus(engine)
    with session_scope(engine) as session:  # ben changes his mind on item 1: it now settles
        label = session.exec(select(Label).where(Label.rater_id == raters[1],
                                                 Label.item_id == 1)).one()
    queue.correct(engine=engine, actor=acting(raters[1]), label_id=label.id, value="mood")
    before = snapshot(engine)
    engine.dispose()
    run_and_kill(db_url, STALL + """
    from storage.db import make_engine
    from labeling.project.authz import Operator
    from labeling.review import consensus

    real = consensus.consensus_repo.apply_computed

    def apply_then_stall(**kwargs):  # the changed rows are written, not committed
        real(**kwargs)
        stall()

    consensus.consensus_repo.apply_computed = apply_then_stall
    consensus.recompute(engine=make_engine(os.environ["DB_URL"]), task_name="music",
                        actor=Operator("killed"))
    """, tmp_path / "consensus.marker")
    assert snapshot(engine) == before and _consensus(engine) == stored
    recompute(engine=engine, actor=CLI, task_name="music")
    assert _consensus(engine)[1] == ("mood", True, False) != stored[1]


def test_killing_an_erasure_midway_erases_nothing_and_it_can_be_done_again(
        engine, encoder, db_url, tmp_path):
    make_task(engine)
    rows = [{"text": f"songs for alice number {n}", "label": "mood",
             "user": "alice@example.org"} for n in range(3)]
    import_file(engine=engine, actor=CLI, task_name="music", encoder=encoder,
                path=write_jsonl(tmp_path / "u.jsonl", rows), label_col="label",
                user_col="user", pseudonym_key=KEY)
    before = snapshot(engine)
    engine.dispose()
    run_and_kill(db_url, STALL + f"""
    from storage.db import make_engine
    from labeling.privacy import erasure
    from labeling.project.authz import Operator

    erasure.audit.record = stall  # her items and labels are deleted by now
    erasure.erase_end_user(engine=make_engine(os.environ["DB_URL"]),
                           end_user_id="alice@example.org", key={KEY!r},
                           actor=Operator("killed"))
    """, tmp_path / "erase.marker")
    assert snapshot(engine) == before
    summary = erase_end_user(engine=engine, end_user_id="alice@example.org", key=KEY,
                             actor=Operator("dpo"))
    assert summary.deleted and snapshot(engine) != before
