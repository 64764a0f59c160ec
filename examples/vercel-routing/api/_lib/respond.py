"""A Lambda proxy response with a JSON body, shared by the functions."""

import json


def respond(body: dict, status: int = 200) -> dict:
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}
