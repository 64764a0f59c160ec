"""A handler run by AWS's own Python runtime interface client (``awslambdaric``) under ``runtime = "provided"``."""

import os


def handler(event, context):
    """Echo what the client handed over; raise when the event asks to fail."""
    if isinstance(event, dict) and event.get("fail"):
        raise ValueError(f"python failed on purpose: {event['fail']}")
    print(f"python handled {context.aws_request_id}")
    return {
        "echo": event,
        "request_id": context.aws_request_id,
        "function": context.function_name,
        "arn": context.invoked_function_arn,
        "time_left_positive": context.get_remaining_time_in_millis() > 0,
        "pid": os.getpid(),
    }
