"""Benchmarks: one script per figure the issues name."""
