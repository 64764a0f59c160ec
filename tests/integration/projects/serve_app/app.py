import os

MARK = "one"
INSTANCE_PID = os.getpid()


def greet(event, context):
    return {"greeting": os.environ.get("GREETING"), "mark": MARK, "version": context.function_version,
            "pid": INSTANCE_PID}
