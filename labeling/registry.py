"""Model files: written and read with skops (never pickle), checked against a stored hash."""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from skops import io as skops_io

from labeling.exceptions import LabelingError
from labeling.tasks import get_task
from storage.db import write_scope
from storage.repositories import audit
from storage.repositories import models as model_repo

TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.",
                    "labeling.calibration.")


class ModelFileError(LabelingError):
    """A model file is missing, altered, or holds types we do not load."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_model(model: Any, path: Path) -> str:
    """Write ``model`` to ``path`` atomically (temp file, fsync, rename); return its SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(handle)
    try:
        skops_io.dump(model, temporary)
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return file_sha256(path)


def load_model(path: Path | str, *, expected_sha256: str) -> Any:
    """Load a model file after checking its hash and the types it would build."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file missing: {path}")
    actual = file_sha256(path)
    if actual != expected_sha256:
        raise ModelFileError(
            f"model file {path.name} was changed after it was registered "
            f"(sha256 {actual[:12]}… ≠ {expected_sha256[:12]}…); refusing to load it"
        )
    untrusted = skops_io.get_untrusted_types(file=path)
    unexpected = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
    if unexpected:
        raise ModelFileError(f"model file {path.name} holds unexpected types: {unexpected[:5]}")
    return skops_io.load(path, trusted=untrusted)


class ModelCache:
    """Loaded models by (path, hash), so a page or queue loads each version once."""

    def __init__(self) -> None:
        self._models: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def get(self, path: str, sha256: str) -> Any:
        key = (path, sha256)
        with self._lock:
            if key not in self._models:
                self._models[key] = load_model(path, expected_sha256=sha256)
            return self._models[key]


MODEL_CACHE = ModelCache()


# --- promotion and rollback ---------------------------------------------------------------

PROMOTION_TOLERANCE = 0.01
"""A candidate may trail the serving version's macro-F1 by at most this much (1 point)."""


class PromotionError(LabelingError):
    """A promotion or rollback refused (with what to do instead)."""


def _macro_f1(metrics: dict) -> float | None:
    value = (metrics or {}).get("macro_f1")
    return None if value is None else float(value)


def check_promotion(candidate: dict, serving: dict | None, *, tolerance: float = PROMOTION_TOLERANCE
                    ) -> str | None:
    """Why ``candidate`` may not replace ``serving`` (their metrics), or ``None`` if it may."""
    if serving is None:
        return None
    new, old = _macro_f1(candidate), _macro_f1(serving)
    if new is None or old is None:
        return "macro-F1 is missing for one of the versions; evaluate both first"
    if new < old - tolerance:
        return (f"macro-F1 {new:.3f} is more than {tolerance * 100:.0f} point below the serving "
                f"version's {old:.3f}")
    return None


def _version(session: Any, task_id: int, version: int) -> Any:

    found = model_repo.get_version(session=session, task_id=task_id, version=version)
    if found is None:
        raise PromotionError(f"no version {version}; see `workbench models list`")
    return found


def promote(
    *, engine: Any, task_name: str, version: int | None, actor: str, force: bool = False,
    reason: str | None = None,
) -> int:
    """Make ``version`` (default: the newest) the task's serving model, atomically.

    Refused when its macro-F1 falls more than one point below the serving version's, unless a
    lead forces it with a reason (audited), and refused when its file does not verify.
    """

    with write_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        versions = model_repo.list_versions(session=session, task_id=task.id)
        if not versions:
            raise PromotionError(f"task {task_name!r} has no trained model yet")
        chosen = versions[-1] if version is None else _version(session, task.id, version)
        serving = model_repo.serving(session=session, task_id=task.id)
        if serving is not None and serving.id == chosen.id:
            return chosen.version
        problem = check_promotion(chosen.metrics, serving.metrics if serving else None)
        if problem and not force:
            raise PromotionError(f"not promoted: {problem}; a lead can force it with a reason")
        if problem and not (reason or "").strip():
            raise PromotionError("forcing a promotion needs a reason")
        load_model(chosen.file_path, expected_sha256=chosen.file_hash)  # refuse a bad file
        model_repo.set_serving(session=session, task_id=task.id, model_id=chosen.id)
        audit.record(
            session=session, actor=actor, action="model.force_promote" if problem else
            "model.promote", entity="modelversion", entity_id=chosen.id,
            before={"serving": serving.version if serving else None},
            after={"serving": chosen.version, "reason": reason, "gate": problem},
        )
        return chosen.version


def rollback(*, engine: Any, task_name: str, version: int, actor: str) -> int:
    """Serve an earlier version again (its file must still verify)."""

    with write_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        chosen = _version(session, task.id, version)
        serving = model_repo.serving(session=session, task_id=task.id)
        load_model(chosen.file_path, expected_sha256=chosen.file_hash)
        model_repo.set_serving(session=session, task_id=task.id, model_id=chosen.id)
        audit.record(session=session, actor=actor, action="model.rollback",
                     entity="modelversion", entity_id=chosen.id,
                     before={"serving": serving.version if serving else None},
                     after={"serving": chosen.version})
        return chosen.version
