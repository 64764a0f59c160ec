"""Shared code: files and folders whose name starts with "_" are not functions, but functions import them."""


def greet(name: str) -> str:
    return f"hello, {name}!"
