"""Quality commands: agreement on any ratings file; consensus and label errors of a task."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from app.cli import common
from labeling.dataio.ratings_io import read_ratings
from labeling.metrics.agreement import agreement_report
from labeling.review.consensus import recompute
from labeling.review.label_issues import find_suspects, send_back


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def agreement(
    data: Annotated[Path, typer.Option(help="long-format ratings: CSV, JSONL or Parquet")],
    item_col: Annotated[str, typer.Option(help="item column (several: a,b,c form a tuple)")],
    rater_col: Annotated[str, typer.Option(help="rater column")],
    label_col: Annotated[str, typer.Option(help="label column (prefix.* for one-hot columns)")],
    ordinal: Annotated[str | None, typer.Option(help="label order for ordinal alpha: a,b,c")
                       ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print everything as JSON")] = False,
) -> None:
    """Agreement (Cohen, Fleiss, Krippendorff) and aggregation (majority, Dawid-Skene)."""
    ratings = read_ratings(data, item_col=item_col, rater_col=rater_col, label_col=label_col)
    order = [v.strip() for v in ordinal.split(",")] if ordinal else None
    report = agreement_report(ratings, ordinal_order=order)
    if as_json:
        typer.echo(json.dumps(report, indent=1, default=str))
        return
    alpha = report["krippendorff_alpha"]
    fleiss = report["fleiss"]
    lines = [
        f"ratings {report['n_ratings']:,} on {report['n_items']:,} items by "
        f"{report['n_raters']} raters ({report['duplicates_dropped']} repeats dropped)",
        f"Krippendorff's alpha (nominal)  {_num(alpha['nominal'])}",
    ]
    if alpha.get("ordinal") is not None:
        lines.append(f"Krippendorff's alpha (ordinal)  {_num(alpha['ordinal'])}")
    lines.append(f"Fleiss' kappa                   {_num(fleiss['kappa'])}  ({fleiss['method']})")
    lines.append("Cohen's kappa per rater pair (shared items):")
    for pair in report["pairwise_cohen"]:
        lines.append(f"  {pair['rater_a']} – {pair['rater_b']}: {_num(pair['kappa'])} "
                     f"({pair['n_shared']})")
    lines.append(f"majority ties: {report['majority']['n_ties']}; Dawid-Skene consensus for "
                 f"{len(report['dawid_skene']['consensus']):,} items (--json lists them)")
    typer.echo("\n".join(lines))


def consensus(task: Annotated[str, typer.Option(help="the task")]) -> None:
    """Recompute a task's consensus; report settled, to adjudicate and pending items."""
    summary = recompute(engine=common.engine(), actor=common.operator(), task_name=task)
    typer.echo(f"{task} ({summary.method}): {summary.settled} settled, "
               f"{summary.needs_adjudication} to adjudicate ({summary.ties} ties), "
               f"{summary.pending} waiting for raters")


def label_issues(
    task: Annotated[str, typer.Option(help="the task")],
    send: Annotated[bool, typer.Option("--send-back", help="return them to the queue")] = False,
    encoder: common.EncoderOption = None,
) -> None:
    """Find settled labels that are likely wrong (cleanlab); optionally send them back."""
    actor = common.operator()
    suspects = find_suspects(engine=common.engine(), actor=actor, task_name=task,
                             encoder=common.encoder(encoder))
    for s in suspects:
        typer.echo(f"{s.item_id}\t{s.label} → {s.suggested}\t{s.label_quality:.3f}\t{s.text}")
    if send:
        count = send_back(engine=common.engine(), actor=actor, task_name=task,
                          suspects=suspects)
        typer.echo(f"{count} item(s) sent back for relabeling", err=True)
    else:
        typer.echo(f"{len(suspects)} likely label error(s); --send-back returns them to the "
                   "queue", err=True)


def register(app: typer.Typer) -> None:
    app.command()(common.friendly(agreement))
    app.command()(common.friendly(consensus))
    app.command("label-issues")(common.friendly(label_issues))
