"""What a secret may be called: a name an environment variable can have, which Hearth does not set itself."""

from __future__ import annotations

import re

from hearth import errors

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
# The variables Lambda and Hearth give every instance: a secret must not silently replace one.
RESERVED = frozenset({"_HANDLER", "_X_AMZN_TRACE_ID", "TZ", "PORT", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
                      "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV"})
RESERVED_PREFIXES = ("AWS_LAMBDA_", "HEARTH_")


def secret_name_problem(name: object) -> str | None:
    """Why ``name`` cannot name a secret, or None."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        shown = repr(name)[:60]
        return (f"{shown} is not a valid secret name: use 1 to 128 letters, digits and '_', not starting with a "
                "digit (it becomes an environment variable's name), e.g. DB_URL")
    if name in RESERVED or name.startswith(RESERVED_PREFIXES):
        return (f"{name} is a variable Hearth sets in every instance (reserved: {', '.join(sorted(RESERVED))} and "
                f"names starting with {' or '.join(RESERVED_PREFIXES)}); choose another name")
    return None


def check_secret_name(name: object) -> str:
    """``name`` if it can name a secret; else ``InvalidSecretName`` saying why."""
    problem = secret_name_problem(name)
    if problem is not None:
        raise errors.InvalidSecretName(problem)
    assert isinstance(name, str)
    return name
