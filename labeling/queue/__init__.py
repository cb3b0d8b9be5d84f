"""The labeling queue as services: batch selection over the pool, leases to raters, answers
and corrections, and strategy simulation on a task's own labels."""
