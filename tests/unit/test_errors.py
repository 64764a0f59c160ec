"""The error tree: stable Lambda names and statuses, payload shapes, and rebuilding a runtime's report."""

from __future__ import annotations

import pytest

from hearth import errors


@pytest.mark.parametrize("error_type, cls, status", [
    ("Runtime.ImportModuleError", errors.ImportModuleError, 502),
    ("Runtime.UserCodeSyntaxError", errors.UserCodeSyntaxError, 502),
    ("Runtime.HandlerNotFound", errors.HandlerNotFound, 502),
    ("Runtime.MarshalError", errors.MarshalError, 502),
    ("Runtime.ExitError", errors.ExitError, 502),
    ("Runtime.OutOfMemory", errors.OutOfMemory, 502),
    ("Sandbox.Timedout", errors.Timedout, 504),
])
def test_known_runtime_errors_are_rebuilt_as_their_class(error_type: str, cls: type[errors.FunctionFailure],
                                                         status: int) -> None:
    failure = errors.function_failure({"errorType": error_type, "errorMessage": "boom", "stackTrace": ["a", "b"]})
    assert type(failure) is cls
    assert failure.error_type == error_type
    assert failure.status == status
    assert failure.message == "boom"
    assert failure.stack_trace == ["a", "b"]


def test_an_unknown_error_type_is_a_function_error_with_that_name() -> None:
    failure = errors.function_failure({"errorType": "KeyError", "errorMessage": "'name'",
                                       "stackTrace": ['  File "app.py", line 3, in main\n']})
    assert type(failure) is errors.FunctionError
    assert failure.error_type == "KeyError"
    assert failure.status == 502
    assert failure.function_error == "Unhandled"
    assert failure.to_payload() == {"errorType": "KeyError", "errorMessage": "'name'",
                                    "stackTrace": ['  File "app.py", line 3, in main\n']}


def test_each_function_error_keeps_its_own_name() -> None:
    first, second = errors.FunctionError("KeyError", "x"), errors.FunctionError("ValueError", "y")
    assert (first.error_type, second.error_type) == ("KeyError", "ValueError")


def test_a_sparse_report_gets_defaults() -> None:
    failure = errors.function_failure({})
    assert type(failure) is errors.FunctionError
    assert failure.to_payload() == {"errorType": "Error", "errorMessage": "", "stackTrace": []}


def test_stack_trace_entries_become_strings_and_a_non_list_is_dropped() -> None:
    assert errors.function_failure({"errorType": "E", "stackTrace": [1, None]}).stack_trace == ["1", "None"]
    assert errors.function_failure({"errorType": "E", "stackTrace": "line 1"}).stack_trace == []


def test_message_and_type_are_made_strings() -> None:
    failure = errors.function_failure({"errorType": 7, "errorMessage": 42})
    assert (failure.error_type, failure.message) == ("7", "42")


def test_a_hearth_error_payload_has_no_stack_trace() -> None:
    assert errors.TooManyRequests("slow down").to_payload() == {
        "errorType": "TooManyRequestsException", "errorMessage": "slow down"}
    assert errors.ServiceError("oops").to_payload() == {"errorType": "ServiceException", "errorMessage": "oops"}


def test_a_function_failure_payload_has_a_stack_trace() -> None:
    assert errors.Timedout("Task timed out after 3.00 seconds").to_payload() == {
        "errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 3.00 seconds", "stackTrace": []}


@pytest.mark.parametrize("cls, error_type, status", [
    (errors.ResourceNotFound, "ResourceNotFoundException", 404),
    (errors.RouteNotFound, "NotFound", 404),
    (errors.InvalidParameterValue, "InvalidParameterValueException", 400),
    (errors.InvalidRequestContent, "InvalidRequestContentException", 400),
    (errors.RequestTooLarge, "RequestTooLargeException", 413),
    (errors.TooManyRequests, "TooManyRequestsException", 429),
    (errors.MalformedProxyResponse, "Runtime.MalformedProxyResponse", 502),
    (errors.ServiceError, "ServiceException", 500),
    (errors.ConfigError, "ConfigError", 400),
])
def test_stable_names_and_statuses(cls: type[errors.HearthError], error_type: str, status: int) -> None:
    error = cls("message")
    assert (error.error_type, error.status, error.message, str(error)) == (error_type, status, "message", "message")
    assert isinstance(error, errors.HearthError)


def test_the_tree() -> None:
    assert issubclass(errors.TooManyRequests, errors.ClientError)
    assert issubclass(errors.RouteNotFound, errors.ClientError)
    assert issubclass(errors.Timedout, errors.FunctionFailure)
    assert issubclass(errors.MalformedProxyResponse, errors.FunctionFailure)
    assert not issubclass(errors.ServiceError, (errors.ClientError, errors.FunctionFailure))
    assert not issubclass(errors.ConfigError, (errors.ClientError, errors.FunctionFailure))
