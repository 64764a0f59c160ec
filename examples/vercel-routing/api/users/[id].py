"""GET /api/users/{id}: a dynamic segment (also /users/{id} through a rewrite)."""

from api._lib.respond import respond


def handler(event, context):
    user_id = (event.get("pathParameters") or {}).get("id")
    return respond({"id": user_id, "name": f"user {user_id}"})
