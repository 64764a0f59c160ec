"""The Python entry points Vercel accepts, in Hearth's Python runtime: which object of a module serves a function,
and the adapter that turns it into a ``(event, context) -> response`` handler.

The worker imports this package only for a handler that is not a plain ``def handler(event, context)``, and each
adapter module only when a function uses it: a Lambda-style function pays nothing for them.

Where the entry point is:

- ``module.attr`` (``app.handler``, ``pkg.mod.app``): the attribute, as on Lambda.
- a path ending in ``.py`` (``api/users/[id].py``): that file of the code folder, loaded from its location under a
  module name of its own (Vercel's file names hold ``[``, ``]`` and ``...``, which no import statement can name);
  the code folder is first on ``sys.path``, so ``from _lib import x`` and the project's packages import as usual.
  Its entry point is the first of ``handler``, ``Handler``, ``app`` the file defines, in Vercel's order.

What it is, for ``handler``, ``Handler`` and any ``module.attr``:

1. a class that subclasses ``http.server.BaseHTTPRequestHandler``: run on each request as ``http.server`` would;
2. a callable that takes three positional parameters: an ASGI 3 app ``(scope, receive, send)``;
3. a callable whose second positional parameter is named ``start_response``: a WSGI app. That is PEP 3333's name,
   used by Flask, Django, Werkzeug and WhiteNoise alike; a Lambda handler takes ``(event, context)``;
4. any other callable: Hearth's own ``handler(event, context)`` (sync or async), called unchanged.

``app`` in a file is what Vercel takes it for: an ASGI app when it or its ``__call__`` is a coroutine function
(then ``app.asgi`` instead, when that is callable) or when it takes three positional parameters; else a WSGI app.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from hearth import errors

if TYPE_CHECKING:
    from hearth.runtimes.python.entry.output import Output
    from hearth.runtimes.python.entry.request import ProxyResponse

NAMES = ("handler", "Handler", "app")  # looked for in a file, in this order (Vercel's)
MODULE_PREFIX = "hearth_entry_"
# The kind of entry point → the module of this package whose ``adapt(target)`` serves it.
ADAPTERS = {"http.server": "http_handler", "wsgi": "wsgi", "asgi": "asgi"}


class Adapter(Protocol):
    """An entry point made into a handler: an API Gateway 2.0 event in, a 2.0 proxy response out, or None when the
    response has streamed through ``output`` (``output.py``; the worker arms it for an invocation that may)."""

    output: Output

    def __call__(self, event: dict[str, Any], context: Any) -> ProxyResponse | None: ...


def import_file(path: str, code_dir: str = ".") -> ModuleType:
    """Execute the file ``path`` of the code folder (``code_dir``, the working directory unless the instance
    reaches it through a descriptor) as a module; import errors propagate."""
    from importlib import util

    location = os.path.abspath(os.path.join(code_dir, path))
    if not os.path.isfile(location):
        raise ModuleNotFoundError(f"No file named '{path}' in the code folder")
    name = MODULE_PREFIX + re.sub(r"\W", "_", path[:-3])
    spec = util.spec_from_file_location(name, location)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"'{path}' cannot be loaded as a Python module")
    module = util.module_from_spec(spec)
    sys.modules[name] = module  # before it runs: dataclasses and pydantic look their module up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def from_file(module: ModuleType, path: str) -> Callable[..., Any]:
    """The handler for the entry point of the file ``path`` (loaded as ``module``), found as Vercel finds it."""
    names = vars(module)
    found = next((name for name in NAMES if name in names), None)
    if found is None:
        raise errors.HandlerNotFound(
            f"No entry point in {path}: Hearth looks for 'handler' (a BaseHTTPRequestHandler subclass, a WSGI or "
            "ASGI app, or a function handler(event, context)), then 'Handler', then 'app' (a WSGI or ASGI app)")
    target = names[found]
    where = f"'{found}' in {path}"
    if not callable(target):
        raise errors.HandlerNotFound(f"Handler {where} is not callable (it is a {type(target).__name__})")
    if found == "app":
        return _adapter(_app_kind(target), target)
    return adapt(target)


def adapt(target: Callable[..., Any]) -> Callable[..., Any]:
    """``target`` itself when it is a Lambda-style handler, else the adapter that serves it."""
    kind = kind_of(target)
    return target if kind == "lambda" else _adapter(kind, target)


def kind_of(target: Callable[..., Any]) -> str:
    """What a ``handler`` or ``module.attr`` entry point is: ``http.server``, ``asgi``, ``wsgi`` or ``lambda``."""
    if _is_request_handler_class(target):
        return "http.server"
    parameters = _positional(target)
    if parameters is None:
        return "lambda"
    names, required = parameters
    if required == 3:
        return "asgi"
    if len(names) >= 2 and names[1] == "start_response":
        return "wsgi"
    return "lambda"


def _app_kind(app: Callable[..., Any]) -> str:
    import inspect

    if _is_request_handler_class(app):
        return "http.server"
    if inspect.iscoroutinefunction(app) or inspect.iscoroutinefunction(type(app).__call__):
        return "asgi"
    parameters = _positional(app)
    return "asgi" if parameters is not None and parameters[1] == 3 else "wsgi"


def _adapter(kind: str, target: Callable[..., Any]) -> Adapter:
    if kind == "asgi":
        asgi = getattr(target, "asgi", None)  # frameworks that are not ASGI apps themselves expose one there
        target = asgi if callable(asgi) else target
    module = importlib.import_module(f"{__name__}.{ADAPTERS[kind]}")
    adapter: Adapter = module.adapt(target)
    return adapter


def _is_request_handler_class(target: object) -> bool:
    # A module that subclasses BaseHTTPRequestHandler has imported http.server; no need to import it otherwise.
    server = sys.modules.get("http.server")
    return server is not None and isinstance(target, type) and issubclass(target, server.BaseHTTPRequestHandler)


def _positional(target: Callable[..., Any]) -> tuple[list[str], int] | None:
    """The names of the positional parameters a call to ``target`` takes, and how many have no default; None if
    the signature cannot be read."""
    code = getattr(target, "__code__", None)
    if code is not None and not hasattr(target, "__self__"):  # a plain function: no need for inspect's work
        count = code.co_argcount
        return list(code.co_varnames[:count]), count - len(getattr(target, "__defaults__", None) or ())
    import inspect

    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return None
    names: list[str] = []
    required = 0
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            names.append(parameter.name)
            required += parameter.default is parameter.empty
    return names, required
