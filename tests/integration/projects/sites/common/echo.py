"""Echo what the function saw, with CORS headers of its own (the gateway replaces them unless a route says
``cors = false``)."""

import json
import os
from typing import Any


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    body = {"function": context.function_name, "rawPath": event["rawPath"], "routeKey": event["routeKey"],
            "color": os.environ.get("COLOR", "")}
    return {"statusCode": 200, "headers": {"content-type": "application/json", "access-control-allow-origin": "*"},
            "body": json.dumps(body)}
