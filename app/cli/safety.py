"""Safety commands: check prompts against the policy; edit the rule lists; set the policy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from app.cli import common
from labeling.dataio.tabular import jsonl_records
from labeling.exceptions import ImportFileError, LabelingError
from safety import policy as policy_service
from safety import rules as rule_service
from safety.policy import SafetyGate, Verdict
from safety.triage import flag_verdicts

BATCH = 256
MAX_LINE_CHARS = 10_000


def _texts_of(path: Path) -> list[str]:
    """Prompts of a text file (one a line) or a JSON-lines file (a ``text`` field a line)."""
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    try:
        content = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError(f"{path}: not UTF-8 text") from None
    if path.suffix.lower() in {".jsonl", ".ndjson"}:
        texts = []
        for number, record in jsonl_records(content, source=path):
            if not isinstance(record.get("text"), str):
                raise ImportFileError(f"{path} line {number}: no \"text\" string")
            texts.append(record["text"])
    else:
        texts = [line for line in content.splitlines() if line.strip()]
    if not texts:
        raise ImportFileError(f"{path}: no prompts in the file")
    long = [i + 1 for i, t in enumerate(texts) if len(t) > MAX_LINE_CHARS]
    if long:
        raise ImportFileError(f"{path}: prompt(s) over {MAX_LINE_CHARS:,} characters: {long[:5]}")
    return texts


def _batches(texts: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(texts), BATCH):
        yield texts[start:start + BATCH]


def _summary(verdict: Verdict) -> list[str]:
    unsafe = "-" if verdict.unsafe is None else f"{verdict.unsafe:.2f}"
    lines = [f"{verdict.verdict}\t{verdict.category or '-'}\tP(unsafe) {unsafe}\t"
             f"{json.dumps(verdict.redacted_text, ensure_ascii=False)}"]
    for hit in verdict.rule_hits:
        lines.append(f"  rule {hit['rule']} {hit['phrase']!r} (list v{hit['version']}) at "
                     f"{hit['start']}-{hit['end']}")
    top = sorted(verdict.categories.items(), key=lambda kv: -kv[1])[:3]
    if top:
        lines.append("  categories: " + ", ".join(f"{c} {p:.2f}" for c, p in top))
    if verdict.pii_types:
        lines.append("  redacted: " + ", ".join(verdict.pii_types))
    return lines


def _public(verdict: Verdict) -> dict[str, Any]:
    out = verdict.as_dict()
    out["text"] = out.pop("redacted_text")
    return out


def check(
    text: Annotated[str | None, typer.Argument(help="the prompt (or use --file)")] = None,
    file: Annotated[Path | None, typer.Option(
        help="a text file (one prompt a line) or JSONL with a text field")] = None,
    task: Annotated[str | None, typer.Option(
        help="the safety task whose model serves (default: the only one)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per prompt")] = False,
    flag: Annotated[bool, typer.Option(
        "--flag", help="send review and block verdicts to the triage queue")] = False,
    encoder: common.EncoderOption = None,
) -> None:
    """Check prompts: verdict (allow, review, block), categories, rule hits with spans, the
    redacted text (never the raw input), and the policy, rule-list and model versions."""
    if (text is None) == (file is None):
        raise LabelingError("give a prompt or --file FILE, not both")
    texts = [text] if text is not None else _texts_of(file)
    actor = common.operator()
    gate = SafetyGate.load(engine=common.engine(), encoder=common.encoder(encoder),
                           actor=actor, task_name=task)
    counts: dict[str, int] = {}
    for batch in _batches(texts):
        verdicts = gate.check_many(batch)
        if flag:
            flag_verdicts(engine=common.engine(), actor=actor, verdicts=verdicts)
        for verdict in verdicts:
            counts[verdict.verdict] = counts.get(verdict.verdict, 0) + 1
            if as_json:
                typer.echo(json.dumps(_public(verdict), ensure_ascii=False))
            else:
                typer.echo("\n".join(_summary(verdict)))
    versions = gate.versions()
    typer.echo(f"{len(texts)} prompt(s): " + ", ".join(f"{k} {v}" for k, v in
                                                      sorted(counts.items()))
               + f" (task {versions['task'] or '-'}, policy v{versions['policy'] or '-'}, "
               f"rules v{versions['rules']}, model v{versions['model'] or '-'})", err=True)


def rules_list(
    as_json: Annotated[bool, typer.Option("--json", help="print the list as JSON")] = False,
) -> None:
    """The current block and allow lists."""
    rule_set = rule_service.current_rules(engine=common.engine(), actor=common.operator())
    if as_json:
        typer.echo(json.dumps({"version": rule_set.version,
                               "rules": [r.__dict__ for r in rule_set.rules]}, indent=1))
        return
    typer.echo(f"rule list version {rule_set.version}")
    for rule in rule_set.rules:
        typer.echo(f"{rule.id}\t{rule.kind}\t{rule.category or '-'}\t{rule.phrase}")


def rules_add(
    phrase: str,
    kind: Annotated[str, typer.Option(help="block or allow")],
    category: Annotated[str | None, typer.Option(help="the category a block rule gives")] = None,
) -> None:
    """Add a phrase to the block or allow list (a new list version)."""
    version, rule = rule_service.add_rule(engine=common.engine(), kind=kind, phrase=phrase,
                                          category=category, actor=common.operator())
    typer.echo(f"added {rule.id} ({rule.kind}); rule list version {version}")


def rules_remove(rule_id: str) -> None:
    """Remove a rule by its id (a new list version)."""
    version = rule_service.remove_rule(engine=common.engine(), rule_id=rule_id,
                                       actor=common.operator())
    typer.echo(f"removed {rule_id}; rule list version {version}")


def _category_thresholds(values: list[str]) -> dict[str, float] | None:
    if not values:
        return None
    out = {}
    for value in values:
        name, _, number = value.partition("=")
        try:
            out[name.strip()] = float(number)
        except ValueError:
            raise LabelingError(f"--category takes NAME=THRESHOLD, not {value!r}") from None
    return out


def policy_show(task: Annotated[str, typer.Option(help="the safety task")]) -> None:
    """The task's policy thresholds."""
    version, settings = policy_service.policy_settings(engine=common.engine(),
                                                       actor=common.operator(), task_name=task)
    typer.echo(f"{task}: policy v{version}\t" + json.dumps(settings))


def policy_set(
    task: Annotated[str, typer.Option(help="the safety task")],
    block: Annotated[float | None, typer.Option(help="block at P(unsafe) >= this")] = None,
    review: Annotated[float | None, typer.Option(help="review at P(unsafe) >= this")] = None,
    category: Annotated[list[str] | None, typer.Option(
        help="a category's own review threshold, NAME=THRESHOLD (repeatable)")] = None,
) -> None:
    """Change the task's policy thresholds (a new policy version)."""
    version = policy_service.set_policy(engine=common.engine(), task_name=task,
                                        actor=common.operator(), block=block, review=review,
                                        categories=_category_thresholds(category or []))
    typer.echo(f"{task}: policy v{version}")


def register(app: typer.Typer) -> None:
    safety_app = typer.Typer(help="Check prompts; edit the block and allow lists; set the "
                             "policy.", no_args_is_help=True)
    rules_app = typer.Typer(help="The block and allow lists.", no_args_is_help=True)
    policy_app = typer.Typer(help="A safety task's thresholds.", no_args_is_help=True)
    safety_app.command("check")(common.friendly(check))
    rules_app.command("list")(common.friendly(rules_list))
    rules_app.command("add")(common.friendly(rules_add))
    rules_app.command("remove")(common.friendly(rules_remove))
    policy_app.command("show")(common.friendly(policy_show))
    policy_app.command("set")(common.friendly(policy_set))
    safety_app.add_typer(rules_app, name="rules")
    safety_app.add_typer(policy_app, name="policy")
    app.add_typer(safety_app, name="safety")
