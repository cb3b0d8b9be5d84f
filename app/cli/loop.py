"""Loop commands: task settings, guidelines and gold; retrain; simulate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.cli import common
from app.components.simulation_charts import write_outputs
from labeling.dataio.tabular import read_labeled_file
from labeling.exceptions import LabelingError
from labeling.lifecycle.training import retrain as retrain_task
from labeling.ml.simulation import simulate as run
from labeling.ml.simulation import summarise
from labeling.project import tasks as task_service
from labeling.project.vectors import embed

SHOWN_FIELDS = ("name", "kind", "labels", "ordered", "oos_label", "overlap_k", "gold_share",
                "lease_seconds", "strategy", "batch_size", "show_suggestions",
                "agreement_threshold", "confidence_threshold", "aggregation", "text_features",
                "safe_label", "collect_preview_prompts", "gold_accuracy_threshold",
                "min_gold_answers", "self_training", "guideline_version")


def task_show(name: str) -> None:
    """Show a task's labels, queue settings and current guideline version."""
    task = task_service.task_info(engine=common.engine(), actor=common.operator(), name=name)
    for key in SHOWN_FIELDS:
        typer.echo(f"{key}\t{getattr(task, key)}")


def task_set(
    name: str,
    overlap_k: Annotated[int | None, typer.Option(help="distinct raters per item")] = None,
    gold_share: Annotated[float | None, typer.Option(help="share of gold items, 0-0.5")] = None,
    lease_seconds: Annotated[int | None, typer.Option(help="how long an item is held")] = None,
    strategy: Annotated[str | None, typer.Option(help="query strategy")] = None,
    batch_size: Annotated[int | None, typer.Option(help="items selected per batch")] = None,
    aggregation: Annotated[str | None, typer.Option(help="majority or dawid_skene")] = None,
    agreement_threshold: Annotated[
        float | None, typer.Option(help="below it an item goes to adjudication")] = None,
    confidence_threshold: Annotated[
        float | None, typer.Option(help="below it an item goes to adjudication")] = None,
    gold_accuracy_threshold: Annotated[
        float | None, typer.Option(help="a rater judged on gold is flagged below it, 0-1")
    ] = None,
    min_gold_answers: Annotated[
        int | None, typer.Option(help="gold answers a rater gives before being judged on gold")
    ] = None,
    suggestions: Annotated[
        bool | None, typer.Option("--suggestions/--no-suggestions",
                                  help="show raters the model's suggestion")
    ] = None,
    text_features: Annotated[
        bool | None, typer.Option("--text-features/--no-text-features",
                                  help="train on character and word n-grams too")
    ] = None,
    collect_preview: Annotated[
        bool | None, typer.Option("--collect-preview/--no-collect-preview",
                                  help="preview prompts join this task's pool")
    ] = None,
    self_training: Annotated[
        bool | None, typer.Option("--self-training/--no-self-training",
                                  help="retraining adds pseudo-labels of unlabeled items")
    ] = None,
) -> None:
    """Change a task's queue, consensus and gold settings."""
    changes = {
        "overlap_k": overlap_k, "gold_share": gold_share, "lease_seconds": lease_seconds,
        "strategy": strategy, "batch_size": batch_size, "show_suggestions": suggestions,
        "aggregation": aggregation, "agreement_threshold": agreement_threshold,
        "confidence_threshold": confidence_threshold, "text_features": text_features,
        "collect_preview_prompts": collect_preview, "self_training": self_training,
        "gold_accuracy_threshold": gold_accuracy_threshold, "min_gold_answers": min_gold_answers,
    }
    changes = {k: v for k, v in changes.items() if v is not None}
    if not changes:
        raise LabelingError("nothing to change: give at least one option (see --help)")
    task_service.update_settings(engine=common.engine(), task_name=name, changes=changes,
                                 actor=common.operator())
    typer.echo(f"{name}: " + ", ".join(f"{k}={v}" for k, v in changes.items()))


def task_guideline(
    name: str,
    file: Annotated[Path, typer.Option("--file", help="Markdown file with the new guideline")],
) -> None:
    """Save a new guideline version (labels keep the version they were made under)."""
    if not file.is_file():
        raise LabelingError(f"guideline file not found: {file}")
    text = file.read_text(encoding="utf-8")
    version = task_service.save_guideline(engine=common.engine(), task_name=name, text=text,
                                          actor=common.operator())
    typer.echo(f"{name}: guideline version {version}")


def retrain(
    task: Annotated[str, typer.Option(help="the task to retrain")],
    encoder: common.EncoderOption = None,
) -> None:
    """Retrain the task's classifier on its settled labels; the queue then uses it."""
    settings = common.settings()
    result = retrain_task(engine=common.engine(), task_name=task,
                          encoder=common.encoder(encoder), models_dir=settings.models_dir,
                          actor=common.operator())
    typer.echo(f"{task}: model v{result.version} trained on {result.n_train} labels "
               f"({len(result.classes)} classes) in {result.seconds:.1f} s; "
               + ("serving" if result.serving else
                  f"promote it with `workbench models promote --task {task}`"))


def _int_list(value: str, option: str) -> list[int]:
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise LabelingError(f"{option} takes whole numbers separated by commas") from None


def simulate(
    data: Annotated[Path, typer.Option(help="labeled pool file (JSONL or CSV)")],
    test: Annotated[Path, typer.Option(help="labeled test file")],
    strategy: Annotated[str, typer.Option(help="strategies, comma-separated")] = "margin",
    baseline: Annotated[str, typer.Option(help="the baseline strategy")] = "random",
    seed_size: Annotated[int, typer.Option(help="random seed labels")] = 150,
    batch: Annotated[int, typer.Option(help="labels per round")] = 150,
    budgets: Annotated[str, typer.Option(help="label budgets, comma-separated")] = "600,1500",
    seeds: Annotated[str, typer.Option(help="random seeds, comma-separated")] = "0,1,2",
    out: Annotated[Path, typer.Option(help="folder for the CSVs and the chart")] = Path("sim"),
    text_col: Annotated[str, typer.Option(help="text column")] = "text",
    label_col: Annotated[str, typer.Option(help="label column")] = "label",
    encoder: common.EncoderOption = None,
    self_training: Annotated[bool, typer.Option(
        "--self-training", help="train as a task with self-training on")] = False,
) -> None:
    """Replay active learning on a labeled file and write each strategy's learning curve."""
    pool_texts, pool_labels = read_labeled_file(data, text_col=text_col, label_col=label_col)
    test_texts, test_labels = read_labeled_file(test, text_col=text_col, label_col=label_col)
    chosen_encoder = common.encoder(encoder)
    # files need no database; where the workbench's is set up, it keeps the vectors for reruns
    engine = common.existing_engine()
    if engine is None:
        X_pool = chosen_encoder.encode(pool_texts, progress=common.progress("embedding"))
        X_test = chosen_encoder.encode(test_texts)
    else:
        X_pool = embed(engine=engine, actor=common.operator(), encoder=chosen_encoder,
                       texts=pool_texts, progress=common.progress("embedding"))
        X_test = embed(engine=engine, actor=common.operator(), encoder=chosen_encoder,
                       texts=test_texts)
    strategies = list(dict.fromkeys([*strategy.split(","), baseline]))
    runs = run(X_pool=X_pool, y_pool=pool_labels, X_test=X_test, y_test=test_labels,
               strategies=[s.strip() for s in strategies if s.strip()], seed_size=seed_size,
               batch=batch, budgets=_int_list(budgets, "--budgets"),
               seeds=_int_list(seeds, "--seeds"), self_training=self_training)
    paths = write_outputs(runs, out)
    typer.echo(summarise(runs).to_string(index=False))
    typer.echo("wrote " + ", ".join(str(p) for p in paths.values()), err=True)


def register(app: typer.Typer, task_app: typer.Typer) -> None:
    task_app.command("show")(common.friendly(task_show))
    task_app.command("set")(common.friendly(task_set))
    task_app.command("guideline")(common.friendly(task_guideline))
    app.command()(common.friendly(retrain))
    app.command()(common.friendly(simulate))
