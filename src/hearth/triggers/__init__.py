"""What else starts an invocation besides an HTTP request: schedules, asynchronous invocations, queues and event
source mappings."""
