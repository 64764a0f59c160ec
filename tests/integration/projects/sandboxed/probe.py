"""What a function can see and do from where it runs: each key of the event asks one question."""

import os
import socket


def _attempt(action):
    try:
        return {"ok": action()}
    except OSError as exc:
        return {"error": type(exc).__name__, "errno": exc.errno}


def _read(path):
    with open(path, encoding="utf-8") as file:
        return file.read()


def _write(path, text):
    with open(path, "w", encoding="utf-8") as file:
        file.write(text)
    return True


def _connect(port):
    with socket.create_connection(("127.0.0.1", port), timeout=2) as connection:
        return connection.recv(16).decode()


def handler(event, context):
    answer = {"pid": os.getpid(), "uid": os.getuid(), "cwd": os.getcwd(), "task_root": os.environ["LAMBDA_TASK_ROOT"]}
    answer["read"] = {path: _attempt(lambda path=path: _read(path)) for path in event.get("read", [])}
    answer["write"] = {path: _attempt(lambda path=path: _write(path, event["text"])) for path in event.get("write", [])}
    answer["list"] = {path: _attempt(lambda path=path: sorted(os.listdir(path))) for path in event.get("list", [])}
    if "connect" in event:
        answer["connect"] = _attempt(lambda: _connect(event["connect"]))
    return answer


def hog(event, context):
    chunks = []
    for _ in range(64):  # 1 GiB at most, far over its 128 MB
        chunks.append(bytearray(16 * 1024 * 1024))
    return len(chunks)
