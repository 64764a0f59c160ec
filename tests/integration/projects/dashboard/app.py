def handler(event, context):
    # Markup in a log line: the dashboard must show it as text.
    print(f"dashboard-mark {event.get('mark')} <b>not bold</b>")
    return {"echo": event, "version": context.function_version}


def fail(event, context):
    print(f"failing {event.get('mark')}")
    raise ValueError(f"dashboard failure {event.get('mark')} <i>")
