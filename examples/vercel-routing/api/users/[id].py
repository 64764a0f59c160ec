"""GET /api/users/{id}: a dynamic segment (also /users/{id} through a rewrite). As on Vercel, the segment's value
is also a query parameter: /api/users/42 arrives with ?id=42."""

from api._lib.respond import respond


def handler(event, context):
    user_id = (event.get("pathParameters") or {}).get("id")
    query = event.get("queryStringParameters") or {}
    return respond({"id": user_id, "name": f"user {user_id}", "query": query})
