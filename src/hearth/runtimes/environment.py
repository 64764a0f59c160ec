"""The environment every Lambda runtime gives a function's process (the variables Lambda documents)."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Mapping

from hearth.model import REGION, FunctionSpec

# What an instance of a function gets from its secrets: (spec, instance id) → variables (``secrets/inject.py``);
# raises ``MissingSecret``. Runtimes call it at the instance's start, after the function's own variables.
SecretSource = Callable[[FunctionSpec, int], dict[str, str]]


def no_secrets(spec: FunctionSpec, instance_id: int) -> dict[str, str]:
    """The ``SecretSource`` of a platform without a vault."""
    return {}


def log_stream_name(spec: FunctionSpec) -> str:
    """A new instance's log stream, as Lambda names it: ``2026/11/21/[$LATEST]<32 hex>``."""
    return f"{datetime.datetime.now(datetime.UTC):%Y/%m/%d}/[{spec.version}]{uuid.uuid4().hex}"


def function_environment(spec: FunctionSpec, base: Mapping[str, str], stream: str, *,
                         provisioned: bool = False) -> dict[str, str]:
    """``base`` plus Lambda's reserved variables for an instance of ``spec``; the function's own variables are
    added by the caller, last, so that they win where Lambda lets them."""
    env = dict(base)
    env.update({
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": str(spec.code_dir),
        "_HANDLER": spec.handler,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group,
        "AWS_LAMBDA_LOG_STREAM_NAME": stream,
        "AWS_LAMBDA_INITIALIZATION_TYPE": "provisioned-concurrency" if provisioned else "on-demand",
    })
    return env
