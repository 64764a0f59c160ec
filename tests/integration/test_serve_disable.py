"""Disabling a function by hand on a real ``hearth serve`` and enabling it again: calls answer 503
FunctionDisabled (Lambda API and gateway), its schedules are held (a pause the user made stays), its queue poller
stops, its provisioned instances are released; the state survives a restart; ``hearth enable`` restores it all."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
from conftest import Serve, poll

MANIFEST = """\
[functions.worker]
handler = "app.main"

[functions.worker.aliases.live]
version = 1
provisioned_concurrency = 1

[[functions.worker.schedules]]
name = "often"
expression = "rate(1 minute)"

[[functions.worker.schedules]]
name = "nightly"
expression = "cron(0 3 * * ? *)"

[[functions.worker.queues]]
queue = "jobs"

[queues.jobs]

[[routes]]
path = "/work"
function = "worker"
"""


def project(root: Path) -> Path:
    root.mkdir()
    (root / "app.py").write_text("def main(event, context):\n    return {'statusCode': 200, 'body': 'done'}\n")
    (root / "hearth.toml").write_text(MANIFEST)
    return root


def schedules(serve: Serve) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in serve.native("/hearth/schedules")["schedules"]}


def pollers_waiting(serve: Serve) -> int:
    queues = {queue["name"]: queue for queue in serve.native("/hearth/queues")["queues"]}
    return int(queues["jobs"]["receivers_waiting"])


def provisioned(serve: Serve) -> int:
    return sum(1 for instance in serve.instances("worker") if instance["provisioned"])


def refused(serve: Serve) -> None:
    """Both surfaces answer 503 FunctionDisabled, with how to re-enable."""
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        serve.client().invoke(FunctionName="worker")
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 503 and error["Error"]["Code"] == "FunctionDisabled"
    assert "hearth enable worker" in error["Error"]["Message"]
    answer = serve.gateway.get("/work")
    assert answer.status_code == 503 and answer.json()["errorType"] == "FunctionDisabled"


def test_disable_holds_everything_and_enable_restores_it_across_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    code = project(tmp_path / "worker")
    serve = Serve(data, "--quiet")
    try:
        serve.deploy(code)
        serve.publish("worker")
        serve.deploy(code)  # now the alias (and its provisioned instance) has its version
        assert poll(lambda: provisioned(serve) == 1, 20) and poll(lambda: pollers_waiting(serve) == 1, 10)
        assert serve.gateway.get("/work").status_code == 200
        assert serve.cli("pause-schedule", "worker.nightly").returncode == 0  # the user's own pause
        held = {line["version"]: line for line in serve.native("/hearth/cost", since="1h", by="version")["lines"]}
        assert Decimal(held["1"]["provisioned_gb_seconds"]) > 0  # the provisioned instance is metered while held
        assert Decimal(held["$LATEST"]["provisioned_gb_seconds"]) == 0

        shown = serve.cli("disable", "worker", "--reason", "cost review")
        assert shown.returncode == 0 and shown.stdout.strip() == "disabled worker", shown.stderr
        refused(serve)
        state = serve.client().get_function(FunctionName="worker")["Configuration"]
        assert (state["State"], state["StateReasonCode"]) == ("Inactive", "Idle")  # as Lambda shows an idled one
        assert "cost review" in state["StateReason"] and "hearth enable worker" in state["StateReason"]
        held = schedules(serve)
        assert held["worker.often"]["function_disabled"] and held["worker.often"]["next"] is None
        assert held["worker.nightly"]["paused"]
        assert poll(lambda: pollers_waiting(serve) == 0, 10) and poll(lambda: provisioned(serve) == 0, 10)
        serve.sqs().send_message(QueueUrl=f"{serve.process.control}/000000000000/jobs", MessageBody="later")
        again = serve.cli("disable", "worker")
        assert again.stdout.strip().startswith("worker was disabled already") and "cost review" in again.stdout
    finally:
        serve.stop()

    serve = Serve(data, "--quiet")  # the disabled state is in the state store
    try:
        refused(serve)
        assert pollers_waiting(serve) == 0 and provisioned(serve) == 0
        assert serve.native("/hearth/queues")["queues"][0]["visible"] == 1  # the message waits
        audit = serve.cli("audit", "worker")
        assert audit.returncode == 0 and "disabled" in audit.stdout and "cost review" in audit.stdout

        enabled = serve.cli("enable", "worker")
        assert enabled.returncode == 0 and enabled.stdout.strip() == "enabled worker", enabled.stderr
        active_state = serve.client().get_function_configuration(FunctionName="worker")
        assert active_state["State"] == "Active" and "StateReason" not in active_state
        assert serve.gateway.get("/work").status_code == 200
        assert json.loads(serve.client().invoke(FunctionName="worker")["Payload"].read())["body"] == "done"
        active = schedules(serve)
        assert not active["worker.often"]["function_disabled"] and active["worker.often"]["next"] is not None
        assert active["worker.nightly"]["paused"]  # enabling the function does not undo the user's pause
        assert poll(lambda: provisioned(serve) == 1, 20)
        assert poll(lambda: any(record["trigger"] == "queue" for record in serve.native(
            "/hearth/invocations", function="worker")["invocations"]), 20)  # the waiting message is delivered
        entries = serve.native("/hearth/audit", function="worker")["entries"]
        assert [(entry["action"], entry["reason"]) for entry in entries] == [
            ("enabled", "hearth enable"), ("disabled", "cost review")]
    finally:
        serve.stop()
