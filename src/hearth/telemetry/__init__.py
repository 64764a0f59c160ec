"""Invocation records and where they go (console, later the log store and metrics)."""
