"""Training commands: ``workbench train`` (calibrated model + frozen-split metrics) and
``workbench evaluate`` (the serving model on a labeled file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from app.cli import common
from labeling.lifecycle.training import evaluate_file, retrain
from labeling.queue import assignments as queue


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}"


def _oos_line(oos: dict | None) -> str:
    if not oos:
        return "out-of-scope: -"
    return (f"out-of-scope: in-scope accuracy {_fmt(oos['in_scope_accuracy'])} "
            f"(no threshold {_fmt(oos['in_scope_accuracy_no_threshold'])}), OOS recall "
            f"{_fmt(oos['oos_recall'])} at threshold {oos['threshold']:.4f} "
            f"({oos['n_in_scope']} in scope, {oos['n_oos']} out of scope)")


def _unsafe_line(unsafe: dict) -> str:
    return (f"unsafe vs safe: precision {_fmt(unsafe['precision'])}, recall "
            f"{_fmt(unsafe['recall'])}, F1 {_fmt(unsafe['f1'])} at threshold "
            f"{unsafe['threshold']:.3f} ({unsafe['support']} unsafe of {unsafe['n']})")


def train(
    task: Annotated[str, typer.Option(help="the task to train")],
    encoder: common.EncoderOption = None,
) -> None:
    """Train a calibrated classifier on the settled labels and evaluate it on the frozen split."""
    engine, chosen = common.engine(), common.encoder(encoder)
    result = retrain(engine=engine, task_name=task, encoder=chosen,
                     models_dir=common.settings().models_dir, actor=common.operator())
    m = result.metrics or {}
    typer.echo(f"{task}: model v{result.version}, n_train {result.n_train} "
               f"({len(result.classes)} classes), n_eval {result.n_eval}")
    typer.echo(f"accuracy {_fmt(m.get('accuracy'))}, macro-F1 {_fmt(m.get('macro_f1'))}, "
               f"ECE {_fmt(m.get('ece'))}, temperature "
               f"{_fmt((m.get('settings') or {}).get('temperature'))}")
    typer.echo(_oos_line(m.get("oos")))
    if m.get("unsafe"):
        typer.echo(_unsafe_line(m["unsafe"]))
    if m.get("eval_note"):
        typer.echo(f"note: {m['eval_note']}")
    typer.echo(f"trained in {result.train_seconds:.1f} s ({result.seconds:.1f} s in all); "
               + ("serving" if result.serving else
                  f"not serving: promote it with `workbench models promote --task {task}`"))
    if queue.refill(engine=engine, task_name=task, encoder=chosen, actor=common.operator()):
        typer.echo("selected the next batch to label")


def evaluate(
    task: Annotated[str, typer.Option(help="the task whose serving model to evaluate")],
    data: Annotated[Path, typer.Option(help="labeled file (JSONL or CSV)")],
    oos_label: Annotated[str | None, typer.Option(
        help="rows with this label are out of scope (default: the task's)")] = None,
    text_col: Annotated[str, typer.Option(help="text column")] = "text",
    label_col: Annotated[str, typer.Option(help="label column")] = "label",
    as_json: Annotated[bool, typer.Option("--json", help="print the full metrics as JSON")] = False,
    binary: Annotated[bool, typer.Option(
        "--binary", help="safety: the file's labels are safe / unsafe")] = False,
    encoder: common.EncoderOption = None,
) -> None:
    """Score the serving model on a labeled file: accuracy, macro-F1, ECE, out-of-scope, and
    for a safety task unsafe against safe (per category too, unless --binary)."""
    result = evaluate_file(engine=common.engine(), actor=common.operator(), task_name=task,
                           encoder=common.encoder(encoder), path=data, text_col=text_col,
                           label_col=label_col, oos_label=oos_label, binary=binary)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    if not binary:
        typer.echo(f"{task} v{result['version']} on {data}: accuracy "
                   f"{_fmt(result['accuracy'])}, macro-F1 {_fmt(result['macro_f1'])}, "
                   f"ECE {_fmt(result['ece'])}")
        typer.echo(_oos_line(result.get("oos")))
        for row in result["per_class"] if result.get("unsafe") else []:
            typer.echo(f"  {row['label']:<22} precision {_fmt(row['precision'])}  recall "
                       f"{_fmt(row['recall'])}  F1 {_fmt(row['f1'])}  ({row['support']})")
    if result.get("unsafe"):
        typer.echo(_unsafe_line(result["unsafe"]))


def register(app: typer.Typer) -> None:
    app.command()(common.friendly(train))
    app.command()(common.friendly(evaluate))
