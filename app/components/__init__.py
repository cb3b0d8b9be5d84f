"""Reusable UI parts: chart builders and widgets."""
