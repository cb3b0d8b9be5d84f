"""Model files: written and read with skops (never pickle), checked against a stored hash.

Files keep the module path of each type they hold. ``MOVED_MODULES`` maps the paths of our own
types that have since moved to where they live now, so files written before a move still load
(after their hash is checked: the file on disk is never changed).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import threading
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

from labeling.exceptions import LabelingError
from storage.settings import Settings

TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.",
                    "labeling.ml.calibration.", "labeling.ml.text_features.",
                    "labeling.text.normalise.", "labeling.ml.classifier.FastLogisticRegression",
                    "labeling.ml.logistic.FastLogisticRegression",
                    "labeling.ml.scope.ScopedClassifier")
MOVED_MODULES = {"labeling.calibration": "labeling.ml.calibration"}
"""Old module path -> new, for our types in files written before the labeling sub-packages."""
SCHEMA_FILE = "schema.json"


def _skops_io() -> ModuleType:
    """``skops.io``, imported on first use: importing it lists every scikit-learn estimator,
    1-2 s of CPU that a process which never writes or reads a model file should not pay."""
    from skops import io as skops_io

    return skops_io


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
        _skops_io().dump(model, temporary, compression=zipfile.ZIP_DEFLATED, compresslevel=6)
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return file_sha256(path)


def save_content_addressed(model: Any, folder: Path) -> tuple[Path, str]:
    """Write ``model`` into ``folder`` under its own SHA-256 (``<sha256>.skops``); return the
    path and the hash. Two writers never overwrite each other's model: the same bytes land on
    the same name, different bytes on different names. Written before any row points at it."""
    folder.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, suffix=".tmp")
    os.close(handle)
    try:
        _skops_io().dump(model, temporary, compression=zipfile.ZIP_DEFLATED, compresslevel=6)
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        digest = file_sha256(Path(temporary))
        path = folder / f"{digest}.skops"
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path, digest


def stored_path(path: Path) -> str:
    """How a model file's path is stored: relative to the data folder when it lies inside it
    (so instances that mount the folder elsewhere load it), absolute otherwise."""
    path = path.resolve()
    try:
        return path.relative_to(Settings().data_dir.resolve()).as_posix()
    except ValueError:
        return str(path)


def resolved_path(stored: Path | str) -> Path:
    """A stored model path on this instance: relative ones are inside its data folder."""
    path = Path(stored)
    return path if path.is_absolute() else Settings().data_dir / path


def _moved(node: Any) -> Any:
    """The schema tree with every moved module path replaced by its new one."""
    if isinstance(node, dict):
        out = {key: _moved(value) for key, value in node.items()}
        if out.get("__module__") in MOVED_MODULES:
            out["__module__"] = MOVED_MODULES[out["__module__"]]
        return out
    if isinstance(node, list):
        return [_moved(value) for value in node]
    return node


def with_moved_modules(data: bytes) -> bytes:
    """A skops file's bytes with ``MOVED_MODULES`` applied to its schema (unchanged if none
    applies)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        schema = json.loads(archive.read(SCHEMA_FILE))
        moved = _moved(schema)
        if moved == schema:
            return data
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as rewritten:
            for info in archive.infolist():
                content = (json.dumps(moved).encode() if info.filename == SCHEMA_FILE
                           else archive.read(info.filename))
                rewritten.writestr(info, content)
    return out.getvalue()


def load_model(path: Path | str, *, expected_sha256: str) -> Any:
    """Load a model file (a stored path: relative ones are in the data folder) after checking
    its hash and the types it would build."""
    path = resolved_path(path)
    if not path.is_file():
        raise ModelFileError(f"model file missing: {path}")
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha256:
        raise ModelFileError(
            f"model file {path.name} was changed after it was registered "
            f"(sha256 {actual[:12]}… ≠ {expected_sha256[:12]}…); refusing to load it"
        )
    try:
        data = with_moved_modules(data)
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ModelFileError(f"model file {path.name} is not a skops file ({exc})") from None
    skops_io = _skops_io()
    untrusted = skops_io.get_untrusted_types(data=data)
    unexpected = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
    if unexpected:
        raise ModelFileError(f"model file {path.name} holds unexpected types: {unexpected[:5]}")
    return skops_io.loads(data, trusted=untrusted)


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
