"""GET /api: the list of what this project answers."""

from api._lib.respond import respond


def handler(event, context):
    return respond({"functions": ["/api", "/api/hello", "/api/users/{id}", "/api/docs/{slug+}"]})
