"""The data plane: route table, API Gateway payload 2.0 events and response mapping."""
