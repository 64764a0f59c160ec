"""Billing: metering invocations and provisioned concurrency, pricing them, cost reports and idle functions."""
