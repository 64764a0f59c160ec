"""The ``provided`` runtime: any executable speaking the Lambda Runtime API."""
