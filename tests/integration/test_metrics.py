"""``GET /metrics`` on a real ``hearth serve``: Prometheus's own parser reads it, and the counts follow what
happened (invocations by status and trigger, cold starts, throttles, durations, instances, queue depths)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from conftest import Serve, poll
from prometheus_client.parser import text_string_to_metric_families


def scrape(serve: Serve) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    reply = httpx.get(f"{serve.process.control}/metrics", timeout=30,
                      headers={"Authorization": f"Bearer {serve.key['token']}"})
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(reply.text) for sample in family.samples}


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_what_happened(tmp_path: Path) -> None:
    project = tmp_path / "metered"
    project.mkdir()
    (project / "app.py").write_text("import time\n\ndef ok(event, context):\n    return 1\n\n"
                                    "def bad(event, context):\n    raise ValueError('no')\n\n"
                                    "def slow(event, context):\n    time.sleep(event.get('s', 0))\n")
    (project / "hearth.toml").write_text(
        '[functions.ok]\nhandler = "app.ok"\n\n[functions.bad]\nhandler = "app.bad"\n\n'
        '[functions.slow]\nhandler = "app.slow"\nconcurrency = 1\n\n[queues.parked]\n')
    serve = Serve(tmp_path / "data")
    try:
        serve.deploy(project)
        lam = serve.client()
        for _ in range(3):
            lam.invoke(FunctionName="ok")
        lam.invoke(FunctionName="bad")
        lam.invoke(FunctionName="ok", InvocationType="Event")
        sqs = serve.sqs()
        sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName="parked")["QueueUrl"], MessageBody="waits")
        with httpx.Client(timeout=30) as client:  # one slow call holds slow's only slot; the next is throttled
            lam.invoke(FunctionName="slow", InvocationType="Event", Payload=json.dumps({"s": 3}))
            assert poll(lambda: any(i["function"] == "slow" and i["state"] == "busy"
                                    for i in serve.instances("slow")), 10)
            denied = client.post(f"{serve.process.control}/2015-03-31/functions/slow/invocations", content=b"{}",
                                 headers={"Authorization": f"Bearer {serve.key['token']}"})
            assert denied.status_code == 429
        assert poll(lambda: value(scrape(serve), "hearth_invocations_total", function="ok", version="$LATEST",
                                  trigger="async", status="success") == 1, 10)
        samples = scrape(serve)
        assert value(samples, "hearth_invocations_total", function="ok", version="$LATEST", trigger="invoke",
                     status="success") == 3
        assert value(samples, "hearth_invocations_total", function="bad", version="$LATEST", trigger="invoke",
                     status="error") == 1
        assert value(samples, "hearth_throttles_total", function="slow") == 1
        assert value(samples, "hearth_cold_starts_total", function="ok", version="$LATEST") == 1
        assert value(samples, "hearth_invocation_duration_seconds_count", function="ok") == 4
        assert value(samples, "hearth_init_duration_seconds_count", function="ok") == 1
        assert value(samples, "hearth_invocation_duration_seconds_bucket", function="ok", le="+Inf") == 4
        assert value(samples, "hearth_invocation_duration_seconds_bucket", function="ok", le="900.0") == 4
        assert value(samples, "hearth_invocation_duration_seconds_sum", function="ok") > 0
        assert value(samples, "hearth_concurrent_executions", function="slow") == 1
        assert value(samples, "hearth_instances", function="ok", version="$LATEST", state="idle",
                     provisioned="false") == 1
        assert value(samples, "hearth_queue_messages", queue="parked", state="visible") == 1
        assert value(samples, "hearth_queue_oldest_message_age_seconds", queue="parked") >= 0
        assert ("hearth_async_events", (("state", "visible"),)) in samples
        assert httpx.get(f"{serve.process.control}/metrics", timeout=30).status_code == 403  # a key is needed
    finally:
        serve.stop()
