"""Adding texts to a task as items, with their vectors and any import labels."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session

from labeling.exceptions import PrivacyError
from labeling.ml.encoders import Encoder, normalise_text, text_hash
from labeling.project.vectors import store_vectors
from storage.models import LabelSource, Task, utcnow
from storage.repositories import items as item_repo
from storage.repositories import labels as label_repo
from storage.repositories import privacy as privacy_repo


def pseudonymise(user_id: str, *, key: str) -> str:
    """A stable pseudonym for an end-user id: HMAC-SHA256 under the installation's secret key
    (an empty key is refused: there is no default)."""
    if not key:
        raise PrivacyError("no secret key to pseudonymise end-user ids: run `workbench init` "
                           "or set WORKBENCH_SECRET_KEY")
    return hmac.new(key.encode(), user_id.encode(), hashlib.sha256).hexdigest()[:32]


def opt_out_reference(pseudonym: str) -> str:
    """What records an end user's opt-out: a one-way digest of their pseudonym, so the opt-out
    outlives an erasure of everything the pseudonym names."""
    return hashlib.sha256(f"opt-out:{pseudonym}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class AddedTexts:
    ids: dict[str, int]
    """Item id by text hash, for every text stored (new or already there)."""
    items_added: int
    labels_added: int
    opted_out: int = 0
    """Texts not stored because their end user opted out of human review."""


def _opted_out(session: Session, users: Sequence[str | None]) -> set[str]:
    """The pseudonyms among ``users`` whose end user opted out."""
    by_reference = {opt_out_reference(u): u for u in set(users) if u}
    if not by_reference:
        return set()
    return {by_reference[r] for r in privacy_repo.opted_out(session=session,
                                                            references=list(by_reference))}


def add_texts(
    *,
    session: Session,
    task: Task,
    texts: Sequence[str],
    labels: Sequence[str | None],
    source: str,
    encoder: Encoder | None,
    vectors: dict[str, bytes],
    label_detail: str | None = None,
    end_user_ids: Sequence[str | None] | None = None,
    gold: bool = False,
    pii_types: Sequence[Sequence[str] | None] | None = None,
) -> AddedTexts:
    """Add the texts not yet in the task, their ``vectors``, and labels not yet imported.

    A text already in the task is not added again, and an (item, label) pair an earlier import
    stored is not stored again, so repeating an import adds nothing. The texts must be redacted
    already (``labeling.text.pii``); ``pii_types`` says what was redacted from each. Vectors are
    stored under ``encoder`` where there are any (an item without one is encoded when needed).
    """
    users = list(end_user_ids) if end_user_ids is not None else [None] * len(texts)
    found = list(pii_types) if pii_types is not None else [None] * len(texts)
    given = len(users)
    refused = _opted_out(session, users)
    if refused:
        keep = [i for i, user in enumerate(users) if user not in refused]
        texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
        users, found = [users[i] for i in keep], [found[i] for i in keep]
    skipped = given - len(users)
    hashes = [text_hash(t) for t in texts]
    seen = set(item_repo.ids_by_hash(session=session, task_id=task.id, hashes=hashes))
    now, new_items = utcnow(), []
    for text, digest, user, kinds in zip(texts, hashes, users, found, strict=True):
        if digest not in seen:
            seen.add(digest)
            new_items.append({"task_id": task.id, "text": normalise_text(text),
                              "text_hash": digest, "source": source, "created_at": now,
                              "end_user_id": user, "opted_out": False,
                              "pii_types": sorted(kinds) if kinds else None})
    item_repo.add_many(session=session, rows=new_items)
    ids = item_repo.ids_by_hash(session=session, task_id=task.id, hashes=hashes)
    if gold:
        answers = {ids[d]: v for d, v in zip(hashes, labels, strict=True) if v is not None}
        changed = item_repo.set_gold(session=session, answers=answers)
        if vectors:
            store_vectors(session=session, encoder=encoder, vectors=vectors)
        return AddedTexts(ids=ids, items_added=len(new_items), labels_added=changed,
                          opted_out=skipped)
    existing = label_repo.import_label_pairs(
        session=session, task_id=task.id, item_ids=list(ids.values())
    )
    new_labels = []
    for digest, value in zip(hashes, labels, strict=True):
        if value is None or (ids[digest], value) in existing:
            continue
        existing.add((ids[digest], value))
        new_labels.append({
            "task_id": task.id, "item_id": ids[digest], "value": value, "slots": {},
            "source": LabelSource.import_.value, "source_detail": label_detail,
            "submitted_at": now, "unsure": False, "is_gold": False, "superseded": False,
        })
    label_repo.add_many(session=session, rows=new_labels)
    if vectors:
        store_vectors(session=session, encoder=encoder, vectors=vectors)
    return AddedTexts(ids=ids, items_added=len(new_items), labels_added=len(new_labels),
                      opted_out=skipped)
