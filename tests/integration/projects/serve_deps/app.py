import pkg


def handler(event, context):
    return {"value": pkg.VALUE, "from": pkg.__file__}
