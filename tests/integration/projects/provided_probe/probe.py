"""Makes out-of-order Runtime API calls and returns the status and errorType Hearth answered each with."""

import http.client
import json
import os

api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
BASE = "/2018-06-01/runtime"


def call(method: str, path: str, body: bytes | None = None) -> tuple[int, dict, dict]:
    api.request(method, BASE + path, body=body)
    response = api.getresponse()
    data = response.read()
    return response.status, dict(response.getheaders()), json.loads(data) if data else {}


def answer(status: int, reply: dict) -> dict:
    return {"status": status, "errorType": reply.get("errorType")}


seen: dict = {"early_response": answer(*call("POST", "/invocation/nope/response", b"{}")[::2])}
while True:
    status, headers, event = call("GET", "/invocation/next")
    request_id = headers["Lambda-Runtime-Aws-Request-Id"]
    seen["next_during_invocation"] = answer(*call("GET", "/invocation/next")[::2])
    seen["wrong_id"] = answer(*call("POST", "/invocation/not-this-one/response", b"{}")[::2])
    seen["init_error_after_init"] = answer(*call("POST", "/init/error", b"{}")[::2])
    seen["unknown_path"] = answer(*call("GET", "/nowhere")[::2])
    seen["wrong_method"] = answer(*call("POST", "/invocation/next", b"")[::2])
    seen["next_headers"] = sorted(name.lower() for name in headers if name.lower().startswith("lambda-runtime-")
                                  and name.lower() != "lambda-runtime-client-context")
    seen["client_context"] = headers.get("Lambda-Runtime-Client-Context")
    status, _, reply = call("POST", f"/invocation/{request_id}/response", json.dumps(seen).encode())
    seen = {"previous_response": answer(status, reply),
            "second_answer": answer(*call("POST", f"/invocation/{request_id}/response", b"{}")[::2])}
