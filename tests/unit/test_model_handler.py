"""``handler_problem``: what a Python handler may be (``module.attr`` or the path of a ``.py`` file)."""

from __future__ import annotations

import pytest

from hearth.model import handler_problem


@pytest.mark.parametrize("handler", [
    "app.handler", "pkg.mod.fn", "index.py", "api/index.py", "api/users/[id].py", "api/[...slug].py",
    "api/_lib-x/[[...opt]].py",
])
def test_valid_python_handlers(handler: str) -> None:
    assert handler_problem("python3.12", handler) is None


@pytest.mark.parametrize(("handler", "words"), [
    ("app", 'use "module.function"'),
    ("api/index", "or the path of a .py file in the code folder, e.g. api/users/[id].py"),
    ("/srv/api/index.py", 'no leading "/"'),
    ("api/../secrets.py", 'no "." or ".." parts'),
    ("./api/index.py", 'no "." or ".." parts'),
    ("api//index.py", "no empty ones"),
    ("api/my file.py", "without spaces"),
    ("api\\index.py", "backslashes"),
    ("api/.py", "give its name before .py"),
    ("a/" * 64 + "x.py", "at most 128 characters"),
])
def test_invalid_python_handlers(handler: str, words: str) -> None:
    problem = handler_problem("python", handler)
    assert problem is not None and words in problem
