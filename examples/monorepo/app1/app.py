"""app1's function: the greeting comes from the shared package beside this project."""

from pkg.greetings import greet


def handler(event, context):
    name = (event.get("pathParameters") or {}).get("name", "world")
    return {"message": greet(name), "from": "app1"}
