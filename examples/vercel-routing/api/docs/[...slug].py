"""GET /api/docs/a/b/c: a catch-all (also /blog/{slug} through a rewrite)."""

from api._lib.respond import respond


def handler(event, context):
    slug = (event.get("pathParameters") or {}).get("slug", "")
    return respond({"slug": slug.split("/")})
