import time

VERSION = "v1"


def handler(event, context):
    seconds = float((event.get("queryStringParameters") or {}).get("s", "0"))
    time.sleep(seconds)
    return {"version": VERSION}
