"""The catalog's trigger settings: event source mappings, asynchronous invocation configs, schedules and queues,
with how a project's manifest applies each."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping

from hearth import errors
from hearth.catalog.base import CatalogBase, Change, now_text
from hearth.config.queues import ATTRIBUTE_OF, queue_problem
from hearth.model import (
    BATCH_SIZE_RANGE,
    BATCHING_WINDOW_S_RANGE,
    LATEST,
    MAX_EVENT_AGE_S_RANGE,
    MAX_RETRY_ATTEMPTS_RANGE,
    MAXIMUM_CONCURRENCY_RANGE,
    EventInvokeConfig,
    EventSourceMappingSpec,
    Project,
    QueueSpec,
    ScheduleSpec,
    function_arn,
    parse_destination,
)

_MAPPING_IDS = uuid.UUID("0c9f3e55-8a55-4f3e-a2f0-2b6d8f7c1d44")  # namespace of a manifest's mappings' UUIDs


class TriggerCatalog(CatalogBase):
    """Event source mappings, asynchronous invocation configs, schedules and queues."""

    # -- event source mappings -----------------------------------------------------------------------------------

    def event_source_mapping(self, key: str) -> EventSourceMappingSpec:
        mapping = self.event_source_mappings.get(key)
        if mapping is None:
            raise errors.ResourceNotFound(f"The resource you requested does not exist. (Event source mapping {key})")
        return mapping

    def put_event_source_mapping(self, mapping: EventSourceMappingSpec) -> EventSourceMappingSpec:
        """Create or replace a mapping after Lambda's checks (its function and qualifier exist; a batch of more
        than 10 needs a batching window); returns what is stored."""
        self.spec(mapping.function, mapping.qualifier)
        if mapping.batch_size > 10 and mapping.maximum_batching_window_s < 1:
            raise errors.InvalidParameterValue("Maximum batch window in seconds must be greater than 0 if maximum "
                                               "batch size is greater than 10")
        for value, name, (low, high) in ((mapping.batch_size, "BatchSize", BATCH_SIZE_RANGE),
                                         (mapping.maximum_batching_window_s, "MaximumBatchingWindowInSeconds",
                                          BATCHING_WINDOW_S_RANGE)):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise errors.InvalidParameterValue(f"{name} must be a whole number from {low} to {high}")
        queue = self.queues.get(mapping.queue)
        timeout = self.spec(mapping.function, mapping.qualifier).timeout_s
        if queue is not None and queue.visibility_timeout_s < timeout:
            raise errors.InvalidParameterValue(f"Queue visibility timeout: {queue.visibility_timeout_s} seconds is "
                                               f"less than Function timeout: {timeout:g} seconds; raise the queue's "
                                               "visibility timeout (Lambda advises six times the function timeout)")
        concurrency = mapping.maximum_concurrency
        if concurrency is not None and not MAXIMUM_CONCURRENCY_RANGE[0] <= concurrency <= MAXIMUM_CONCURRENCY_RANGE[1]:
            raise errors.InvalidParameterValue("ScalingConfig.MaximumConcurrency must be from 2 to 1000")
        existing = self.event_source_mappings.get(mapping.uuid)
        if existing is not None and dataclasses.replace(existing, last_modified="") == dataclasses.replace(
                mapping, last_modified=""):
            return existing
        mapping = dataclasses.replace(mapping, last_modified=now_text())
        self.store.put_event_source_mapping(mapping)
        self.event_source_mappings[mapping.uuid] = mapping
        self._changed(None)
        return mapping

    def delete_event_source_mapping(self, key: str) -> EventSourceMappingSpec:
        mapping = self.event_source_mapping(key)
        self.store.delete_event_source_mapping(key)
        del self.event_source_mappings[key]
        self._changed(None)
        return mapping

    def _apply_event_source_mappings(self, project: Project) -> list[Change]:
        """The project's mappings (one per function and queue, with a UUID made from them and the project's name)
        replace the ones it had: those of its site, or, for an unnamed project, those of its functions."""
        wanted = {}
        for mapping in project.event_source_mappings:
            key = str(uuid.uuid5(_MAPPING_IDS, f"{project.name}/{mapping.function}/{mapping.queue}"))
            wanted[key] = dataclasses.replace(mapping, uuid=key, site=project.name)
        changes = []
        for key, mapping in list(self.event_source_mappings.items()):
            mine = mapping.site == project.name and (project.name or mapping.function in project.functions)
            if mine and key not in wanted:
                self.delete_event_source_mapping(key)
                changes.append(Change("deleted", f"queue trigger {mapping.queue} → {mapping.function}"))
        for key, mapping in wanted.items():
            before = self.event_source_mappings.get(key)
            stored = self.put_event_source_mapping(mapping)
            action = "created" if before is None else "unchanged" if stored is before else "updated"
            changes.append(Change(action, f"queue trigger {mapping.queue} → {mapping.function}",
                                  f"batches of {mapping.batch_size}"))
        return changes

    # -- asynchronous invocation configs -----------------------------------------------------------------------

    def event_invoke_config(self, function: str, qualifier: str | None = None) -> EventInvokeConfig:
        """How asynchronous invocations of exactly ``function:qualifier`` (None: ``$LATEST``) are handled: the stored
        config, or Lambda's defaults. A plain lookup that never raises, for events whose function may be gone."""
        qualifier = qualifier or LATEST
        return self.event_invoke_configs.get((function, qualifier)) or EventInvokeConfig(function, qualifier)

    def stored_event_invoke_config(self, function: str, qualifier: str | None = None) -> EventInvokeConfig:
        """The config stored for ``function:qualifier`` (None: ``$LATEST``); ``ResourceNotFound`` when there is none
        (worded as Lambda words it), or when the function, version or alias does not exist."""
        qualifier = qualifier or LATEST
        self.spec(function, qualifier)
        found = self.event_invoke_configs.get((function, qualifier))
        if found is None:
            raise errors.ResourceNotFound(f"The function {function_arn(function, qualifier)} doesn't have an "
                                          "EventInvokeConfig")
        return found

    def put_event_invoke_config(self, config: EventInvokeConfig, *, replace: bool) -> EventInvokeConfig:
        """Store the asynchronous invocation config of ``config.function:config.qualifier`` after Lambda's checks;
        returns what is stored (the stored one, unwritten, when nothing changed).

        ``replace`` is Lambda's Put: ``config`` is the whole config, created or replaced. Without it, Update: a config
        must be stored already; the caller has merged the fields the request gives into it (``api/shapes.py``).
        """
        self.spec(config.function, config.qualifier)  # the function, version or alias must exist
        key = (config.function, config.qualifier)
        existing = self.event_invoke_configs.get(key) if replace else self.stored_event_invoke_config(*key)
        self._check_event_invoke_config(config)
        if existing is not None and dataclasses.replace(existing, last_modified="") == dataclasses.replace(
                config, last_modified=""):
            return existing
        config = dataclasses.replace(config, last_modified=now_text())
        self.store.put_event_invoke_config(config)
        self.event_invoke_configs[key] = config
        self._changed(config.function)
        return config

    def delete_event_invoke_config(self, function: str, qualifier: str | None = None) -> None:
        """Forget the config of ``function:qualifier`` (None: ``$LATEST``); ``ResourceNotFound`` if none is stored."""
        config = self.stored_event_invoke_config(function, qualifier)
        self.store.delete_event_invoke_config(function, config.qualifier)
        del self.event_invoke_configs[(function, config.qualifier)]
        self._changed(function)

    def _check_event_invoke_config(self, config: EventInvokeConfig) -> None:
        for value, name, (low, high) in ((config.maximum_retry_attempts, "MaximumRetryAttempts",
                                          MAX_RETRY_ATTEMPTS_RANGE),
                                         (config.maximum_event_age_s, "MaximumEventAgeInSeconds",
                                          MAX_EVENT_AGE_S_RANGE)):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise errors.InvalidParameterValue(f"{name} must be a whole number from {low} to {high}, "
                                                   f"got {value!r}")
        for which, arn in (("OnSuccess", config.on_success), ("OnFailure", config.on_failure)):
            if arn is not None:
                self._check_destination(config.function, which, arn)

    def _check_destination(self, function: str, which: str, arn: str) -> None:
        """A destination names a function that exists (and its version or alias, if it names one) or a well-formed
        queue. Lambda also checks that the function may send to it; Hearth has no IAM, so existence is all. Queues
        cannot be checked yet: Hearth has none, so a well-formed standard queue ARN is accepted as it is."""
        try:
            destination = parse_destination(arn)
        except ValueError as exc:
            raise errors.InvalidParameterValue(f"DestinationConfig.{which}.Destination: {exc}") from None
        if destination.kind != "function":
            return
        invalid = f"The destination ARN {arn} is invalid ({which})"
        if destination.name == function:  # Lambda refuses it: each delivery would start the function again
            raise errors.InvalidParameterValue(f"{invalid}: you can't specify the function as a destination for "
                                               "itself; send the records to another function or a queue")
        if destination.name not in self.functions:
            raise errors.InvalidParameterValue(f"{invalid}: function {destination.name} does not exist; create it "
                                               "first (Hearth checks that a destination function exists, not "
                                               "permissions: it has no IAM)")
        qualifier = destination.qualifier
        if qualifier not in (None, LATEST) and qualifier not in self.versions[destination.name] \
                and qualifier not in self.aliases[destination.name]:
            raise errors.InvalidParameterValue(f"{invalid}: function {destination.name} has no version or alias "
                                               f"{qualifier}")

    def _apply_schedules(self, project: Project) -> list[Change]:
        """The project's schedules (named ``<project>.<name>`` on the platform) replace the ones it had: those of
        its site, or, for an unnamed project, those of its functions."""
        wanted = {f"{project.name}.{spec.name}" if project.name else spec.name:
                  dataclasses.replace(spec, name=f"{project.name}.{spec.name}" if project.name else spec.name,
                                      site=project.name)
                  for spec in project.schedules}
        owned = [spec for spec in self.schedules.values()
                 if spec.site == project.name and (project.name or spec.function in project.functions)]
        changes = []
        for spec in owned:
            if spec.name not in wanted:
                self.delete_schedule(spec.name)
                changes.append(Change("deleted", f"schedule {spec.name}", f"{spec.expression} → {spec.target}"))
        for name, spec in wanted.items():
            other = self.schedules.get(name)
            if other is not None and other.site != spec.site:
                raise errors.ResourceConflict(f"schedule {name} belongs to project {other.site!r}; rename one")
            action = "unchanged" if other == spec else "updated" if other is not None else "created"
            if action != "unchanged":
                self.put_schedule(spec)
            changes.append(Change(action, f"schedule {name}", f"{spec.expression} → {spec.target}"))
        return changes

    def put_schedule(self, spec: ScheduleSpec) -> None:
        self.store.put_schedule(spec)
        self.schedules[spec.name] = spec
        self._changed(None)

    def delete_schedule(self, name: str) -> None:
        if name in self.schedules:
            self.store.delete_schedule(name)
            del self.schedules[name]
            self._changed(None)

    def _apply_event_invoke_configs(self, project: Project) -> list[Change]:
        """The project's ``[functions.NAME.async]`` tables are the whole truth for its functions' ``$LATEST``: one
        dropped from the manifest is deleted. Configs of versions and aliases (set with the Lambda API) are kept: a
        manifest cannot declare them."""
        declared = {(config.function, config.qualifier) for config in project.event_invoke_configs}
        changes = []
        for function, qualifier in [key for key in self.event_invoke_configs
                                    if key[0] in project.functions and key[1] == LATEST and key not in declared]:
            self.delete_event_invoke_config(function, qualifier)
            changes.append(Change("deleted", _async_subject(function, qualifier)))
        for config in project.event_invoke_configs:
            existing = self.event_invoke_configs.get((config.function, config.qualifier))
            stored = self.put_event_invoke_config(config, replace=True)
            action = "created" if existing is None else "unchanged" if stored is existing else "updated"
            changes.append(Change(action, _async_subject(config.function, config.qualifier), _async_detail(stored)))
        return changes

    # -- queues ------------------------------------------------------------------------------------------------
    # Only their settings live here: their messages are in the event store, which the SQS API (api/sqs.py) and the
    # platform's queue service (triggers/queues.py) reach. Deleting a queue here leaves its messages; the SQS API's
    # DeleteQueue purges them explicitly.

    def queue(self, name: str) -> QueueSpec:
        """The queue named ``name``; ``QueueNotFound`` (SQS's QueueDoesNotExist) when there is none."""
        found = self.queues.get(name)
        if found is None:
            raise errors.QueueNotFound(f"The specified queue {name} does not exist.")
        return found

    def create_queue(self, spec: QueueSpec) -> QueueSpec:
        """Add a queue; as SQS's CreateQueue, creating an existing queue with the same settings returns it, and with
        other settings is ``QueueNameExists``."""
        existing = self.queues.get(spec.name)
        if existing is not None:
            if _same_queue(existing, spec):
                return existing
            raise errors.QueueNameExists(f"A queue already exists with the same name ({spec.name}) and different "
                                         f"attributes: {_queue_difference(existing, spec)}")
        self._check_queue(spec)
        spec = dataclasses.replace(spec, created=spec.created or now_text())
        self.store.put_queue(spec)
        self.queues[spec.name] = spec
        self._changed(None)
        return spec

    def update_queue(self, spec: QueueSpec) -> QueueSpec:
        """Replace an existing queue's settings (and owner); returns what is stored (the stored spec, unwritten,
        when nothing changed). Messages already in the queue stay."""
        existing = self.queue(spec.name)
        spec = dataclasses.replace(spec, created=existing.created)
        if spec == existing:
            return existing
        self._check_queue(spec)
        self.store.put_queue(spec)
        self.queues[spec.name] = spec
        self._changed(None)
        return spec

    def delete_queue(self, name: str) -> None:
        """Forget a queue's settings (its messages are the caller's to purge); ``QueueNotFound`` if missing."""
        self.queue(name)
        self.store.delete_queue(name)
        del self.queues[name]
        self._changed(None)

    def _check_queue(self, spec: QueueSpec) -> None:
        problem = queue_problem(spec)
        if problem is not None and problem[0] == "name":  # a parameter, not an attribute: SQS's own words first
            raise errors.InvalidParameterValue(f"Can only include alphanumeric characters, hyphens, or underscores. "
                                               f"1 to 80 in length: {problem[1]}")
        if problem is not None:
            field, text = problem
            raise errors.InvalidAttributeValue(f"Invalid value for the parameter {ATTRIBUTE_OF[field]} of queue "
                                               f"{spec.name}: {text}")
        if spec.dead_letter_queue is not None and spec.dead_letter_queue not in self.queues:
            raise errors.InvalidAttributeValue(f"Invalid value for the parameter RedrivePolicy of queue {spec.name}: "
                                               f"the dead-letter queue {spec.dead_letter_queue} does not exist; "
                                               "create it first")

    def _apply_queues(self, project: Project, *, prune: bool) -> list[Change]:
        """Create or update the project's queues (its site owns them; one made through the API is adopted). A queue
        the project no longer declares is kept with its messages, unless ``prune`` (``hearth dev``), which also
        deletes other projects' queues; the messages of a pruned queue stay in the event store."""
        site = project.name
        wanted = {spec.name: dataclasses.replace(spec, site=site) for spec in project.queues}
        changes = []
        for spec in list(self.queues.values()):
            if spec.name in wanted or spec.site == "" or (spec.site != site and not prune):
                continue
            if prune:
                self.delete_queue(spec.name)
                changes.append(Change("deleted", f"queue {spec.name}"))
            else:
                changes.append(Change("skipped", f"queue {spec.name}", "no longer in the manifest; kept with its "
                                                                      "messages (aws sqs delete-queue deletes it)"))
        for spec in _dead_letter_queues_first(wanted):
            existing = self.queues.get(spec.name)
            if existing is not None and existing.site not in ("", site):
                raise errors.ResourceConflict(f"queue {spec.name} belongs to project {existing.site!r}; rename one")
            if existing is None:
                self.create_queue(spec)
                action = "created"
            else:
                action = "unchanged" if self.update_queue(spec) is existing else "updated"
            changes.append(Change(action, f"queue {spec.name}", _queue_detail(spec)))
        return changes


def _async_subject(function: str, qualifier: str) -> str:
    return f"async {function}" if qualifier == LATEST else f"async {function}:{qualifier}"


def _async_detail(config: EventInvokeConfig) -> str:
    parts = [f"{config.maximum_retry_attempts} retries", f"max age {config.maximum_event_age_s}s"]
    parts += [f"{which} → {arn}" for which, arn in (("on success", config.on_success),
                                                     ("on failure", config.on_failure)) if arn is not None]
    return ", ".join(parts)


def _same_queue(a: QueueSpec, b: QueueSpec) -> bool:
    """Equal settings, whoever declared them and whenever."""
    return dataclasses.replace(a, site="", created="") == dataclasses.replace(b, site="", created="")


def _queue_difference(a: QueueSpec, b: QueueSpec) -> str:
    return ", ".join(f"{ATTRIBUTE_OF[f.name]} is {getattr(a, f.name)!r}, not {getattr(b, f.name)!r}"
                     for f in dataclasses.fields(QueueSpec)
                     if f.name in ATTRIBUTE_OF and getattr(a, f.name) != getattr(b, f.name))


def _dead_letter_queues_first(queues: Mapping[str, QueueSpec]) -> list[QueueSpec]:
    """``queues`` ordered so that a dead-letter queue among them comes before the queues that use it."""
    ordered: list[QueueSpec] = []
    placed: set[str] = set()
    pending = list(queues.values())
    while pending:
        ready = [spec for spec in pending if spec.dead_letter_queue not in queues
                 or spec.dead_letter_queue in placed] or pending[:1]  # a cycle: the existence check will say so
        for spec in ready:
            ordered.append(spec)
            placed.add(spec.name)
        pending = [spec for spec in pending if spec.name not in placed]
    return ordered


def _queue_detail(spec: QueueSpec) -> str:
    parts = [f"visibility {spec.visibility_timeout_s} s", f"retention {spec.message_retention_s} s"]
    if spec.delay_s:
        parts.append(f"delay {spec.delay_s} s")
    if spec.dead_letter_queue is not None:
        parts.append(f"after {spec.max_receive_count} receives → {spec.dead_letter_queue}")
    return ", ".join(parts)
