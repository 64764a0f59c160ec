"""Which object serves a function and how: the detection rule, file handlers, and the worker's one loading path."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from entry_events import event, respond
from fastapi import FastAPI
from flask import Flask

from hearth import errors
from hearth.runtimes.python import entry, worker
from hearth.runtimes.python.entry.asgi import AsgiAdapter
from hearth.runtimes.python.entry.http_handler import HttpHandlerAdapter
from hearth.runtimes.python.entry.wsgi import WsgiAdapter


def lambda_handler(event: Any, context: Any) -> Any:
    return {"ok": True}


async def async_lambda_handler(event: Any, context: Any) -> Any:
    return {"ok": True}


def wsgi_function(environ: Any, start_response: Any) -> list[bytes]:
    return []


async def asgi_function(scope: Any, receive: Any, send: Any) -> None:
    pass


class Handler(BaseHTTPRequestHandler):
    pass


class LambdaObject:
    """Mangum's shape: an object called with (event, context)."""

    def __call__(self, event: Any, context: Any) -> Any:
        return event

    def method(self, event: Any, context: Any) -> Any:
        return event


class AsgiObject:
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        pass


@pytest.mark.parametrize(("target", "kind"), [
    (lambda_handler, "lambda"),
    (async_lambda_handler, "lambda"),
    (lambda event, context=None: event, "lambda"),
    (functools.partial(lambda greeting, event, context: event, "hi"), "lambda"),
    (LambdaObject(), "lambda"),
    (LambdaObject().method, "lambda"),  # self is not one of the call's parameters
    (print, "lambda"),  # a signature that cannot be read: called as handler(event, context)
    (Handler, "http.server"),
    (wsgi_function, "wsgi"),
    (Flask("hearth_test_detect"), "wsgi"),
    (asgi_function, "asgi"),
    (AsgiObject(), "asgi"),
    (FastAPI(), "asgi"),
])
def test_the_kind_of_a_handler(target: Callable[..., Any], kind: str) -> None:
    assert entry.kind_of(target) == kind


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A code folder as the instance sees it: the working directory, first on sys.path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith(entry.MODULE_PREFIX) or name in ("_lib", "shared", "shared.text", "apps"):
            del sys.modules[name]


def write(root: Path, path: str, source: str) -> None:
    file = root / path
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(textwrap.dedent(source))


HELLO = """
    from http.server import BaseHTTPRequestHandler

    class handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header('Content-type', 'text/plain')
            self.end_headers()
            self.wfile.write(('Hello from ' + __name__).encode())
"""


def test_a_file_with_brackets_in_its_name_and_a_handler_class(project: Path) -> None:
    write(project, "api/users/[id].py", HELLO)
    handler = worker._load_handler("api/users/[id].py")
    assert isinstance(handler, HttpHandlerAdapter)
    assert respond(handler(event(), None))[2] == b"Hello from hearth_entry_api_users__id_"
    assert "hearth_entry_api_users__id_" in sys.modules  # registered while it ran, as dataclasses need


def test_a_file_imports_from_the_project_root(project: Path) -> None:
    write(project, "_lib/__init__.py", "GREETING = 'hi'\n")
    write(project, "shared/__init__.py", "")
    write(project, "shared/text.py", "def shout(s):\n    return s.upper()\n")
    write(project, "api/[...slug].py", """
        from flask import Flask
        from _lib import GREETING
        from shared.text import shout

        app = Flask(__name__)

        @app.route("/<path:slug>")
        def hello(slug):
            return shout(GREETING + " " + slug)
    """)
    handler = worker._load_handler("api/[...slug].py")
    assert isinstance(handler, WsgiAdapter)
    assert respond(handler(event("GET", "/a/b"), None))[2] == b"HI A/B"


def test_an_asgi_app_in_a_file(project: Path) -> None:
    write(project, "api/index.py", """
        from fastapi import FastAPI

        app = FastAPI()

        @app.get("/")
        def read_root():
            return {"Python": "on Vercel"}
    """)
    handler = worker._load_handler("api/index.py")
    assert isinstance(handler, AsgiAdapter)
    try:
        assert respond(handler(event(), None))[2] == b'{"Python":"on Vercel"}'
    finally:
        handler.close()


def test_app_is_what_vercel_takes_it_for(project: Path) -> None:
    write(project, "plain.py", "def app(environ, respond):\n    respond('200 OK', [])\n    return [b'wsgi']\n")
    write(project, "coro.py", "async def app(scope, receive, send):\n    pass\n")
    assert isinstance(worker._load_handler("plain.py"), WsgiAdapter)  # any other name: Vercel's WSGI
    handler = worker._load_handler("coro.py")
    assert isinstance(handler, AsgiAdapter)
    handler.close()


def test_a_lambda_style_handler_in_a_file_is_called_unchanged(project: Path) -> None:
    write(project, "api/hello.py", "def handler(event, context):\n    return {'hello': event['name']}\n"
                                   "app = 'ignored: handler comes first'\n")
    handler = worker._load_handler("api/hello.py")
    assert handler({"name": "ada"}, None) == {"hello": "ada"}


def test_module_attr_handlers(project: Path) -> None:
    write(project, "apps.py", """
        from flask import Flask

        def handler(event, context):
            return event

        web = Flask(__name__)

        @web.route("/")
        def index():
            return "flask"
    """)
    import apps

    assert worker._load_handler("apps.handler") is apps.handler  # unchanged: no adapter
    adapted = worker._load_handler("apps.web")
    assert isinstance(adapted, WsgiAdapter) and respond(adapted(event(), None))[2] == b"flask"


@pytest.mark.parametrize(("source", "error", "message"), [
    (None, errors.ImportModuleError, "Unable to import module 'api/x.py': No file named 'api/x.py'"),
    ("def broken(:\n", errors.UserCodeSyntaxError, "Syntax error in module 'api/x.py'"),
    ("import no_such_module_here\n", errors.ImportModuleError, "No module named 'no_such_module_here'"),
    ("x = 1\n", errors.HandlerNotFound, "No entry point in api/x.py: Hearth looks for 'handler'"),
    ("handler = 'text'\n", errors.HandlerNotFound, "Handler 'handler' in api/x.py is not callable"),
])
def test_file_handler_errors(project: Path, source: str | None, error: type[errors.FunctionFailure],
                             message: str) -> None:
    if source is not None:
        write(project, "api/x.py", source)
    with pytest.raises(error, match=message.replace("(", r"\(").replace(".", r"\.")):
        worker._load_handler("api/x.py")
    if error is not errors.HandlerNotFound:  # a module that did not import is not left half-made
        assert not any(name.startswith(entry.MODULE_PREFIX) for name in sys.modules)


def test_a_module_level_exception_propagates_as_on_lambda(project: Path) -> None:
    write(project, "api/raises.py", "raise RuntimeError('no config')\n")
    with pytest.raises(RuntimeError, match="no config"):
        worker._load_handler("api/raises.py")


def test_the_stack_trace_leaves_the_runtimes_own_frames_out(project: Path) -> None:
    write(project, "api/raises.py", "def fail():\n    raise RuntimeError('no config')\nfail()\n")
    with pytest.raises(RuntimeError) as caught:
        worker._load_handler("api/raises.py")
    payload = worker._error_payload(caught.value)
    assert payload["errorType"] == "RuntimeError"
    assert all("hearth/runtimes/python" not in line for line in payload["stackTrace"])
    assert any("raises.py" in line for line in payload["stackTrace"])
    error = worker._error_payload(errors.MalformedProxyResponse("no response"))
    assert error["errorType"] == "Runtime.MalformedProxyResponse"


def test_a_plain_handler_imports_no_adapter(tmp_path: Path) -> None:
    """The hello-world path stays as lean as before: neither entry nor what the adapters import is loaded."""
    (tmp_path / "hello.py").write_text("def handler(event, context):\n    return event\n")
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from hearth.runtimes.python import worker
        worker._load_handler("hello.handler")
        print(sorted(m for m in ("hearth.runtimes.python.entry", "asyncio", "http.server", "importlib.util")
                     if m in sys.modules))
    """)
    src = str(Path(worker.__file__).parents[3])
    result = subprocess.run([sys.executable, "-S", "-I", "-c", f"import sys; sys.path[:0] = {[src, *sys.path]!r}\n"
                             + script], capture_output=True, text=True, timeout=60, env={**os.environ})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
