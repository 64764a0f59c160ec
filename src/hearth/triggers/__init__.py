"""Triggers: what starts an invocation other than an HTTP request — schedules, async invocations, queues and event
source mappings. Each feeds the same pools the gateway uses."""
