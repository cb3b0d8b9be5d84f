"""The installation's secret key, kept outside the database: ``<data dir>/secret.key``.

``workbench init`` writes a random key there when none is configured, readable and writable by
its owner only (0600). Settings read it when ``WORKBENCH_SECRET_KEY`` is not set. There is no
fixed default: without a key, whatever needs one (pseudonymising end-user ids) is refused.
"""

from __future__ import annotations

import os
import secrets
import stat
import tempfile
from pathlib import Path

SECRET_FILE = "secret.key"
MIN_SECRET_CHARS = 16
_GENERATED_BYTES = 32
_HOW = ("run `workbench init` to create one, or set WORKBENCH_SECRET_KEY "
        "(for example: python -c 'import secrets; print(secrets.token_hex(32))')")


class SecretKeyError(ValueError):
    """No usable secret key: missing, too short, or readable by others."""


def check_secret(secret: str, *, origin: str) -> str:
    """``secret`` if it is long enough; ``origin`` names where it came from in the error."""
    if len(secret) < MIN_SECRET_CHARS:
        raise SecretKeyError(f"the secret key in {origin} is too short ({len(secret)} "
                             f"characters; at least {MIN_SECRET_CHARS}): {_HOW}")
    return secret


def read_secret_file(path: Path) -> str | None:
    """The key stored at ``path``, or ``None`` when there is no file.

    A file that others can read or write is refused (as ssh refuses such a key): the pseudonyms
    it keys could be reversed by anyone who reads it.
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    if os.name == "posix" and stat.S_IMODE(mode) & 0o077:
        raise SecretKeyError(f"{path} can be read or written by others "
                             f"(mode {stat.S_IMODE(mode):o}); run: chmod 600 {path}")
    return check_secret(path.read_text(encoding="utf-8").strip(), origin=str(path))


def resolve_secret(configured: str | None, path: Path) -> str:
    """The configured key (``WORKBENCH_SECRET_KEY``) if set, else the one in ``path``."""
    if configured:
        return check_secret(configured, origin="WORKBENCH_SECRET_KEY")
    stored = read_secret_file(path)
    if stored is None:
        raise SecretKeyError(f"no secret key: {path} does not exist; {_HOW}")
    return stored


def ensure_secret_file(path: Path) -> bool:
    """Write a new random key to ``path`` (mode 0600) unless one is there; ``True`` if written.

    An existing key is never replaced: the stored pseudonyms depend on it. The key is written to
    a private temporary file and linked into place, so a reader never sees half a key and two
    concurrent runs cannot both win.
    """
    if read_secret_file(path) is not None:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret-", text=True)
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_hex(_GENERATED_BYTES) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            read_secret_file(path)  # another run wrote it first: keep theirs if it is usable
            return False
    finally:
        os.unlink(temporary)
    return True
