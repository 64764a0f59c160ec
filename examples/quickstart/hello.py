"""A hello-world function: runs once per instance at import (Init), then once per invocation."""

import os

GREETING = os.environ.get("GREETING", "hello")
calls = 0  # module state survives between warm invocations of the same instance


def handler(event, context):
    global calls
    calls += 1
    name = (event.get("pathParameters") or {}).get("name") or event.get("name") or "world"
    print(f"greeting {name} (call {calls} on this instance)")
    return {"message": f"{GREETING}, {name}!", "calls": calls, "request_id": context.aws_request_id}
