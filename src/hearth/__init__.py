"""Hearth: a self-hosted serverless platform with AWS Lambda + API Gateway semantics."""

__version__ = "0.1.0"
