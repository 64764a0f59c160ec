"""The catalog's asynchronous invocation configs (Lambda's EventInvokeConfig): one per function and qualifier,
checked as Lambda checks them, kept in the store, deleted with their function, version or alias, and applied from a
manifest."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_catalog import Env, fn, project, with_versions

from hearth import errors
from hearth.catalog import Change
from hearth.model import LATEST, AliasSpec, EventInvokeConfig, function_arn, queue_arn

OTHER = function_arn("other")
DLQ = queue_arn("failures")


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    made = Env(tmp_path)
    yield made
    made.close()


def test_defaults_until_one_is_stored_and_exactly_per_qualifier(env: Env) -> None:
    catalog = with_versions(env, 1)
    catalog.put_alias(AliasSpec("hello", "live", "1"), create=True)
    assert catalog.event_invoke_config("hello") == EventInvokeConfig("hello", LATEST)
    assert catalog.event_invoke_config("ghost", "live") == EventInvokeConfig("ghost", "live")  # never raises

    stored = catalog.put_event_invoke_config(EventInvokeConfig("hello", "live", maximum_retry_attempts=0),
                                             replace=True)
    assert stored.last_modified  # stamped
    assert catalog.event_invoke_config("hello", "live") == stored
    # An alias's config is its own: its version and $LATEST keep the defaults.
    assert catalog.event_invoke_config("hello", "1") == EventInvokeConfig("hello", "1")
    assert catalog.event_invoke_config("hello", None) == EventInvokeConfig("hello", LATEST)
    assert env.stored().event_invoke_configs == {("hello", "live"): stored}


def test_put_replaces_the_whole_config_and_update_needs_one(env: Env) -> None:
    catalog = env.catalog
    catalog.create_function(fn("hello"))
    catalog.create_function(fn("other"))
    with pytest.raises(errors.ResourceNotFound, match=r"function:hello:\$LATEST doesn't have an EventInvokeConfig"):
        catalog.put_event_invoke_config(EventInvokeConfig("hello", maximum_retry_attempts=1), replace=False)
    first = catalog.put_event_invoke_config(EventInvokeConfig("hello", on_failure=OTHER), replace=True)
    env.heard.clear()
    assert catalog.put_event_invoke_config(EventInvokeConfig("hello", on_failure=OTHER), replace=True) is first
    assert env.heard == []  # nothing changed, nothing written or told

    updated = catalog.put_event_invoke_config(dataclasses.replace(first, maximum_event_age_s=60), replace=False)
    assert (updated.maximum_event_age_s, updated.on_failure) == (60, OTHER)
    replaced = catalog.put_event_invoke_config(EventInvokeConfig("hello", maximum_retry_attempts=1), replace=True)
    assert (replaced.maximum_event_age_s, replaced.on_failure) == (21600, None)
    assert env.heard == ["hello", "hello"]
    assert env.stored().event_invoke_configs == {("hello", LATEST): replaced}


@pytest.mark.parametrize(("config", "error", "message"), [
    (EventInvokeConfig("ghost"), errors.ResourceNotFound, "Function not found: ghost"),
    (EventInvokeConfig("hello", "7"), errors.ResourceNotFound, "Function not found: hello:7"),
    (EventInvokeConfig("hello", "gone"), errors.ResourceNotFound, "no such version or alias"),
    (EventInvokeConfig("hello", maximum_retry_attempts=3), errors.InvalidParameterValue,
     "MaximumRetryAttempts must be a whole number from 0 to 2, got 3"),
    (EventInvokeConfig("hello", maximum_retry_attempts=-1), errors.InvalidParameterValue, "MaximumRetryAttempts"),
    (EventInvokeConfig("hello", maximum_event_age_s=59), errors.InvalidParameterValue,
     "MaximumEventAgeInSeconds must be a whole number from 60 to 21600, got 59"),
    (EventInvokeConfig("hello", maximum_event_age_s=21601), errors.InvalidParameterValue, "MaximumEventAgeInSeconds"),
    (EventInvokeConfig("hello", on_success="arn:aws:sns:us-east-1:000000000000:topic"), errors.InvalidParameterValue,
     "DestinationConfig.OnSuccess.Destination: .* not to sns"),
    (EventInvokeConfig("hello", on_failure="other"), errors.InvalidParameterValue,
     "DestinationConfig.OnFailure.Destination: 'other' is not an ARN"),
    (EventInvokeConfig("hello", on_failure=function_arn("missing")), errors.InvalidParameterValue,
     "destination ARN .*:function:missing is invalid \\(OnFailure\\): function missing does not exist; create it "
     "first \\(Hearth checks that a destination function exists, not permissions"),
    (EventInvokeConfig("hello", on_success=function_arn("other", "nope")), errors.InvalidParameterValue,
     "function other has no version or alias nope"),
    (EventInvokeConfig("hello", on_success=function_arn("hello", "live")), errors.InvalidParameterValue,
     "can't specify the function as a destination for itself"),
])
def test_invalid_configs_are_refused_and_nothing_is_stored(env: Env, config: EventInvokeConfig,
                                                           error: type[errors.HearthError], message: str) -> None:
    catalog = with_versions(env, 1)
    catalog.put_alias(AliasSpec("hello", "live", "1"), create=True)
    catalog.create_function(fn("other"))
    with pytest.raises(error, match=message):
        catalog.put_event_invoke_config(config, replace=True)
    assert catalog.event_invoke_configs == {} and env.stored().event_invoke_configs == {}


def test_destinations_may_be_other_functions_their_aliases_or_any_well_formed_queue(env: Env) -> None:
    catalog = with_versions(env, 1, name="other")
    catalog.put_alias(AliasSpec("other", "live", "1"), create=True)
    catalog.create_function(fn("hello"))
    for on_success, on_failure in ((OTHER, DLQ), (function_arn("other", "live"), function_arn("other", "1")),
                                   (function_arn("other", LATEST), queue_arn("not-created-anywhere"))):
        config = EventInvokeConfig("hello", on_success=on_success, on_failure=on_failure)
        assert catalog.put_event_invoke_config(config, replace=True).on_failure == on_failure


def test_delete_forgets_one_config(env: Env) -> None:
    catalog = env.catalog
    catalog.create_function(fn("hello"))
    with pytest.raises(errors.ResourceNotFound, match="doesn't have an EventInvokeConfig"):
        catalog.delete_event_invoke_config("hello", None)
    catalog.put_event_invoke_config(EventInvokeConfig("hello"), replace=True)
    env.heard.clear()
    catalog.delete_event_invoke_config("hello", None)
    assert catalog.event_invoke_configs == {} and env.stored().event_invoke_configs == {}
    assert env.heard == ["hello"]


def test_deleting_a_function_version_or_alias_deletes_its_configs(env: Env) -> None:
    catalog = with_versions(env, 2)
    catalog.create_function(fn("other"))
    catalog.put_alias(AliasSpec("hello", "live", "2"), create=True)
    for function, qualifier in (("hello", LATEST), ("hello", "1"), ("hello", "2"), ("hello", "live"),
                                ("other", LATEST)):
        catalog.put_event_invoke_config(EventInvokeConfig(function, qualifier), replace=True)

    catalog.delete_function("hello", "1")
    catalog.delete_alias("hello", "live")
    assert list(catalog.event_invoke_configs) == [("hello", LATEST), ("hello", "2"), ("other", LATEST)]
    catalog.delete_function("hello")
    assert list(catalog.event_invoke_configs) == [("other", LATEST)]
    assert list(env.stored().event_invoke_configs) == [("other", LATEST)]


def test_configs_survive_a_restart(env: Env) -> None:
    env.catalog.create_function(fn("hello"))
    stored = env.catalog.put_event_invoke_config(EventInvokeConfig("hello", on_failure=DLQ), replace=True)
    assert env.open().event_invoke_config("hello") == stored


def test_apply_creates_updates_and_deletes_the_manifests_configs(env: Env) -> None:
    catalog = with_versions(env, 1)
    spec = catalog.record("hello").latest
    catalog.put_event_invoke_config(EventInvokeConfig("hello", "1", maximum_retry_attempts=0), replace=True)
    declared = EventInvokeConfig("hello", maximum_retry_attempts=1, on_failure=OTHER)
    with_config = dataclasses.replace(project(env.tmp_path, spec, fn("other")), event_invoke_configs=(declared,))

    changes = catalog.apply(with_config)
    assert Change("created", "async hello", f"1 retries, max age 21600s, on failure → {OTHER}") in changes
    env.heard.clear()
    assert Change("unchanged", "async hello", f"1 retries, max age 21600s, on failure → {OTHER}") in \
        catalog.apply(with_config)
    assert env.heard == []

    edited = dataclasses.replace(with_config, event_invoke_configs=(dataclasses.replace(declared, on_failure=DLQ),))
    assert Change("updated", "async hello", f"1 retries, max age 21600s, on failure → {DLQ}") in catalog.apply(edited)

    dropped = catalog.apply(dataclasses.replace(with_config, event_invoke_configs=()))
    assert Change("deleted", "async hello") in dropped
    # The Lambda API's config of version 1 is not the manifest's to drop.
    assert list(catalog.event_invoke_configs) == [("hello", "1")]
    assert list(env.stored().event_invoke_configs) == [("hello", "1")]


def test_an_apply_with_a_missing_destination_fails_and_stores_nothing(env: Env) -> None:
    catalog = env.catalog
    config = EventInvokeConfig("hello", on_success=function_arn("elsewhere"))
    declared = dataclasses.replace(project(env.tmp_path, fn("hello")), event_invoke_configs=(config,))
    with pytest.raises(errors.InvalidParameterValue, match="function elsewhere does not exist"):
        catalog.apply(declared)
    assert catalog.functions == {} and env.stored().functions == {}
