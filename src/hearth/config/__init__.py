"""Project manifests and platform settings."""
