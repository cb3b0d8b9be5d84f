"""The errors a service can raise that pages show as messages, in one place.

Services raise ``LabelingError`` (a request refused, with what to do instead) and storage's
``DatabaseError`` (the database unreachable, busy or not migrated). Pages catch
``SERVICE_ERRORS`` and show ``describe(exc)``; anything else is a bug and is not hidden.
"""

from __future__ import annotations

from app.components.untrusted import as_markdown
from labeling.exceptions import LabelingError
from storage.db import DatabaseError, DatabaseUnavailableError
from storage.secret_key import SecretKeyError

SERVICE_ERRORS: tuple[type[Exception], ...] = (LabelingError, DatabaseError, SecretKeyError)


def describe(exc: Exception, *, markdown: bool = True) -> str:
    """One line for the user: the service's own message, or that the database is busy.

    A service's message may quote what the user typed (a name, a phrase, a file's cell), so it
    comes as Markdown that shows exactly its characters (``as_markdown``), ready for
    ``st.error`` and the like; ``markdown=False`` gives the plain text, for a caller that
    escapes the whole line itself."""
    if isinstance(exc, DatabaseError):
        return "the database is busy or unreachable"
    return as_markdown(str(exc), one_line=True) if markdown else str(exc)


def unreachable(exc: Exception) -> bool:
    """Whether ``exc`` says the database could not be reached (or stayed locked): nothing was
    kept, and the same request may succeed when it is back."""
    return isinstance(exc, DatabaseUnavailableError)
