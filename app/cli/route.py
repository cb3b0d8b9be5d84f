"""``workbench route``: what the served models make of a prompt, and the playlist."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from app.cli import common
from labeling.exceptions import LabelingError
from routing.context import context_from_pairs
from routing.ranker import CONFIGS
from routing.router import RouteResult
from routing.serving import ROUTERS


def route(
    prompt: Annotated[str | None, typer.Argument(help="the prompt (or use --file)")] = None,
    file: Annotated[Path | None, typer.Option(
        "--file", help="a text file of prompts, one a line; answers come in the same order")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per prompt")] = False,
    context: Annotated[list[str] | None, typer.Option(
        "--context", help="KEY=VALUE, repeatable: time_of_day=morning, device=phone, "
        "skipped_artists=A|B, saved_tracks=ID|ID, liked_tracks=ID")] = None,
    config: Annotated[str | None, typer.Option(
        help=f"ranker configuration: {', '.join(CONFIGS)} (default: by intent)")] = None,
    intent_version: Annotated[int | None, typer.Option(
        help="route with this intent model version instead of the serving one")] = None,
    encoder: common.EncoderOption = None,
) -> None:
    """Route prompts through the safety gate, the intent model, the slot lexicon and the ranker.

    Blocked and out-of-scope prompts get their fallback answers, never an error."""
    if (prompt is None) == (file is None):
        raise LabelingError("give one prompt or --file, not both and not neither")
    if config is not None and config not in CONFIGS:
        raise LabelingError(f"unknown ranker configuration {config!r}; one of "
                            f"{', '.join(CONFIGS)}")
    prompts = [prompt] if prompt is not None else _read_prompts(file)
    ctx = context_from_pairs(context or [])
    router = ROUTERS.current(engine=common.engine(), encoder=common.encoder(encoder),
                             actor=common.operator(), intent_version=intent_version)
    chosen = CONFIGS[config] if config else None
    for text in prompts:
        result = router.route(text, context=ctx, config=chosen)
        if as_json:
            typer.echo(json.dumps(result.as_dict(), ensure_ascii=False, default=_plain))
        else:
            typer.echo(_describe(result))


def _read_prompts(path: Path | None) -> list[str]:
    if path is None or not path.is_file():
        raise LabelingError(f"prompt file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise LabelingError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})"
                            ) from None
    return text.splitlines()


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else str(value)


def _describe(result: RouteResult) -> str:
    d = result.decision
    lines = [f"prompt: {d.prompt}"]
    if d.intent is not None:
        alternatives = ", ".join(f"{a['intent']} {a['p']:.2f}" for a in d.alternatives)
        lines.append(f"intent: {d.intent} ({d.confidence:.2f}; then {alternatives or '-'})"
                     + (f"  abstain: {d.abstain}" if d.abstain else ""))
    safety = d.safety
    lines.append(f"safety: {safety['verdict']}"
                 + (f" ({safety['category']})" if safety.get("category") else "")
                 + (f"  pii: {', '.join(safety['pii_types'])}" if safety.get("pii_types")
                    else ""))
    if d.slots:
        lines.append("slots: " + ", ".join(
            f"{s['slot']}={s['value']}" + (f" [{s['text']}]" if s["text"] else "")
            for s in d.slots))
    if d.fallback:
        lines.append(f"fallback: {d.fallback}")
    if d.message:
        lines.append(f"message: {d.message}")
    if d.nearest:
        lines.append("nearest labeled: " + "; ".join(
            f"{n['text']} -> {n['label']}" for n in d.nearest))
    timings = ", ".join(f"{k} {v:.1f}" for k, v in d.timings_ms.items())
    lines.append(f"ms: {timings}" + ("  (cached)" if d.cached else ""))
    if result.tracks:
        minutes = result.ranker["total_ms"] / 60_000
        lines.append(f"playlist ({result.ranker['name']} v{result.ranker['version']}, "
                     f"{len(result.tracks)} tracks, {minutes:.0f} min):")
        for t in result.tracks:
            flag = " [E]" if t["explicit"] else ""
            lines.append(f"{t['position']:>3}. {t['artist']} - {t['title']} ({t['year']}, "
                         f"{t['genre']}){flag}  {t['reason']}")
    return "\n".join(lines) + "\n"


def register(app: typer.Typer) -> None:
    app.command()(common.friendly(route))
