"""Hearth's Python runtime: a zygote that forks instances, and the worker loop that runs in each."""
