"""The control plane: Lambda-compatible REST endpoints and native ones."""
