"""The catalog's queues: created idempotently as SQS's CreateQueue, checked (ranges, redrive policy), kept in the
store, and applied from a project without ever dropping one silently."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_catalog import Env, fn, project

from hearth import errors
from hearth.catalog import Change
from hearth.model import QueueSpec


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    made = Env(tmp_path)
    yield made
    made.close()


def test_create_is_idempotent_for_equal_settings_and_refuses_others(env: Env) -> None:
    catalog = env.catalog
    created = catalog.create_queue(QueueSpec("orders", visibility_timeout_s=5))
    assert created.created  # stamped
    assert env.heard == [None]
    assert catalog.create_queue(QueueSpec("orders", visibility_timeout_s=5)) is created
    with pytest.raises(errors.QueueNameExists, match="VisibilityTimeout is 5, not 6"):
        catalog.create_queue(QueueSpec("orders", visibility_timeout_s=6))
    assert env.heard == [None]
    assert env.stored().queues == {"orders": created}


def test_update_keeps_the_creation_time_and_delete_forgets(env: Env) -> None:
    catalog = env.catalog
    created = catalog.create_queue(QueueSpec("orders"))
    updated = catalog.update_queue(QueueSpec("orders", delay_s=3))
    assert (updated.delay_s, updated.created) == (3, created.created)
    assert catalog.update_queue(QueueSpec("orders", delay_s=3)) is updated
    catalog.delete_queue("orders")
    assert env.stored().queues == {}
    for operation in (lambda: catalog.update_queue(QueueSpec("orders")), lambda: catalog.delete_queue("orders"),
                      lambda: catalog.queue("orders")):
        with pytest.raises(errors.QueueNotFound, match="The specified queue orders does not exist"):
            operation()


@pytest.mark.parametrize(("spec", "message"), [
    (QueueSpec("q", visibility_timeout_s=43_201), "VisibilityTimeout of queue q: must be a whole number from 0 to "
                                                  "43200, got 43201"),
    (QueueSpec("q", message_retention_s=59), "MessageRetentionPeriod"),
    (QueueSpec("q", delay_s=901), "DelaySeconds"),
    (QueueSpec("q", receive_wait_s=21), "ReceiveMessageWaitTimeSeconds"),
    (QueueSpec("q", maximum_message_size=1023), "MaximumMessageSize"),
    (QueueSpec("q", dead_letter_queue="dlq"), "give both dead_letter_queue and max_receive_count"),
    (QueueSpec("q", dead_letter_queue="missing", max_receive_count=3), "the dead-letter queue missing does not "
                                                                       "exist; create it first"),
    (QueueSpec("q", dead_letter_queue="q", max_receive_count=3), "its own dead-letter queue"),
    (QueueSpec("q", dead_letter_queue="dlq", max_receive_count=1001), "RedrivePolicy.maxReceiveCount"),
])
def test_settings_sqs_would_refuse_are_refused(env: Env, spec: QueueSpec, message: str) -> None:
    env.catalog.create_queue(QueueSpec("dlq"))
    with pytest.raises(errors.InvalidAttributeValue, match=message):
        env.catalog.create_queue(spec)
    assert set(env.stored().queues) == {"dlq"}


@pytest.mark.parametrize("name", ["bad name", "x" * 81, "jobs\n", "dots.no"])
def test_a_bad_queue_name_is_a_bad_parameter_as_sqs_says(env: Env, name: str) -> None:
    with pytest.raises(errors.InvalidParameterValue) as caught:
        env.catalog.create_queue(QueueSpec(name))
    assert not isinstance(caught.value, errors.InvalidAttributeValue)  # QueueName is a parameter, not an attribute
    assert caught.value.message.startswith("Can only include alphanumeric characters, hyphens, or underscores. 1 to "
                                           f"80 in length: {name!r} is not a queue name")
    assert env.stored().queues == {}


def test_apply_creates_dead_letter_queues_first_and_reports_changes(env: Env, tmp_path: Path) -> None:
    catalog = env.catalog
    queues = (QueueSpec("orders", dead_letter_queue="orders-dlq", max_receive_count=3), QueueSpec("orders-dlq"))
    shop = dataclasses.replace(project(tmp_path, fn("hello")), name="shop", queues=queues)
    changes = [change for change in catalog.apply(shop) if change.subject.startswith("queue")]
    assert changes == [Change("created", "queue orders-dlq", "visibility 30 s, retention 345600 s"),
                       Change("created", "queue orders", "visibility 30 s, retention 345600 s, after 3 receives → "
                                                         "orders-dlq")]
    assert {spec.site for spec in catalog.queues.values()} == {"shop"}
    again = [change for change in catalog.apply(shop) if change.subject.startswith("queue")]
    assert [change.action for change in again] == ["unchanged", "unchanged"]
    assert env.stored().queues == catalog.queues


def test_a_dropped_queue_is_kept_unless_pruned_and_other_projects_queues_are_not_touched(
        env: Env, tmp_path: Path) -> None:
    catalog = env.catalog
    catalog.create_queue(QueueSpec("made-by-api"))
    catalog.apply(dataclasses.replace(project(tmp_path, fn("other")), name="blog", queues=(QueueSpec("posts"),)))
    shop = dataclasses.replace(project(tmp_path, fn("hello")), name="shop", queues=(QueueSpec("orders"),))
    catalog.apply(shop)
    dropped = dataclasses.replace(shop, queues=())
    assert Change("skipped", "queue orders", "no longer in the manifest; kept with its messages (aws sqs "
                                             "delete-queue deletes it)") in catalog.apply(dropped)
    assert set(catalog.queues) == {"made-by-api", "posts", "orders"}
    changes = catalog.apply(dropped, prune=True)  # hearth dev: the manifest is the whole truth
    assert {Change("deleted", "queue orders"), Change("deleted", "queue posts")} <= set(changes)
    assert set(catalog.queues) == {"made-by-api"}  # made through the API: no project owns it


def test_a_project_adopts_an_api_queue_but_not_another_projects(env: Env, tmp_path: Path) -> None:
    catalog = env.catalog
    catalog.create_queue(QueueSpec("jobs"))
    shop = dataclasses.replace(project(tmp_path, fn("hello")), name="shop", queues=(QueueSpec("jobs", delay_s=1),))
    assert Change("updated", "queue jobs", "visibility 30 s, retention 345600 s, delay 1 s") in catalog.apply(shop)
    assert catalog.queues["jobs"].site == "shop"
    blog = dataclasses.replace(project(tmp_path, fn("other")), name="blog", queues=(QueueSpec("jobs"),))
    with pytest.raises(errors.ResourceConflict, match="queue jobs belongs to project 'shop'"):
        catalog.apply(blog)
    assert catalog.queues["jobs"].delay_s == 1  # the failed apply changed nothing
