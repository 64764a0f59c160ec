"""Lambda's JSON shapes: the catalog's specs rendered as API responses, and API requests parsed into specs.

Validation failures raise ``InvalidParameterValue`` with the parameter's Lambda name, as Lambda does, so boto3
raises ``InvalidParameterValueException`` with a message that says what to send instead.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hearth import errors
from hearth.model import (
    ACCOUNT_ID,
    FUNCTION_NAME,
    HTTP_RUNTIME,
    LATEST,
    MAX_EVENT_AGE_S_RANGE,
    MAX_RETRY_ATTEMPTS_RANGE,
    MEMORY_MB_RANGE,
    TIMEOUT_S_RANGE,
    AliasSpec,
    AuditEntry,
    EventInvokeConfig,
    FunctionSpec,
    HeaderRule,
    function_arn,
    handler_problem,
    parse_destination,
    runtime_family,
)
from hearth.secrets.names import secret_name_problem

MAX_ZIPPED_BYTES = 52_428_800  # Lambda's limit on a zip uploaded directly (CreateFunction, UpdateFunctionCode)
ENV_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*\Z")
ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/hearth-function"
EVENT_INVOKE_KEYS = ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")
DESTINATIONS = (("OnSuccess", "on_success"), ("OnFailure", "on_failure"))  # Lambda's key, the model's field


def code_sha256(spec: FunctionSpec) -> str:
    """Lambda's ``CodeSha256``: the base64 of the package digest."""
    return base64.b64encode(bytes.fromhex(spec.code_sha256)).decode() if spec.code_sha256 else ""


def configuration(spec: FunctionSpec, disabled: AuditEntry | None = None) -> dict[str, Any]:
    """``FunctionConfiguration`` of one version; a ``disabled`` function (billing/idle.py) is ``Inactive``, as
    Lambda shows a function it idled, with the reason."""
    timeout: float | int = int(spec.timeout_s) if float(spec.timeout_s).is_integer() else spec.timeout_s
    state: dict[str, str] = {"State": "Active"}
    if disabled is not None:
        state = {"State": "Inactive", "StateReasonCode": "Idle",
                 "StateReason": f"Disabled ({disabled.reason}): calls get FunctionDisabled; run `hearth enable "
                                f"{spec.name}` to serve it again"}
    return {
        "FunctionName": spec.name,
        "FunctionArn": spec.version_arn if spec.version != LATEST else spec.arn,
        "Runtime": spec.runtime,
        "Role": ROLE,
        "Handler": spec.handler,
        "CodeSize": spec.code_size,
        "Description": spec.description,
        "Timeout": timeout,
        "MemorySize": spec.memory_mb,
        "LastModified": spec.last_modified,
        "CodeSha256": code_sha256(spec),
        "Version": spec.version,
        "Environment": {"Variables": dict(spec.env)},
        "TracingConfig": {"Mode": "PassThrough"},
        "RevisionId": spec.revision_id,
        **state,
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": ["x86_64"],
        "EphemeralStorage": {"Size": 512},
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": spec.log_group},
        **({"DeadLetterConfig": {"TargetArn": spec.dead_letter_arn}} if spec.dead_letter_arn else {}),
        # Hearth's own field (botocore ignores it): the names of the secrets the function reads, never values.
        **({"Secrets": {"Names": list(spec.secrets), "AsFiles": spec.secrets_as_files}} if spec.secrets else {}),
    }


def alias_shape(alias: AliasSpec) -> dict[str, Any]:
    """``AliasConfiguration``; Hearth's header rules ride along as ``RoutingRules`` (botocore ignores them)."""
    shape: dict[str, Any] = {
        "AliasArn": alias.arn,
        "Name": alias.name,
        "FunctionVersion": alias.version,
        "Description": alias.description,
        "RevisionId": alias.revision_id,
    }
    if alias.weights:
        shape["RoutingConfig"] = {"AdditionalVersionWeights": dict(alias.weights)}
    if alias.rules:
        shape["RoutingRules"] = [_rule_shape(rule) for rule in alias.rules]
    return shape


def event_invoke_config_shape(config: EventInvokeConfig) -> dict[str, Any]:
    """``FunctionEventInvokeConfig``: the qualified ``FunctionArn``, and ``LastModified`` in epoch seconds (a number,
    as Lambda returns it for this API, unlike a function's text)."""
    return {
        "LastModified": epoch_seconds(config.last_modified),
        "FunctionArn": function_arn(config.function, config.qualifier),
        "MaximumRetryAttempts": config.maximum_retry_attempts,
        "MaximumEventAgeInSeconds": config.maximum_event_age_s,
        "DestinationConfig": {key: {"Destination": getattr(config, name)} if getattr(config, name) else {}
                              for key, name in DESTINATIONS},
    }


def epoch_seconds(text: str) -> float:
    """Lambda's ``LastModified`` text (``2026-11-21T10:10:10.123+0000``) as epoch seconds; 0 for none."""
    if not text:
        return 0.0
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def _rule_shape(rule: HeaderRule) -> dict[str, Any]:
    shape: dict[str, Any] = {"Header": rule.header, "FunctionVersion": rule.version}
    if rule.equals is not None:
        shape["Equals"] = rule.equals
    else:
        shape["Range"] = [rule.low, rule.high]
    return shape


# -- requests --------------------------------------------------------------------------------------------------


def decode_zip(code: Any) -> bytes:
    """``Code.ZipFile`` (base64 in the JSON body, as botocore sends a blob)."""
    if not isinstance(code, Mapping) or "ZipFile" not in code:
        unsupported = sorted(set(code) - {"ZipFile"}) if isinstance(code, Mapping) else []
        hint = (f" ({', '.join(unsupported)} is not supported: Hearth has no S3 or image registry)"
                if unsupported else "")
        raise errors.InvalidParameterValue(f"Code must contain ZipFile, the zipped package{hint}")
    try:
        data = base64.b64decode(code["ZipFile"], validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise errors.InvalidParameterValue("Code.ZipFile is not valid base64") from None
    if len(data) > MAX_ZIPPED_BYTES:
        raise errors.RequestTooLarge(f"Code.ZipFile is {len(data)} bytes zipped; a direct upload must be at most "
                                     f"{MAX_ZIPPED_BYTES} bytes (50 MB, as on Lambda): leave out what the function "
                                     "does not import, or deploy the project with `hearth deploy`")
    return data


def function_name(value: Any) -> str:
    """A function name (``name`` or ``name:qualifier``), partial ARN (``123:function:name``) or full ARN, as
    Lambda accepts them."""
    if not isinstance(value, str):
        raise errors.InvalidParameterValue("FunctionName is required")
    name = value
    if value.startswith("arn:"):
        parts = value.split(":")
        name = parts[6] if len(parts) >= 7 and parts[5] == "function" else ""
    elif ":function:" in value:
        name = value.split(":function:", 1)[1].split(":", 1)[0]
    elif value.count(":") == 1:
        name = value.split(":", 1)[0]
    if not FUNCTION_NAME.match(name):
        raise errors.InvalidParameterValue(f"FunctionName {value!r} is not valid: use 1 to 64 letters, digits, "
                                           "'-' or '_', or the function's ARN")
    return name


def qualifier_of(value: str) -> str | None:
    """The qualifier a name or ARN carries (``name:live`` or ``…:function:name:live`` → ``live``)."""
    if ":function:" in value:
        rest = value.split(":function:", 1)[1].split(":")
        return rest[1] if len(rest) > 1 else None
    if not value.startswith("arn:") and value.count(":") == 1:
        return value.split(":", 1)[1] or None
    return None


def new_function(body: Mapping[str, Any]) -> FunctionSpec:
    """The $LATEST spec a ``CreateFunction`` request describes (code fields are filled in by the caller)."""
    if body.get("PackageType", "Zip") != "Zip":
        raise errors.InvalidParameterValue("PackageType Image is not supported; upload a .zip package")
    for required in ("Runtime", "Handler"):
        if required not in body:
            raise errors.InvalidParameterValue(f"{required} is required for a .zip package")
    base = FunctionSpec(name=function_name(body.get("FunctionName")), handler="x.y", code_dir=_nowhere())
    return update_configuration(base, body)


def update_configuration(spec: FunctionSpec, body: Mapping[str, Any]) -> FunctionSpec:
    """``spec`` with the configuration fields ``body`` sets (UpdateFunctionConfiguration's shape)."""
    changes: dict[str, Any] = {}
    if "Handler" in body:
        handler = body["Handler"]
        if not isinstance(handler, str):
            raise errors.InvalidParameterValue(f"Handler {handler!r} is not valid: give a string")
        changes["handler"] = handler
    if "Runtime" in body:
        runtime = body["Runtime"]
        if not isinstance(runtime, str) or runtime_family(runtime) in (None, HTTP_RUNTIME):
            raise errors.InvalidParameterValue(f"Runtime {runtime!r} is not supported; use python3.X "
                                               "(e.g. python3.12), or provided.al2023 for any other language "
                                               "(a `bootstrap` speaking the Lambda Runtime API)")
        changes["runtime"] = runtime
    if "MemorySize" in body:
        changes["memory_mb"] = _whole(body["MemorySize"], "MemorySize", MEMORY_MB_RANGE)
    if "Timeout" in body:
        changes["timeout_s"] = float(_whole(body["Timeout"], "Timeout", TIMEOUT_S_RANGE))
    if "Description" in body:
        description = body["Description"]
        if not isinstance(description, str) or len(description) > 256:
            raise errors.InvalidParameterValue("Description must be a string of at most 256 characters")
        changes["description"] = description
    if "Environment" in body:
        environment = body["Environment"] or {}
        variables = (environment.get("Variables") or {}) if isinstance(environment, Mapping) else None
        if not isinstance(variables, Mapping) or not all(isinstance(v, str) for v in variables.values()):
            raise errors.InvalidParameterValue("Environment.Variables must map names to strings")
        bad = [name for name in variables if not ENV_NAME.match(str(name))]
        if bad:
            raise errors.InvalidParameterValue(f"Environment variable name {bad[0]!r} is not valid: start with a "
                                               "letter, then letters, digits and '_'")
        changes["env"] = dict(variables)
    if "DeadLetterConfig" in body:
        changes["dead_letter_arn"] = dead_letter_arn(body["DeadLetterConfig"])
    if "Secrets" in body:
        changes["secrets"], changes["secrets_as_files"] = secrets_config(body["Secrets"])
    updated = dataclasses.replace(spec, **changes)
    both = sorted(set(updated.secrets) & set(updated.env))
    if both:
        raise errors.InvalidParameterValue(f"{both[0]} is both an environment variable and a secret; keep it in one")
    problem = handler_problem(updated.runtime, updated.handler)
    if problem is not None:
        raise errors.InvalidParameterValue(f"Handler {updated.handler!r} is not valid for {updated.runtime}: "
                                           f"{problem}")
    return updated


def secrets_config(config: Any) -> tuple[tuple[str, ...], bool]:
    """Hearth's ``Secrets`` field, ``{"Names": ["DB_URL"], "AsFiles": false}`` (``null``: none)."""
    config = config or {}
    names = config.get("Names", []) if isinstance(config, Mapping) else None
    as_files = config.get("AsFiles", False) if isinstance(config, Mapping) else None
    if not isinstance(names, list) or not isinstance(as_files, bool):
        raise errors.InvalidParameterValue('Secrets must be {"Names": ["DB_URL", …], "AsFiles": false}')
    for name in names:
        problem = secret_name_problem(name)
        if problem is not None:
            raise errors.InvalidSecretName(problem)
    if len(set(names)) != len(names):
        raise errors.InvalidParameterValue("Secrets.Names lists a name twice")
    return tuple(names), as_files


def dead_letter_arn(config: Any) -> str | None:
    """``DeadLetterConfig.TargetArn``: a queue's ARN, or None (an empty one removes it)."""
    arn = config.get("TargetArn") if isinstance(config, Mapping) else None
    if arn in (None, ""):
        return None
    try:
        target = parse_destination(str(arn))
    except ValueError as exc:
        raise errors.InvalidParameterValue(f"DeadLetterConfig.TargetArn {arn!r} is not valid: {exc}") from None
    if target.kind != "queue":
        raise errors.InvalidParameterValue(f"DeadLetterConfig.TargetArn {arn!r} must be a queue's ARN (Hearth has "
                                           "no SNS topics)")
    return str(arn)


def _whole(value: Any, name: str, bounds: tuple[int, int]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not bounds[0] <= value <= bounds[1]:
        raise errors.InvalidParameterValue(f"{name} must be a whole number from {bounds[0]} to {bounds[1]}, "
                                           f"got {value!r}")
    return value


def alias_from(function: str, name: str, body: Mapping[str, Any], base: AliasSpec | None = None) -> AliasSpec:
    """The alias a ``CreateAlias`` / ``UpdateAlias`` request describes (update keeps what it does not set)."""
    version = body.get("FunctionVersion", base.version if base else None)
    if not isinstance(version, str) or not version:
        raise errors.InvalidParameterValue("FunctionVersion is required: a version number or $LATEST")
    weights = dict(base.weights) if base else {}
    if "RoutingConfig" in body:
        routing = body["RoutingConfig"] or {}
        raw = (routing.get("AdditionalVersionWeights") or {}) if isinstance(routing, Mapping) else None
        if not isinstance(raw, Mapping):
            raise errors.InvalidParameterValue("RoutingConfig.AdditionalVersionWeights must map a version to a "
                                               "weight")
        weights = {}
        for key, weight in raw.items():
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
                raise errors.InvalidParameterValue(f"The weight of version {key} must be a number from 0 to 1")
            weights[str(key)] = float(weight)
    description = body.get("Description", base.description if base else "")
    if not isinstance(description, str):
        raise errors.InvalidParameterValue("Description must be a string")
    return AliasSpec(function=function, name=name, version=version, weights=weights,
                     rules=base.rules if base else (), description=description)


def event_invoke_config_from(base: EventInvokeConfig, body: Mapping[str, Any]) -> EventInvokeConfig:
    """``base`` with the fields a Put/UpdateFunctionEventInvokeConfig request sets: Put passes the defaults (the
    request is the whole config), Update the stored config (the request changes only what it names; a destination
    given replaces that one destination, and an empty one removes it). The catalog checks ranges and ARNs."""
    if not any(key in body for key in EVENT_INVOKE_KEYS):
        raise errors.InvalidParameterValue("You must specify at least one of error handling or destination setting: "
                                           f"{', '.join(EVENT_INVOKE_KEYS)}")
    changes: dict[str, Any] = {}
    if "MaximumRetryAttempts" in body:
        changes["maximum_retry_attempts"] = _whole(body["MaximumRetryAttempts"], "MaximumRetryAttempts",
                                                   MAX_RETRY_ATTEMPTS_RANGE)
    if "MaximumEventAgeInSeconds" in body:
        changes["maximum_event_age_s"] = _whole(body["MaximumEventAgeInSeconds"], "MaximumEventAgeInSeconds",
                                                MAX_EVENT_AGE_S_RANGE)
    if "DestinationConfig" in body:
        usage = ('DestinationConfig must be {"OnSuccess": {"Destination": ARN}, "OnFailure": {"Destination": ARN}} '
                 "(either may be left out)")
        raw = body["DestinationConfig"] or {}
        if not isinstance(raw, Mapping) or set(raw) - {key for key, _ in DESTINATIONS}:
            raise errors.InvalidParameterValue(usage)
        for key, name in DESTINATIONS:
            if key in raw:
                item = raw[key] or {}
                arn = item.get("Destination") if isinstance(item, Mapping) else None
                if not isinstance(item, Mapping) or not isinstance(arn, str | None):
                    raise errors.InvalidParameterValue(usage)
                changes[name] = arn or None
    return dataclasses.replace(base, **changes)


def _nowhere() -> Path:
    return Path("/nonexistent")  # replaced by the stored package's folder before the spec is kept
