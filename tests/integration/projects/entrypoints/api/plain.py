def handler(event, context):
    return {"statusCode": 200, "headers": {"content-type": "text/plain"},
            "body": f"{context.function_name} saw {event['rawPath']}"}
