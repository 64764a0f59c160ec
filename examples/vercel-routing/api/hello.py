"""GET /api/hello?name=ada (also /greet?name=ada and /whoami through vercel.json's rewrites)."""

from api._lib.greeting import greet
from api._lib.respond import respond


def handler(event, context):
    query = event.get("queryStringParameters") or {}
    return respond({"message": greet(query.get("name", "world")), "query": query})
