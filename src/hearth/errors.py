"""The one error tree of Hearth, with Lambda-compatible names and HTTP statuses.

Every error a user can see is a ``HearthError``: it has a stable ``error_type`` (the Lambda ``errorType``), an
HTTP status, and a message that says what to do. The gateway, the control API, the logs and the CLI all render
errors from this tree; nothing invents error strings at its call site.

    HearthError
    ├── ConfigError                      (manifest or settings; raised at start-up, never over HTTP)
    ├── ClientError                      (the caller's fault)
    │   ├── ResourceNotFound             404  ResourceNotFoundException
    │   │   ├── SecretNotFound           404  SecretNotFoundException (no secret of that name is set)
    │   │   └── ProvisionedConfigNotFound  404  ProvisionedConcurrencyConfigNotFoundException
    │   ├── RouteNotFound                404  NotFound (gateway: no route matched)
    │   ├── Unauthorized                 401  Unauthorized (gateway: a route's token or JWT missing or invalid)
    │   ├── Forbidden                    403  Forbidden (gateway: a valid JWT without a scope the route requires)
    │   │   └── QueueNotFound            400  QueueDoesNotExist (SQS)
    │   ├── InvalidParameterValue        400  InvalidParameterValueException
    │   │   ├── InvalidSecretName        400  InvalidSecretNameException (not an environment variable name)
    │   │   ├── InvalidAttributeName     400  InvalidAttributeName (SQS: a queue or message attribute)
    │   │   ├── InvalidAttributeValue    400  InvalidAttributeValue (SQS)
    │   │   ├── InvalidMessageContents   400  InvalidMessageContents (SQS)
    │   │   ├── ReceiptHandleIsInvalid   400  ReceiptHandleIsInvalid (SQS)
    │   │   ├── MessageNotInflight       400  MessageNotInflight (SQS)
    │   │   ├── InvalidBatchRequest      400  TooManyEntriesInBatchRequest, EmptyBatchRequest, … (SQS)
    │   │   └── UnsupportedOperation     400  UnsupportedOperation (SQS: an operation Hearth does not serve)
    │   ├── InvalidRequestContent        400  InvalidRequestContentException
    │   ├── RequestTooLarge              413  RequestTooLargeException
    │   ├── ResourceConflict             409  ResourceConflictException
    │   │   └── QueueNameExists          400  QueueNameExists (SQS)
    │   ├── AccessDenied                 403  AccessDeniedException
    │   │   └── InvalidSignature         403  InvalidSignatureException
    │   ├── TooManyRequests              429  TooManyRequestsException
    │   └── FunctionDisabled             503  FunctionDisabled (idle, or by hand: ``hearth enable NAME``)
    ├── AuthorizerUnavailable            503  AuthorizerFailure (gateway: the JWKS or a route's secret unavailable)
    ├── FunctionFailure                  (the function's fault; the invocation ran, or tried to)
    │   ├── FunctionError                502  <the exception's own name>, "Unhandled"
    │   ├── ImportModuleError            502  Runtime.ImportModuleError
    │   ├── UserCodeSyntaxError          502  Runtime.UserCodeSyntaxError
    │   ├── HandlerNotFound              502  Runtime.HandlerNotFound
    │   ├── MarshalError                 502  Runtime.MarshalError
    │   ├── MalformedProxyResponse       502  Runtime.MalformedProxyResponse (unmappable, or no HTTP response)
    │   ├── ExitError                    502  Runtime.ExitError
    │   ├── OutOfMemory                  502  Runtime.OutOfMemory
    │   ├── Timedout                     504  Sandbox.Timedout
    │   ├── ServerStartFailure           503  (the ``http`` runtime: its server did not become healthy)
    │   │   ├── ServerEntrypointError    503  Runtime.InvalidEntrypoint (the command cannot be run)
    │   │   ├── ServerExited             503  Runtime.ExitError (it exited before answering its health check)
    │   │   └── ServerStartTimeout       503  Sandbox.Timedout (no healthy answer within startup_timeout_s)
    │   ├── ServerConnectionError        502  Runtime.ConnectionError (the server, still running, broke off)
    │   ├── MissingSecret                502  Runtime.MissingSecret (the function names a secret not set)
    │   └── SandboxUnavailable           502  Runtime.SandboxUnavailable (isolation = "sandbox" without bwrap)
    └── ServiceError                     500  ServiceException (Hearth's own fault)
        └── SecretDecryptionFailed       500  SecretDecryptionFailedException (wrong master key, damaged row)
"""

from __future__ import annotations

from typing import Any, ClassVar


class HearthError(Exception):
    """Root of every error Hearth reports to a user."""

    error_type: ClassVar[str] = "ServiceException"
    status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_payload(self) -> dict[str, Any]:
        """The Lambda-style error body: ``errorType`` and ``errorMessage``."""
        return {"errorType": self.error_type, "errorMessage": self.message}


class ConfigError(HearthError):
    """A manifest or setting is malformed; names the file, the key and what is allowed."""

    error_type = "ConfigError"
    status = 400


class ClientError(HearthError):
    """The request cannot be served as sent."""

    status = 400


class ResourceNotFound(ClientError):
    error_type = "ResourceNotFoundException"
    status = 404


class ProvisionedConfigNotFound(ResourceNotFound):
    """The version or alias has no provisioned concurrency configuration."""

    error_type = "ProvisionedConcurrencyConfigNotFoundException"


class RouteNotFound(ClientError):
    """No gateway route matches; API Gateway answers ``{"message": "Not Found"}``."""

    error_type = "NotFound"
    status = 404


class RouteStatus(ClientError):
    """A routing rule answers the path with its own status and nothing serves it (vercel.json ``status`` without
    a destination, e.g. ``{"src": "/secret", "status": 403}``)."""

    error_type = "RouteStatus"

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status  # type: ignore[misc]  # per-instance, as the rule says


class Unauthorized(ClientError):
    """A route with ``auth`` got no bearer token, or one that fails verification. The message never says which
    check failed (the platform's log does): API Gateway answers ``{"message": "Unauthorized"}``."""

    error_type = "Unauthorized"
    status = 401

    def __init__(self, message: str = "Unauthorized", *, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason  # for the platform's log only: never in a response


class Forbidden(ClientError):
    """A route's JWT is valid but carries none of the scopes the route requires."""

    error_type = "Forbidden"
    status = 403

    def __init__(self, message: str = "Forbidden", *, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason  # for the platform's log only: never in a response


class AuthorizerUnavailable(HearthError):
    """A route's authorizer cannot decide: its JWKS could not be fetched, or the secret it names is not set in
    the platform's environment. The caller is refused with 503; the log says why."""

    error_type = "AuthorizerFailure"
    status = 503

    def __init__(self, message: str = "Service Unavailable", *, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason  # for the platform's log only: never in a response


class ExternalRewriteFailed(HearthError):
    """A rewrite to another origin could not be served: the origin is not reachable or failed (502), or sent no
    response in time (504)."""

    error_type = "ExternalRewriteFailed"
    status = 502

    def __init__(self, message: str, status: int = 502) -> None:
        super().__init__(message)
        self.status = status  # type: ignore[misc]


class InvalidParameterValue(ClientError):
    error_type = "InvalidParameterValueException"
    status = 400


class InvalidSecretName(InvalidParameterValue):
    """A secret name that cannot be an environment variable's (``secrets/names.py``)."""

    error_type = "InvalidSecretNameException"


class SecretNotFound(ResourceNotFound):
    """No secret of that name is set (``hearth secret ls`` lists them)."""

    error_type = "SecretNotFoundException"


class InvalidRequestContent(ClientError):
    error_type = "InvalidRequestContentException"
    status = 400


class RequestTooLarge(ClientError):
    error_type = "RequestTooLargeException"
    status = 413


class ResourceConflict(ClientError):
    """The resource exists already, or is being changed in a way that conflicts (e.g. a stale RevisionId)."""

    error_type = "ResourceConflictException"
    status = 409


class QueueNotFound(ResourceNotFound):
    """No queue has that name (SQS answers 400, not 404)."""

    error_type = "QueueDoesNotExist"
    status = 400


class QueueNameExists(ResourceConflict):
    """A queue of that name exists with other settings (creating it again with the same ones is not an error)."""

    error_type = "QueueNameExists"
    status = 400


class InvalidAttributeName(InvalidParameterValue):
    error_type = "InvalidAttributeName"


class InvalidAttributeValue(InvalidParameterValue):
    error_type = "InvalidAttributeValue"


class InvalidMessageContents(InvalidParameterValue):
    error_type = "InvalidMessageContents"


class ReceiptHandleIsInvalid(InvalidParameterValue):
    error_type = "ReceiptHandleIsInvalid"


class MessageNotInflight(InvalidParameterValue):
    """The receipt handle is of an earlier receive: the message was received again, or deleted."""

    error_type = "MessageNotInflight"


class InvalidBatchRequest(InvalidParameterValue):
    """A batch request SQS refuses whole; ``error_type`` is SQS's name for what is wrong with it."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type  # type: ignore[misc]  # one of SQS's batch error names


class UnsupportedOperation(InvalidParameterValue):
    error_type = "UnsupportedOperation"


class AccessDenied(ClientError):
    """The caller is not authenticated: no credentials, an unknown key, or a request outside the time window."""

    error_type = "AccessDeniedException"
    status = 403


class InvalidSignature(AccessDenied):
    """The request's SigV4 signature does not match the one computed with the caller's secret key."""

    error_type = "InvalidSignatureException"


class TooManyRequests(ClientError):
    """The function is at its concurrency limit; retry after ``retry_after_s``."""

    error_type = "TooManyRequestsException"
    status = 429
    retry_after_s: ClassVar[int] = 1


class FunctionDisabled(ClientError):
    """The function is disabled (it had no invocations for ``auto_disable_after_days``, or an operator disabled
    it); calls are refused until ``hearth enable NAME``."""

    error_type = "FunctionDisabled"
    status = 503


class FunctionFailure(HearthError):
    """The invocation failed because of the function: its code, its limits or its process.

    ``stack_trace`` follows Lambda's ``stackTrace`` (a list of strings); ``function_error`` is the value of
    ``X-Amz-Function-Error`` (``Unhandled`` for everything the runtime reports).
    """

    status = 502
    function_error: ClassVar[str] = "Unhandled"

    def __init__(self, message: str, stack_trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.stack_trace = stack_trace or []

    def to_payload(self) -> dict[str, Any]:
        payload = super().to_payload()
        payload["stackTrace"] = self.stack_trace
        return payload


class FunctionError(FunctionFailure):
    """The handler raised; ``errorType`` is the exception's class name, as Lambda reports it."""

    def __init__(self, error_type: str, message: str, stack_trace: list[str] | None = None) -> None:
        super().__init__(message, stack_trace)
        self.error_type = error_type  # type: ignore[misc]  # per-instance name, as Lambda does


class ImportModuleError(FunctionFailure):
    error_type = "Runtime.ImportModuleError"


class UserCodeSyntaxError(FunctionFailure):
    error_type = "Runtime.UserCodeSyntaxError"


class HandlerNotFound(FunctionFailure):
    error_type = "Runtime.HandlerNotFound"


class MarshalError(FunctionFailure):
    error_type = "Runtime.MarshalError"


class MalformedProxyResponse(FunctionFailure):
    """The function returned a ``statusCode`` response that the gateway could not map to HTTP, or an HTTP app
    (a ``BaseHTTPRequestHandler`` class, a WSGI or an ASGI app) produced no whole response."""

    error_type = "Runtime.MalformedProxyResponse"


class ExitError(FunctionFailure):
    error_type = "Runtime.ExitError"


class OutOfMemory(FunctionFailure):
    error_type = "Runtime.OutOfMemory"


class InvalidEntrypoint(FunctionFailure):
    """The runtime's executable (``bootstrap``) is missing or cannot be run."""

    error_type = "Runtime.InvalidEntrypoint"


class ResponseSizeTooLarge(FunctionFailure):
    """The function returned more than a synchronous invocation may (6 MB)."""

    error_type = "Function.ResponseSizeTooLarge"


def response_too_large(limit: int) -> ResponseSizeTooLarge:
    return ResponseSizeTooLarge(f"Response payload size exceeded maximum allowed payload size ({limit} bytes); "
                                "return large results by reference (a URL or object key) instead")


class Timedout(FunctionFailure):
    error_type = "Sandbox.Timedout"
    status = 504


class ServerStartFailure(FunctionFailure):
    """An ``http`` function's server could not be started; the message ends with the last lines it wrote."""

    status = 503


class ServerEntrypointError(ServerStartFailure):
    error_type = "Runtime.InvalidEntrypoint"


class ServerExited(ServerStartFailure):
    error_type = "Runtime.ExitError"


class ServerStartTimeout(ServerStartFailure):
    error_type = "Sandbox.Timedout"


class ServerConnectionError(FunctionFailure):
    """An ``http`` function's server, still running, closed or refused the connection without a whole response."""

    error_type = "Runtime.ConnectionError"


class MissingSecret(FunctionFailure):
    """An instance cannot start: its function names a secret that is not set (as Lambda fails an invocation
    whose environment it cannot decrypt)."""

    error_type = "Runtime.MissingSecret"


class SandboxUnavailable(FunctionFailure):
    """An instance of an ``isolation = "sandbox"`` function cannot start: bubblewrap (``bwrap``) is missing or
    cannot build the sandbox on this host. Never run unsandboxed instead."""

    error_type = "Runtime.SandboxUnavailable"


class ServiceError(HearthError):
    """Hearth itself failed; the message says what happened and the platform keeps serving."""

    error_type = "ServiceException"
    status = 500


class SecretDecryptionFailed(ServiceError):
    """A stored secret does not decrypt with the master key: the key is not the one it was encrypted with, or
    the row was altered. Never answered with a guess at the value."""

    error_type = "SecretDecryptionFailedException"


_RUNTIME_ERRORS: dict[str, type[FunctionFailure]] = {
    cls.error_type: cls
    for cls in (ImportModuleError, UserCodeSyntaxError, HandlerNotFound, MarshalError, ExitError, OutOfMemory, Timedout,
                InvalidEntrypoint, ResponseSizeTooLarge)
}


def function_failure(payload: dict[str, Any]) -> FunctionFailure:
    """Rebuild the error a runtime reported (``errorType``/``errorMessage``/``stackTrace``) as a ``FunctionFailure``."""
    error_type = str(payload.get("errorType") or "Error")
    message = str(payload.get("errorMessage") or "")
    trace = payload.get("stackTrace")
    stack = [str(line) for line in trace] if isinstance(trace, list) else []
    known = _RUNTIME_ERRORS.get(error_type)
    if known is not None:
        return known(message, stack)
    return FunctionError(error_type, message, stack)
