"""The functions of examples/triggers: one puts jobs on a queue, one works through them, one takes webhooks
asynchronously, one runs on a schedule."""

import json

import boto3

sqs = boto3.client("sqs")  # endpoint, region and key come from the environment Hearth gives functions


def enqueue(event, context):
    """POST /jobs: put the request's body on the jobs queue."""
    url = sqs.get_queue_url(QueueName="jobs")["QueueUrl"]
    sent = sqs.send_message(QueueUrl=url, MessageBody=event.get("body") or "{}")
    return {"statusCode": 202, "body": json.dumps({"queued": sent["MessageId"]})}


def work(event, context):
    """A batch from the jobs queue; a job without an id fails alone (and is retried, then dead-lettered)."""
    failures = []
    for record in event["Records"]:
        job = json.loads(record["body"])
        if "id" not in job:
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        receives = record["attributes"]["ApproximateReceiveCount"]
        print(f"job {job['id']}: {job.get('task', 'nothing')} (receive {receives})")
    return {"batchItemFailures": failures}


def hook(event, context):
    """POST /hooks, run after the 202: the HTTP event, as any route's."""
    print(f"webhook {context.aws_request_id}: {event.get('body')}")


def report(event, context):
    """Every five minutes: EventBridge's Scheduled Event."""
    print(f"report for {event['time']} ({event['id']})")
