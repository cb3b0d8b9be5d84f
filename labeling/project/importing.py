"""Importing a file of prompts (optionally labeled) into a task: one transaction per file.

Personal data is redacted from every text first (``labeling.text.pii``): only the redacted
text is embedded and stored, with the kinds of data found. Validation and encoding happen before
the write transaction opens; the transaction then adds the new items, their vectors and the
import labels (provenance ``source=import``) at once, or nothing. Importing the same file again
adds nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy.engine import Engine

from labeling.dataio.tabular import TextTable, read_texts
from labeling.exceptions import ImportFileError
from labeling.ml.encoders import Encoder, ProgressCallback
from labeling.project import authz
from labeling.project.authz import Actor, Capability, requires
from labeling.project.items import add_texts, pseudonymise
from labeling.project.tasks import add_labels, get_task
from labeling.project.vectors import encode_missing
from labeling.text.pii import redact_many
from storage.db import session_scope
from storage.models import ImportRecord
from storage.repositories import audit, imports


@dataclass(frozen=True)
class ImportSummary:
    task: str
    rows: int
    items_added: int
    labels_added: int
    vectors_added: int
    new_labels_in_set: tuple[str, ...]
    redacted_rows: int = 0
    """Rows whose text held personal data, now replaced by placeholders."""
    redacted_types: tuple[str, ...] = ()


def _unknown_labels(table: TextTable, label_set: list[str]) -> list[str]:
    known = set(label_set)
    return sorted({lab for lab in table.labels if lab is not None and lab not in known})


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@requires(Capability.manage_tasks)
def import_file(
    *,
    engine: Engine,
    task_name: str,
    path: Path | str,
    encoder: Encoder,
    text_col: str = "text",
    label_col: str | None = None,
    user_col: str | None = None,
    pseudonym_key: str = "",
    allow_new_labels: bool = False,
    gold: bool = False,
    actor: Actor,
    max_chars: int = 10_000,
    progress: ProgressCallback | None = None,
) -> ImportSummary:
    """Import ``path`` into the task; raise ``LabelingError`` and write nothing on bad input.

    With ``gold``, the file's labels become the items' known answers (gold items), which raters
    label unannounced and are scored against; they are never training labels.
    """
    path = Path(path)
    if user_col:
        pseudonymise("", key=pseudonym_key)  # refuses a missing key before any work
    with session_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        table = read_texts(path, text_col=text_col, label_col=label_col, user_col=user_col,
                           max_chars=max_chars)
        redactions = redact_many(table.texts)
        table = replace(table, texts=[r.text for r in redactions])
        if gold and not any(label is not None for label in table.labels):
            raise ImportFileError(f"{path}: a gold import needs labels (--label-col)")
        unknown = _unknown_labels(table, task.labels)
        if unknown and not allow_new_labels:
            raise ImportFileError(
                f"{path}: labels not in task {task.name!r}: {', '.join(unknown[:10])}; "
                "pass --add-labels to add them to the task"
            )
        vectors = encode_missing(
            session=session, encoder=encoder, texts=table.texts, progress=progress
        )
    with session_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        if unknown:
            add_labels(session=session, task=task, new_labels=unknown, actor=actor)
        summary = _write(session=session, task=task, table=table, vectors=vectors,
                         encoder=encoder, actor=actor, pseudonym_key=pseudonym_key, gold=gold,
                         pii_types=[list(r.types) for r in redactions])
    return ImportSummary(
        task=task_name, rows=len(table.texts), items_added=summary[0], labels_added=summary[1],
        vectors_added=len(vectors), new_labels_in_set=tuple(unknown),
        redacted_rows=sum(r.found for r in redactions),
        redacted_types=tuple(sorted({t for r in redactions for t in r.types})),
    )


def _write(
    *, session, task, table: TextTable, vectors, encoder, actor: Actor, pseudonym_key: str,
    gold: bool, pii_types: list[list[str]],
) -> tuple[int, int]:
    who = authz.audit_name(actor)
    users = [None if u is None else pseudonymise(u, key=pseudonym_key) for u in table.user_ids]
    added = add_texts(
        session=session, task=task, texts=table.texts, labels=table.labels,
        source=f"import:{table.path.name}", encoder=encoder, vectors=vectors,
        label_detail=table.path.name, end_user_ids=users, gold=gold, pii_types=pii_types,
    )
    if added.items_added or added.labels_added:
        record = imports.add(session=session, record=ImportRecord(
            task_id=task.id, file_name=str(table.path.name), file_sha256=_file_sha256(table.path),
            rows=len(table.texts), items_added=added.items_added,
            labels_added=added.labels_added, imported_by=who,
        ))
        audit.record(session=session, actor=who, action="items.import", entity="importrecord",
                     entity_id=record.id, after={"file": table.path.name,
                                                 "items": added.items_added,
                                                 "labels": added.labels_added})
    return added.items_added, added.labels_added
