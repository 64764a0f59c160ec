def handler(event, context):
    # Markup in a log line: the dashboard must show it as text.
    print(f"dashboard-mark {event.get('mark')} <b>not bold</b>")
    return {"echo": event, "version": context.function_version}
