"""The `hearth` command."""
