"""Shared code at the project root, imported by the functions in api/ as on Vercel."""


def greet(name):
    return f"hello, {name}"
