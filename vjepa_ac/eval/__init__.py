"""Evaluation: the eval settings and their checks, the episode loop, the worker pool, results, tables and the trade-off."""
