"""Code shared by the apps of this monorepo."""
