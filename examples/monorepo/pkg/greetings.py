"""A greeting every app of the monorepo uses."""


def greet(name: str) -> str:
    return f"hello, {name}, from pkg!"
