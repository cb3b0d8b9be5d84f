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

TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.")


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
