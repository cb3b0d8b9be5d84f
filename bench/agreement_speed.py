"""Agreement speed and correctness: the whole agreement report on 100,000 ratings, and ConvAbuse.

    python -m bench.agreement_speed [--ratings 100000] [--repeats 3]

Speed: a synthetic table of 100,000 ratings (30,000 items, 40 raters, 2-5 distinct raters per
item, 6 ordered labels; 4 noisy raters answer at random 60% of the time, the others 15%).
Timed: ``agreement_report`` (Cohen per pair, Fleiss, alpha nominal and ordinal, per-item and
per-rater figures, majority vote and Dawid-Skene), wall-clock, median of ``--repeats`` runs
after a warm-up on a small table (which also pays the imports). Goal (issue): <= 2 s.

Correctness: ConvAbuse's long-format file (items = the (conv_id, prev_agent, prev_user, agent,
user) tuple, label = the one-hot severity, ordinal order 1, 0, -1, -2, -3) read with
``read_ratings`` and measured by ``agreement_report``, next to the reference libraries called
directly on a table built here with plain pandas: ``krippendorff.alpha``, statsmodels
``aggregate_raters`` + ``fleiss_kappa`` (each item's first two ratings in file order, the
report's method on this data) and scikit-learn ``cohen_kappa_score`` per annotator pair.
Goal: max absolute difference <= 1e-6.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from pathlib import Path

import krippendorff
import numpy as np
import pandas as pd
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

from labeling.dataio.ratings_io import read_ratings
from labeling.metrics.aggregation import get_aggregator
from labeling.metrics.agreement import agreement_report

GOAL_SECONDS = 2.0
GOAL_DIFF = 1e-6
N_ITEMS, N_RATERS, N_LABELS, N_NOISY = 30_000, 40, 6, 4
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared/data"
CONVABUSE = SHARED_DATA / "convabuse/ConvAbuseEMNLPfull.csv"
ITEM_COLS = ["conv_id", "prev_agent", "prev_user", "agent", "user"]
SEVERITY = ["1", "0", "-1", "-2", "-3"]


def synthetic_ratings(
    n_ratings: int, *, n_items: int = N_ITEMS, rng: np.random.Generator,
) -> pd.DataFrame:
    """``n_ratings`` rows over ``n_items`` items with a planted truth and a few noisy raters.

    ``n_ratings`` must lie between 2 and 5 ratings per item on average.
    """
    per_item = rng.integers(2, 6, n_items)
    excess = int(per_item.sum()) - n_ratings
    if excess > 0:  # trim random items (never below two ratings) to hit the exact count
        shrinkable = np.flatnonzero(per_item > 2)
        per_item[rng.choice(shrinkable, size=excess, replace=False)] -= 1
    item = np.repeat(np.arange(n_items), per_item)
    keys = rng.random((n_items, N_RATERS)).argsort(axis=1)  # distinct raters per item
    rater = keys[item, np.arange(len(item)) - np.repeat(np.cumsum(per_item) - per_item, per_item)]
    truth = rng.integers(0, N_LABELS, n_items)
    noise = rng.random(len(item)) < np.where(rater < N_NOISY, 0.6, 0.15)
    label = np.where(noise, rng.integers(0, N_LABELS, len(item)), truth[item])
    order = rng.permutation(len(item))
    return pd.DataFrame({
        "item": [f"item-{i:05d}" for i in item[order]],
        "rater": [f"rater-{r:02d}" for r in rater[order]],
        "label": [str(k) for k in label[order]],
    })


def timed(fn, repeats: int) -> float:
    """Median wall-clock seconds of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def speed_section(n_ratings: int, repeats: int) -> float:
    rng = np.random.default_rng(0)
    ratings = synthetic_ratings(n_ratings, rng=rng)
    order = [str(k) for k in range(N_LABELS)]
    agreement_report(synthetic_ratings(2_000, n_items=600, rng=rng), ordinal_order=order)  # warm
    report_s = timed(lambda: agreement_report(ratings, ordinal_order=order), repeats)
    majority_s = timed(lambda: get_aggregator("majority").aggregate(ratings), repeats)
    ds_s = timed(lambda: get_aggregator("dawid_skene").aggregate(ratings), repeats)
    report = agreement_report(ratings, ordinal_order=order)
    noisy = sorted(report["per_rater"], key=lambda r: r["dawid_skene_accuracy"])[:N_NOISY]
    print(f"== speed: {len(ratings):,} ratings, {report['n_items']:,} items, "
          f"{report['n_raters']} raters, {N_LABELS} labels (median of {repeats})")
    print(f"agreement_report (all figures + majority + Dawid-Skene): {report_s:.3f} s "
          f"(goal <= {GOAL_SECONDS} s: {'met' if report_s <= GOAL_SECONDS else 'NOT met'})")
    print(f"  majority aggregate alone: {majority_s:.3f} s; Dawid-Skene alone: {ds_s:.3f} s")
    print(f"  alpha nominal {report['krippendorff_alpha']['nominal']:.4f}, ordinal "
          f"{report['krippendorff_alpha']['ordinal']:.4f}, Fleiss {report['fleiss']['kappa']:.4f}")
    print(f"  lowest Dawid-Skene accuracy: {[r['rater'] for r in noisy]} "
          f"(planted noisy: rater-00..rater-{N_NOISY - 1:02d})")
    return report_s


def reference_convabuse(path: Path) -> dict[str, object]:
    """The figures from the reference libraries, on a table built here with plain pandas."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    onehot = raw[[f"is_abuse.{s}" for s in SEVERITY]].astype(int).to_numpy()
    assert (onehot.sum(axis=1) == 1).all()
    raw["label"] = np.array(SEVERITY)[onehot.argmax(axis=1)]
    raw["item_key"] = raw.groupby(ITEM_COLS, sort=False).ngroup()
    dedup = raw.drop_duplicates(["item_key", "annotator_id"], keep="first")
    wide = dedup.pivot(index="annotator_id", columns="item_key", values="label")
    numeric = wide.apply(pd.to_numeric).to_numpy(dtype=float)
    firsts = dedup.groupby("item_key", sort=False).head(2)
    pairs = firsts.groupby("item_key", sort=False)["label"].agg(list)
    pairs = np.array([p for p in pairs if len(p) == 2], dtype=object)
    table, _ = aggregate_raters(pairs)
    cohen = {}
    for a, b in itertools.combinations(sorted(dedup["annotator_id"].unique()), 2):
        both = dedup[dedup.annotator_id == a].merge(dedup[dedup.annotator_id == b], on="item_key")
        if len(both) >= 2:
            cohen[(a, b)] = cohen_kappa_score(both.label_x, both.label_y, labels=SEVERITY)
    return {
        "n_items": int(raw["item_key"].nunique()),
        "nominal": krippendorff.alpha(reliability_data=numeric, level_of_measurement="nominal"),
        "ordinal": krippendorff.alpha(reliability_data=numeric, level_of_measurement="ordinal",
                                      value_domain=[float(s) for s in SEVERITY]),
        "fleiss": fleiss_kappa(table, method="fleiss"),
        "cohen": cohen,
    }


def convabuse_section() -> float | None:
    if not CONVABUSE.is_file():
        print(f"== ConvAbuse: {CONVABUSE} not found, section skipped")
        return None
    ratings = read_ratings(CONVABUSE, item_col=",".join(ITEM_COLS), rater_col="annotator_id",
                           label_col="is_abuse.*")
    start = time.perf_counter()
    report = agreement_report(ratings, ordinal_order=SEVERITY)
    seconds = time.perf_counter() - start
    ref = reference_convabuse(CONVABUSE)
    ours_cohen = {(p["rater_a"], p["rater_b"]): p["kappa"] for p in report["pairwise_cohen"]
                  if p["kappa"] is not None}
    rows = [
        ("alpha nominal", report["krippendorff_alpha"]["nominal"], ref["nominal"]),
        ("alpha ordinal", report["krippendorff_alpha"]["ordinal"], ref["ordinal"]),
        ("Fleiss kappa", report["fleiss"]["kappa"], ref["fleiss"]),
    ]
    assert set(ours_cohen) == set(ref["cohen"]), "pairs with a kappa differ"
    rows += [(f"Cohen {a}/{b}", ours_cohen[(a, b)], ref["cohen"][(a, b)])
             for a, b in sorted(ref["cohen"])]
    diff = max(abs(ours - theirs) for _, ours, theirs in rows)
    print(f"== ConvAbuse: {report['n_ratings']:,} ratings after dropping "
          f"{report['duplicates_dropped']} repeats, {report['n_items']:,} items "
          f"(reference grouping: {ref['n_items']:,}), {report['n_raters']} raters; "
          f"report in {seconds:.3f} s")
    print(f"{'figure':<28}{'ours':>12}{'reference':>12}")
    for name, ours, theirs in rows[:8]:
        print(f"{name:<28}{ours:>12.6f}{theirs:>12.6f}")
    print(f"... {len(rows) - 3} Cohen pairs in all; max |ours - reference| over all "
          f"{len(rows)} figures: {diff:.2e} (goal <= {GOAL_DIFF:.0e}: "
          f"{'met' if diff <= GOAL_DIFF else 'NOT met'})")
    print(f"  majority ties {report['majority']['n_ties']}, Dawid-Skene ties "
          f"{report['dawid_skene']['n_ties']}, {report['fleiss']['method']}")
    return diff


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    speed_section(args.ratings, args.repeats)
    convabuse_section()


if __name__ == "__main__":
    main()
