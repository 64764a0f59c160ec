"""A function that sets its own caching and CORS headers, which the gateway's rules and CORS replace."""

from typing import Any


def site(event: dict[str, Any], context: object) -> dict[str, Any]:
    return {
        "statusCode": 200,
        "headers": {"content-type": "text/plain", "cache-control": "no-store",
                    "access-control-allow-origin": "*", "access-control-expose-headers": "x-secret"},
        "body": event["rawPath"],
    }
