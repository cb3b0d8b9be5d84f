"""The scale bench (``bench.scale_postgres``) at a tiny size: it loads what it says and times
every action (PostgreSQL only: it loads through COPY)."""

import pytest

from bench.scale_postgres import run

KEYS = (
    "prompts", "labels", "load_s", "select_batch_cold_s", "select_batch_median_s",
    "select_batch_max_s", "next_item_median_s", "next_item_max_s", "upcoming_median_s",
    "quality_week_median_s", "quality_week_max_s", "quality_week_visit_median_s",
    "adjudicate_queue_median_s", "adjudicate_queue_max_s", "export_s", "export_rows",
    "export_peak_rss_delta_mib", "erasure_median_s", "erasure_max_s", "export_parquet_s",
    "export_parquet_peak_rss_delta_mib", "export_label_studio_s",
    "export_label_studio_peak_rss_delta_mib", "consensus_refresh_s",
    "consensus_refresh_new_labels_s", "consensus_refresh_unchanged_s",
)


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_scale_bench_loads_and_times_every_action(db_url):
    figures = run(db_url, prompts=2000, labels=10_000, raters=8, repeats=2)
    assert all(figures.get(key) is not None for key in KEYS), figures
    assert figures["prompts"] == 2000
    assert figures["live_labels_miscounted"] == 0  # the bulk load counted item.live_labels
    assert figures["select_strategy"] == "margin"
    # Every label loaded, plus the ones the timed raters submitted, less the erased ones.
    assert figures["export_rows"] == figures["labels"] + figures["submitted"]
    assert figures["export_parquet_rows"] == figures["export_label_studio_rows"] == figures[
        "export_rows"]
    assert figures["adjudicate_cases"] > 0 and figures["erasure_rows_median"] > 0
