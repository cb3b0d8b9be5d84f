"""Scale on PostgreSQL (issue 14): a task of 1,000,000 prompts and 5,000,000 labels, and the time
of what a user does on it.

    python -m bench.scale_postgres --db URL [--prompts 1000000] [--labels 5000000] [--raters 50]
                                   [--repeats 5] [--keep]

``--db`` is an empty PostgreSQL database; it is migrated and filled by the database itself (COPY
from an in-memory stream, INSERT ... SELECT): the demo's ``intent`` task (its labels, slots and
guideline; overlap k, batches of 20, margin selection, 5% gold), ``--raters`` rater accounts, a
reviewer, a lead; the prompts with their stored 384-d vectors (random, clustered by the prompt's
true intent, under ``hashing-ngrams-384``); a tenth of them carrying an end user's pseudonym
(about twenty prompts per end user); per prompt 0 to k live rater labels (k = twice the labels
per prompt, so about half the rated prompts are below k and the pool stays large), from distinct
raters, 3% unsure, 2% correcting an older label of theirs, one prompt in ten hard (raters
disagree half the time), spread over two years; their assignments, the (retired) batches they
came from, and the consensus the product would compute. A first model is trained by
``retrain`` on the first 2,000 prompts before the rest are loaded, so selection runs the margin
strategy with a serving model. Then ANALYZE.

Then it times the service functions a user's action calls (median and worst of ``--repeats``):
``next_item`` and ``upcoming`` for raters (with ``submit`` between), ``select_batch`` (the first
one loads the task's vectors into memory and scores every item under the serving model; later
ones walk those kept scores: reported apart as ``select_batch_cold_s``), the Label
quality page's ``quality_report`` for one week (alone, and as a visit runs it: with the
consensus refresh beside its reads, here with nothing new; the refresh is also timed alone), the
Adjudicate page's ``adjudication.cases``, ``export_task`` of every label as CSV, Parquet and
Label Studio JSON, each in a process of its own (its peak resident memory above what it held
before the export, sampled every 10 ms), ``erase_end_user``, and the consensus refresh
(``recompute``) of the whole task, after the raters' labels, and with nothing new. It prints
each figure as it comes and one JSON line at the end; without ``--keep`` the database is emptied
afterwards. ``run`` is the
same as a function (the test suite runs a tiny version).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import Engine

from labeling.lifecycle.training import retrain
from labeling.ml.encoders import HashingEncoder, text_hash
from labeling.privacy.erasure import erase_end_user
from labeling.project.accounts import create_account
from labeling.project.authz import ActingAccount, Operator
from labeling.project.demo import intent_demo_task
from labeling.project.exporting import export_task
from labeling.project.items import pseudonymise
from labeling.project.tasks import create_task, update_settings
from labeling.queue import assignments as queue
from labeling.queue.batches import select_batch
from labeling.review import adjudication
from labeling.review.consensus import recompute
from labeling.review.quality import quality_report
from storage.db import make_engine, migrate

OPERATOR = Operator("cli:bench")
PASSWORD = "scale-bench-password"
KEY = "scale-bench-secret-key"
DIM = 384
SEED_ITEMS = 2000
DAYS = 728
END_USER_SHARE = 10
"""One prompt in this many carries an end user's pseudonym."""
PROMPTS_PER_END_USER = 20
WORDS = ("chill", "upbeat", "quiet", "loud", "late night", "sunday", "rainy", "summer",
         "old school", "fresh", "dreamy", "heavy")
HASH = "((({col}) * 2654435761::bigint) %% 4294967296)"


def overlap_for(prompts: int, labels: int, raters: int) -> int:
    """k so that 0..k labels per prompt average ``labels / prompts`` (at most one per rater)."""
    return max(2, min(20, raters, round(2 * labels / max(prompts, 1))))


# --- loading ------------------------------------------------------------------------------


def _setup(engine: Engine, *, raters: int, k: int) -> dict[str, Any]:
    """The task (the demo's intent task under the name ``intent``) and the accounts."""
    migrate(engine)
    spec = intent_demo_task().spec
    create_task(engine=engine, name=spec["name"], kind=spec["kind"], labels=spec["labels"],
                guideline=spec["guideline"], oos_label=spec.get("oos_label"),
                slot_schema=spec.get("slots"), actor=OPERATOR)
    update_settings(engine=engine, task_name=spec["name"], actor=OPERATOR, changes={
        "batch_size": 20, "overlap_k": k, "gold_share": 0.05, "strategy": "margin"})
    ids = [create_account(engine=engine, username=f"rater{i}", password=PASSWORD,
                          role="rater", actor=OPERATOR).id for i in range(raters)]
    reviewer = create_account(engine=engine, username="reviewer", password=PASSWORD,
                              role="reviewer", actor=OPERATOR).id
    with engine.connect() as connection:
        task_id = connection.execute(text("SELECT id FROM task WHERE name = :n"),
                                     {"n": spec["name"]}).scalar_one()
    return {"task": spec["name"], "task_id": task_id, "labels": spec["labels"], "raters": ids,
            "reviewer": reviewer}


def prompt_text(i: int, labels: list[str]) -> str:
    truth = labels[i % len(labels)].replace("_", " ")
    return f"{WORDS[(i * 7) % len(WORDS)]} {truth} songs, request {i}"


def end_user(i: int, prompts: int) -> str | None:
    """The end user behind prompt ``i`` (one in ``END_USER_SHARE``), else ``None``."""
    if i % END_USER_SHARE:
        return None
    users = max(1, prompts // (END_USER_SHARE * PROMPTS_PER_END_USER))
    return f"user{(i // END_USER_SHARE) % users}"


def _copy_items(engine: Engine, *, info: dict[str, Any], first: int, last: int,
                start: datetime, n_total: int) -> None:
    """Prompts ``first..last`` (their ids) and their vectors, by COPY."""
    labels, task_id = info["labels"], info["task_id"]
    rng = np.random.default_rng(first)
    centroids = np.random.default_rng(0).normal(size=(len(labels), DIM)).astype(np.float32)
    pseudonyms: dict[str, str] = {}
    model = HashingEncoder(dim=DIM).name
    raw = engine.raw_connection()
    try:
        with raw.driver_connection.cursor() as cursor:
            for lo in range(first, last + 1, 50_000):
                ids = range(lo, min(last, lo + 49_999) + 1)
                texts = [prompt_text(i, labels) for i in ids]
                truth = np.fromiter((i % len(labels) for i in ids), dtype=np.int64)
                vectors = centroids[truth] + rng.normal(scale=1.5, size=(len(ids), DIM))
                vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(
                    np.float32)
                hashes = [text_hash(t) for t in texts]
                with cursor.copy("COPY item (id, task_id, text, text_hash, source, end_user_id, "
                                 "opted_out, gold_label, extra_raters, created_at) FROM STDIN"
                                 ) as copy:
                    for i, t, h in zip(ids, texts, hashes, strict=True):
                        user = end_user(i, n_total)
                        if user is not None and user not in pseudonyms:
                            pseudonyms[user] = pseudonymise(user, key=KEY)
                        copy.write_row((
                            i, task_id, t, h, "import:scale.jsonl",
                            pseudonyms[user] if user else None, False,
                            labels[i % len(labels)] if i % 1000 == 7 else None, 0,
                            start + timedelta(days=DAYS * (i - 1) / n_total)))
                with cursor.copy("COPY embedding (text_hash, model_name, dim, vector) "
                                 "FROM STDIN") as copy:
                    for h, v in zip(hashes, vectors, strict=True):
                        copy.write_row((h, model, DIM, v.tobytes()))
            cursor.execute("SELECT setval('item_id_seq', (SELECT max(id) FROM item))")
        raw.driver_connection.commit()
    finally:
        raw.close()


LABELS_SQL = f"""
INSERT INTO label (task_id, item_id, rater_id, value, slots, unsure, source, shown_at,
                   submitted_at, seconds, guideline_version, strategy, batch_id, is_gold,
                   superseded)
SELECT i.task_id, i.id, (%(raters)s::int[])[1 + (i.id + j) %% %(n_raters)s],
       CASE WHEN h.u %% 100 < 3 THEN '?'
            WHEN h.u %% 100 < CASE WHEN {HASH.format(col="i.id")} %% 10 = 0 THEN 53 ELSE 13 END
                 THEN (%(labels)s::text[])[1 + (i.id + j + 1) %% %(n_labels)s]
            ELSE (%(labels)s::text[])[1 + i.id %% %(n_labels)s] END,
       '{{}}'::json, h.u %% 100 < 3, 'rater',
       i.created_at + j * interval '1 hour' - (2 + h.u %% 9) * interval '1 second',
       i.created_at + j * interval '1 hour', 2 + h.u %% 9, 1, 'margin',
       'scale-' || (i.id / 20), i.gold_label IS NOT NULL, false
FROM item i
CROSS JOIN LATERAL generate_series(0, {HASH.format(col="i.id")} %% (%(k)s + 1) - 1) AS j
CROSS JOIN LATERAL (SELECT {HASH.format(col="i.id * 31 + j")} AS u) AS h
WHERE i.task_id = %(task_id)s AND i.id BETWEEN %(first)s AND %(last)s
ORDER BY i.id, j
"""

CORRECTIONS_SQL = """
INSERT INTO label (task_id, item_id, rater_id, value, slots, unsure, source, shown_at,
                   submitted_at, seconds, guideline_version, strategy, batch_id, is_gold,
                   superseded)
SELECT task_id, item_id, rater_id,
       (%(labels)s::text[])[1 + (item_id + 3) %% %(n_labels)s], slots, false, source,
       shown_at - interval '1 minute', submitted_at - interval '1 minute', seconds,
       guideline_version, strategy, batch_id, is_gold, true
FROM label
WHERE task_id = %(task_id)s AND item_id BETWEEN %(first)s AND %(last)s AND NOT unsure
  AND (id * 7) %% 50 = 3
"""

LINK_CORRECTIONS_SQL = """
UPDATE label AS live SET corrects_label_id = old.id
FROM label AS old
WHERE old.superseded AND NOT live.superseded AND old.item_id = live.item_id
  AND old.rater_id = live.rater_id AND live.source = 'rater'
  AND old.item_id BETWEEN %(first)s AND %(last)s
"""

SELECTIONS_SQL = """
INSERT INTO selection (task_id, item_id, batch_id, strategy, score, active, created_at)
SELECT task_id, item_id, min(batch_id), 'margin', 0.5, false, min(shown_at)
FROM label WHERE task_id = %(task_id)s AND item_id BETWEEN %(first)s AND %(last)s
GROUP BY task_id, item_id
"""

ASSIGNMENTS_SQL = """
INSERT INTO assignment (task_id, item_id, rater_id, selection_id, status, leased_at, expires_at)
SELECT l.task_id, l.item_id, l.rater_id, s.id, 'submitted', l.shown_at,
       l.shown_at + interval '15 minutes'
FROM label l JOIN selection s ON s.item_id = l.item_id
WHERE l.task_id = %(task_id)s AND l.item_id BETWEEN %(first)s AND %(last)s
  AND l.corrects_label_id IS NULL
"""

CONSENSUS_SQL = """
INSERT INTO consensus (item_id, task_id, value, method, confidence, agreement, n_labels,
                       settled, needs_adjudication, suspect, updated_at)
SELECT item_id, task_id, CASE WHEN tie THEN NULL ELSE top END, 'majority',
       top_count::float / n, agreement, n,
       complete AND clear, complete AND NOT clear, false, now()
FROM (
  SELECT *, n >= %(k)s AS complete,
         NOT tie AND top_count::float / n >= %(confidence)s
           AND (agreement IS NULL OR agreement >= %(agreement)s) AS clear
  FROM (
    SELECT item_id, task_id, sum(c) AS n,
           (array_agg(value ORDER BY c DESC, value))[1] AS top, max(c) AS top_count,
           count(*) FILTER (WHERE c = max_c) > 1 AS tie,
           CASE WHEN sum(c) >= 2 THEN sum(c * (c - 1))::float / (sum(c) * (sum(c) - 1)) END
             AS agreement
    FROM (
      SELECT item_id, task_id, value, count(*) AS c,
             max(count(*)) OVER (PARTITION BY item_id) AS max_c
      FROM label
      WHERE task_id = %(task_id)s AND item_id BETWEEN %(first)s AND %(last)s
        AND source = 'rater' AND NOT unsure AND NOT superseded
      GROUP BY item_id, task_id, value
    ) AS per_value
    GROUP BY item_id, task_id
  ) AS per_item
) AS judged
"""


LIVE_LABELS_SQL = """
UPDATE item SET live_labels = live.n FROM (
    SELECT item_id, count(*) AS n FROM label
    WHERE source = 'rater' AND NOT unsure AND NOT superseded
      AND item_id BETWEEN %(first)s AND %(last)s
    GROUP BY item_id) AS live
WHERE item.id = live.item_id
"""


MISCOUNTED_SQL = """
SELECT count(*) FROM item LEFT JOIN (
    SELECT item_id, count(*) AS n FROM label
    WHERE source = 'rater' AND NOT unsure AND NOT superseded GROUP BY item_id) AS live
    ON live.item_id = item.id
WHERE item.live_labels <> coalesce(live.n, 0)
"""
"""Items whose stored live-label count is not their count (0 after a right load)."""


def _labels_for(engine: Engine, *, info: dict[str, Any], k: int, first: int, last: int,
                consensus: bool) -> None:
    """Labels, corrections, batches and assignments of items ``first..last`` (and their
    consensus, where ``consensus``), all in the database."""
    params = {"task_id": info["task_id"], "raters": info["raters"],
              "n_raters": len(info["raters"]), "labels": info["labels"],
              "n_labels": len(info["labels"]), "k": k, "first": first, "last": last,
              "confidence": 0.7, "agreement": 0.6}
    steps = [LABELS_SQL, CORRECTIONS_SQL, LINK_CORRECTIONS_SQL, SELECTIONS_SQL, ASSIGNMENTS_SQL]
    raw = engine.raw_connection()
    try:
        with raw.driver_connection.cursor() as cursor:
            # item.live_labels: counted once after the load instead of by the label triggers
            # row by row (millions of single-row updates), in the same transaction
            cursor.execute("ALTER TABLE label DISABLE TRIGGER USER")
            for statement in steps + ([CONSENSUS_SQL] if consensus else []):
                cursor.execute(statement, params)
            cursor.execute(LIVE_LABELS_SQL, params)
            cursor.execute("ALTER TABLE label ENABLE TRIGGER USER")
        raw.driver_connection.commit()
    finally:
        raw.close()


def _analyze(engine: Engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))


def load(engine: Engine, *, prompts: int, labels: int, raters: int, folder: Path
         ) -> dict[str, Any]:
    """Fill the empty database at ``engine``: the figures of what was loaded and how long."""
    started = time.perf_counter()
    k = overlap_for(prompts, labels, raters)
    info = _setup(engine, raters=raters, k=k)
    start = datetime.now(UTC) - timedelta(days=DAYS)
    seed = min(SEED_ITEMS, prompts)
    _copy_items(engine, info=info, first=1, last=seed, start=start, n_total=prompts)
    _labels_for(engine, info=info, k=k, first=1, last=seed, consensus=False)
    retrain(engine=engine, task_name=info["task"], encoder=HashingEncoder(dim=DIM),
            models_dir=folder / "models", actor=OPERATOR)
    if prompts > seed:
        _copy_items(engine, info=info, first=seed + 1, last=prompts, start=start,
                    n_total=prompts)
        _labels_for(engine, info=info, k=k, first=seed + 1, last=prompts, consensus=True)
    _analyze(engine)
    with engine.connect() as connection:
        counts = {name: connection.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
                  for name in ("item", "label", "embedding", "assignment", "consensus")}
        waiting = connection.execute(text(
            "SELECT count(*) FROM consensus WHERE needs_adjudication")).scalar_one()
        miscounted = connection.execute(text(MISCOUNTED_SQL)).scalar_one()
        size = connection.execute(text(
            "SELECT pg_database_size(current_database())")).scalar_one()
    return {**info, "k": k, "start": start, "counts": counts, "waiting": waiting,
            "live_labels_miscounted": miscounted,
            "database_gib": round(size / 2**30, 2),
            "load_s": round(time.perf_counter() - started, 1)}


# --- timing ------------------------------------------------------------------------------


def _times(call: Callable[[int], Any], repeats: int) -> tuple[list[float], Any]:
    """Seconds of each of ``repeats`` calls ``call(i)`` and the last result."""
    seconds, result = [], None
    for i in range(repeats):
        started = time.perf_counter()
        result = call(i)
        seconds.append(time.perf_counter() - started)
    return seconds, result


def _summary(name: str, seconds: list[float]) -> dict[str, float]:
    figures = {f"{name}_median_s": round(statistics.median(seconds), 3),
               f"{name}_max_s": round(max(seconds), 3)}
    print(f"{name}: median {figures[f'{name}_median_s']} s, "
          f"max {figures[f'{name}_max_s']} s", flush=True)
    return figures


@contextmanager
def peak_rss() -> Iterator[dict[str, int]]:
    """The process's resident memory sampled every 10 ms: ``peak`` above ``before`` (bytes)."""
    def rss() -> int:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * 4096

    found = {"before": rss(), "peak": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            found["peak"] = max(found["peak"], rss() - found["before"])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield found
    finally:
        done.set()
        sampler.join()
        found["peak"] = max(found["peak"], rss() - found["before"])


def _time_raters(engine: Engine, info: dict[str, Any], repeats: int) -> dict[str, Any]:
    """``next_item`` and ``upcoming`` as raters work: each answers the item it got."""
    encoder = HashingEncoder(dim=DIM)
    raters = [ActingAccount(r) for r in info["raters"]]
    task = info["task"]

    figures: dict[str, Any] = {}
    seconds, submits = [], []
    for i in range(repeats):
        rater = raters[i % len(raters)]
        started = time.perf_counter()
        item = queue.next_item(engine=engine, actor=rater, task_name=task, encoder=encoder)
        seconds.append(time.perf_counter() - started)
        if item is not None:
            started = time.perf_counter()
            queue.submit(engine=engine, actor=rater, assignment_id=item.assignment_id,
                         value=info["labels"][0], seconds=3.0)
            submits.append(time.perf_counter() - started)
    figures.update(_summary("next_item", seconds))
    figures.update(_summary("submit", submits or [0.0]))
    figures["submitted"] = len(submits)
    took, _ = _times(lambda i: queue.upcoming(
        engine=engine, actor=raters[(i + 7) % len(raters)], task_name=task, encoder=encoder),
        repeats)
    figures.update(_summary("upcoming", took))
    return figures


def _time_selection(engine: Engine, info: dict[str, Any], repeats: int) -> dict[str, Any]:
    encoder = HashingEncoder(dim=DIM)

    def select(_: int) -> Any:
        return select_batch(engine=engine, actor=OPERATOR, task_name=info["task"],
                            encoder=encoder)

    cold, batch = _times(select, 1)
    print(f"select_batch (cold: loads the vectors, scores every item): {cold[0]:.2f} s "
          f"({batch.strategy if batch else 'no batch'})", flush=True)
    warm, batch = _times(select, repeats)
    return {"select_batch_cold_s": round(cold[0], 2),
            "select_strategy": batch.strategy if batch else None,
            **_summary("select_batch", warm)}


def _time_quality(engine: Engine, info: dict[str, Any], repeats: int) -> dict[str, Any]:
    end = (datetime.now(UTC) - timedelta(days=8)).date()
    start = end - timedelta(days=6)
    took, report = _times(lambda _: quality_report(
        engine=engine, actor=OPERATOR, task_name=info["task"], start=start, end=end,
        refresh=False), repeats)
    # a page visit also brings the consensus up to date (here with nothing new), beside the
    # report's reads
    visits, _ = _times(lambda _: quality_report(
        engine=engine, actor=OPERATOR, task_name=info["task"], start=start, end=end,
        refresh=True), repeats)
    return {**_summary("quality_week", took), **_summary("quality_week_visit", visits),
            "quality_week_labels": report.n_labels}


def _time_recompute(engine: Engine, info: dict[str, Any], name: str, what: str
                    ) -> dict[str, Any]:
    """The consensus refresh the Label quality and Adjudicate pages run once per visit."""
    took, _ = _times(lambda _: recompute(engine=engine, actor=OPERATOR,
                                         task_name=info["task"]), 1)
    print(f"consensus refresh ({what}): {took[0]:.2f} s", flush=True)
    return {name: round(took[0], 2)}


def _time_adjudication(engine: Engine, info: dict[str, Any], repeats: int) -> dict[str, Any]:
    reviewer = ActingAccount(info["reviewer"])
    took, cases = _times(lambda _: adjudication.cases(
        engine=engine, actor=reviewer, task_name=info["task"]), repeats)
    return {**_summary("adjudicate_queue", took), "adjudicate_cases": len(cases)}


def _export_alone(url: str, task_name: str, fmt: str, out: str) -> tuple[float, int, int, int]:
    """In a process of its own: (seconds, labels written, resident memory before the export,
    its peak above that), in bytes."""
    engine = make_engine(url)
    try:
        with peak_rss() as memory:
            started = time.perf_counter()
            rows = export_task(engine=engine, actor=OPERATOR, task_name=task_name, fmt=fmt,
                               out=Path(out))
            seconds = time.perf_counter() - started
    finally:
        engine.dispose()
    return seconds, rows, memory["before"], memory["peak"]


EXPORTS = {"csv": "export", "parquet": "export_parquet", "label-studio": "export_label_studio"}
"""Format exported: the prefix of its figures (CSV's are ``export_s`` etc.)."""


def _time_export(url: str, info: dict[str, Any], folder: Path) -> dict[str, Any]:
    """``export_task`` in each format, each in a fresh process, so its memory is the export's
    alone."""
    figures: dict[str, Any] = {}
    for fmt, prefix in EXPORTS.items():
        out = folder / f"labels.{fmt}"
        with ProcessPoolExecutor(max_workers=1,
                                 mp_context=multiprocessing.get_context("spawn")) as pool:
            seconds, rows, before, peak = pool.submit(_export_alone, url, info["task"], fmt,
                                                      str(out)).result()
        figures.update({f"{prefix}_s": round(seconds, 1), f"{prefix}_rows": rows,
                        f"{prefix}_mib": round(out.stat().st_size / 2**20, 1),
                        f"{prefix}_rss_before_mib": round(before / 2**20, 1),
                        f"{prefix}_peak_rss_delta_mib": round(peak / 2**20, 1)})
        print(f"export as {fmt}: {rows} labels in {seconds:.1f} s, peak RSS "
              f"+{figures[f'{prefix}_peak_rss_delta_mib']} MiB", flush=True)
        out.unlink()
    return figures


def _time_erasure(engine: Engine, repeats: int) -> dict[str, Any]:
    deleted: list[int] = []

    def erase(i: int) -> Any:
        summary = erase_end_user(engine=engine, end_user_id=f"user{i}", key=KEY,
                                 actor=OPERATOR)
        deleted.append(sum(summary.deleted.values()))
        return summary

    took, _ = _times(erase, repeats)
    return {**_summary("erasure", took), "erasure_rows_median": int(statistics.median(deleted))}


def run(url: str, *, prompts: int, labels: int, raters: int, repeats: int = 5,
        with_recompute: bool = True) -> dict[str, Any]:
    """Load, time each action, and return the figures (the JSON line)."""
    engine = make_engine(url)
    try:
        with tempfile.TemporaryDirectory(prefix="scale-postgres.") as folder:
            info = load(engine, prompts=prompts, labels=labels, raters=raters,
                        folder=Path(folder))
            print(f"loaded {info['counts']} in {info['load_s']} s "
                  f"({info['database_gib']} GiB)", flush=True)
            figures: dict[str, Any] = {
                "prompts": info["counts"]["item"], "labels": info["counts"]["label"],
                "raters": raters, "overlap_k": info["k"], "load_s": info["load_s"],
                "database_gib": info["database_gib"], "waiting_adjudication": info["waiting"],
                "live_labels_miscounted": info["live_labels_miscounted"]}
            figures.update(_time_selection(engine, info, repeats))
            if with_recompute:  # a first refresh (none recorded) computes the whole task
                with engine.begin() as connection:
                    connection.execute(text("DELETE FROM consensusrefresh"))
                figures.update(_time_recompute(engine, info, "consensus_refresh_s", "whole task"))
            figures.update(_time_raters(engine, info, repeats))
            if with_recompute:  # then only the items labeled since, then nothing
                figures.update(_time_recompute(engine, info, "consensus_refresh_new_labels_s",
                                               "after the raters' new labels"))
                figures.update(_time_recompute(engine, info, "consensus_refresh_unchanged_s",
                                               "nothing new"))
            figures.update(_time_quality(engine, info, repeats))
            figures.update(_time_adjudication(engine, info, repeats))
            figures.update(_time_export(url, info, Path(folder)))
            figures.update(_time_erasure(engine, min(repeats, 3)))
    finally:
        engine.dispose()
    return figures


def empty(url: str) -> None:
    """Drop every table the bench filled (the database stays, migrated anew on the next run)."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True, help="an empty PostgreSQL database's URL")
    parser.add_argument("--prompts", type=int, default=1_000_000)
    parser.add_argument("--labels", type=int, default=5_000_000)
    parser.add_argument("--raters", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-recompute", action="store_true",
                        help="skip timing the consensus refresh")
    parser.add_argument("--keep", action="store_true", help="leave the data in the database")
    args = parser.parse_args(argv)
    if not args.db.startswith("postgresql"):
        parser.error("--db must be a PostgreSQL URL")
    try:
        figures = run(args.db, prompts=args.prompts, labels=args.labels, raters=args.raters,
                      repeats=args.repeats, with_recompute=not args.no_recompute)
    finally:
        if not args.keep:
            empty(args.db)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
