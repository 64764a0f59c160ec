"""Handlers for the core integration tests."""

import asyncio
import base64
import os
import subprocess
import sys
import time

INSTANCE_PID = os.getpid()
calls = 0
print(f"init output from pid {INSTANCE_PID}")


def echo(event, context):
    return {"event": event, "greeting": os.environ.get("GREETING"), "pid": os.getpid(),
            "host_secret": os.environ.get("HEARTH_TEST_HOST_SECRET")}


def counter(event, context):
    global calls
    calls += 1
    return {"calls": calls, "pid": INSTANCE_PID}


def respond(event, context):
    """Returns whatever response shape the query asks for."""
    kind = (event.get("queryStringParameters") or {}).get("kind")
    if kind == "full":
        return {"statusCode": 201, "headers": {"X-Custom": "yes", "X-Number": 7},
                "cookies": ["a=1; Path=/", "b=2; HttpOnly"], "body": "created"}
    if kind == "binary":
        return {"statusCode": 200, "headers": {"content-type": "image/png"},
                "body": base64.b64encode(b"\x89PNG\x00\xff").decode(), "isBase64Encoded": True}
    if kind == "bad-status":
        return {"statusCode": "nope", "body": "x"}
    if kind == "string":
        return "just a string"
    if kind == "huge":  # over Lambda's 6 MB response limit
        return {"statusCode": 200, "body": "x" * (7 * 1024 * 1024)}
    return {"plain": True, "items": [1, 2, 3]}


async def aio(event, context):
    await asyncio.sleep(0.01)
    return {"async": True, "request_id": context.aws_request_id}


def context_info(event, context):
    return {
        "aws_request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "env": {key: os.environ.get(key) for key in (
            "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
            "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_REGION", "_HANDLER", "LAMBDA_TASK_ROOT", "TZ")},
        "cwd": os.getcwd(),
    }


class Custom(Exception):
    pass


def boom(event, context):
    raise Custom("it went wrong on purpose")


def slow(event, context):
    time.sleep(float(event.get("queryStringParameters", {}).get("s", "5")))
    return {"done": True, "pid": os.getpid()}


def hog(event, context):
    megabytes = int(event.get("queryStringParameters", {}).get("mb", "400"))
    blocks = [bytearray(1024 * 1024) for _ in range(megabytes)]
    for block in blocks:
        block[::4096] = b"x" * len(block[::4096])  # touch every page so it is resident
    return {"allocated_mb": len(blocks)}


def crash(event, context):
    how = event.get("queryStringParameters", {}).get("how", "exit")
    if how == "segv":
        import ctypes

        ctypes.string_at(0)
    if how == "sysexit":
        sys.exit(4)
    os._exit(3)


def noisy(event, context):
    rid = context.aws_request_id
    print(f"stdout line {rid}")
    print(f"stderr line {rid}", file=sys.stderr)
    os.write(1, f"fd line {rid}\n".encode())
    subprocess.run(["/bin/echo", f"child line {rid}"], check=True)
    sys.stdout.write(f"no newline {rid}")
    return {"rid": rid}


def unmarshalable(event, context):
    return {"value": object()}
