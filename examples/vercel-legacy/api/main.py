"""One function behind every path that no file answers: the legacy routes send "/(.*)" to api/main.py."""

import json


def handler(event, context):
    body = {"path": event.get("rawPath"), "query": event.get("queryStringParameters") or {}}
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}
