"""Pure label-quality measures over ratings tables: coding, agreement, aggregation and the
rater-quality tables. No database."""
