"""Privacy commands (UK GDPR): an end user's data exported (right of access) or erased, and raw
prompts past the retention period deleted."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from app.cli import common
from labeling.exceptions import PrivacyError
from labeling.privacy.access import export_end_user
from labeling.privacy.erasure import erase_end_user
from labeling.privacy.opt_out import opt_in, opt_out
from labeling.privacy.retention import apply_retention

EndUserOption = Annotated[str, typer.Option(
    "--end-user", help="the end user's id as it was imported (--user-col), or account:N for a "
                       "person who used the Preview")]


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only, all at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".export-")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def export(
    end_user: EndUserOption,
    out: Annotated[Path | None, typer.Option(
        help="file to write (owner-only; default: stdout)")] = None,
) -> None:
    """Write everything held about an end user as JSON (right of access)."""
    held = export_end_user(engine=common.engine(), end_user_id=end_user,
                           key=common.settings().require_secret_key(), actor=common.operator())
    text = json.dumps(held, indent=1, ensure_ascii=False) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    _write_private(out, text)
    typer.echo(f"wrote {len(held['items'])} prompts, {len(held['flags'])} flags and "
               f"{len(held['impressions'])} impressions to {out}", err=True)


def erase(
    end_user: EndUserOption,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
) -> None:
    """Erase an end user's prompts and everything derived from them, in one transaction; the
    audit log keeps the counts under an erasure reference."""
    key = common.settings().require_secret_key()
    engine = common.engine()
    if not yes and not typer.confirm(f"Erase everything held about end user {end_user!r}? "
                                     "This cannot be undone", default=False, err=True):
        raise PrivacyError("not confirmed; nothing erased")
    summary = erase_end_user(engine=engine, end_user_id=end_user, key=key,
                             actor=common.operator())
    gone = ", ".join(f"{n} {kind}" for kind, n in summary.deleted.items() if n)
    typer.echo(f"erased: {gone}; audit reference {summary.reference}")
    if summary.models:
        typer.echo("model versions that may have been trained on erased prompts (retrain and "
                   "promote to drop them): " + ", ".join(summary.models))


def retention(
    days: Annotated[int, typer.Option(help="delete raw prompts older than this many days")],
) -> None:
    """Delete raw prompts older than --days and what derives from them; idempotent, one line
    of output, safe to run from cron."""
    summary = apply_retention(engine=common.engine(), days=days, actor=common.operator())
    typer.echo(summary.line())


def opt_out_command(end_user: EndUserOption) -> None:
    """Record that an end user opted out of human review: their prompts never enter a labeling
    pool, and those stored leave the queues. Idempotent."""
    summary = opt_out(engine=common.engine(), end_user_id=end_user,
                      key=common.settings().require_secret_key(), actor=common.operator())
    typer.echo(summary.line())


def opt_in_command(end_user: EndUserOption) -> None:
    """Lift an end user's opt-out: their stored prompts may be labeled again."""
    summary = opt_in(engine=common.engine(), end_user_id=end_user,
                     key=common.settings().require_secret_key(), actor=common.operator())
    typer.echo(summary.line())


def register(app: typer.Typer) -> None:
    privacy_app = typer.Typer(help="End users' data: export, erase, retention, opt-out.",
                              no_args_is_help=True)
    privacy_app.command("export")(common.friendly(export))
    privacy_app.command("erase")(common.friendly(erase))
    privacy_app.command("retention")(common.friendly(retention))
    privacy_app.command("opt-out")(common.friendly(opt_out_command))
    privacy_app.command("opt-in")(common.friendly(opt_in_command))
    app.add_typer(privacy_app, name="privacy")
