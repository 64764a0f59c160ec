"""``hearth deploy``, ``publish``, ``ls`` and ``rm`` against a real ``hearth serve``: the content-addressed code store,
manifest aliases with header rules and weights behind gateway routes, provisioned instances, and a restart."""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECTS, Serve, poll

SERVE_ARGS = ("--concurrency-limit", "20")


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    with Serve(tmp_path_factory.mktemp("serve-deploy"), *SERVE_ARGS) as running:
        yield running


def copy_project(name: str, where: Path) -> Path:
    target = where / name
    shutil.copytree(PROJECTS / name, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def set_mark(project: Path, mark: str) -> None:
    app = project / "app.py"
    app.write_text(re.sub(r'MARK = "[^"]*"', f'MARK = "{mark}"', app.read_text()))


def changes(output: str) -> dict[str, str]:
    """``{"function greet": "created", …}`` from the lines ``hearth deploy`` prints."""
    found = {}
    for line in output.splitlines():
        match = re.match(r"^  (created|updated|unchanged|deleted|skipped)\s+(route \S+ \S+|\S+ \S+)", line)
        if match:
            found[match.group(2)] = match.group(1)
    return found


def test_deploy_versions_aliases_rules_and_routes(serve: Serve, tmp_path: Path) -> None:
    project = copy_project("serve_app", tmp_path)
    client = serve.client()

    first = serve.deploy(project)
    assert changes(first) == {
        "function greet": "created", "alias greet:live": "skipped", "alias greet:stable": "skipped",
        "provisioned greet:stable": "skipped", "route ANY /greet": "created", "route ANY /live": "created",
        "route ANY /stable": "created", "route GET /v3": "created"}, first
    assert "hearth publish greet" in first  # what to do about the skipped aliases
    assert f"ANY {serve.process.gateway}/greet → greet" in first and ", stored)" in first
    response = serve.gateway.get("/greet")
    assert response.status_code == 200 and response.json()["mark"] == "one"
    assert response.headers["x-amz-executed-version"] == "$LATEST"
    assert serve.gateway.get("/v3").status_code == 404  # no version 3 yet

    # an unchanged redeploy stores nothing and keeps $LATEST's revision
    revision = client.get_function(FunctionName="greet")["Configuration"]["RevisionId"]
    packages = serve.packages()
    again = serve.deploy(project)
    assert changes(again)["function greet"] == "unchanged" and "already stored)" in again
    assert serve.packages() == packages
    assert client.get_function(FunctionName="greet")["Configuration"]["RevisionId"] == revision

    assert serve.publish("greet") == "1"
    assert serve.publish("greet") == "1"  # nothing changed since
    set_mark(project, "two")
    second = changes(serve.deploy(project))  # version 1 exists now: alias stable can point at it
    assert (second["function greet"], second["alias greet:stable"], second["alias greet:live"]) == (
        "updated", "created", "skipped")
    assert second["provisioned greet:stable"] == "updated"
    assert serve.publish("greet") == "2"
    set_mark(project, "three")
    assert changes(serve.deploy(project))["function greet"] == "updated"
    assert serve.publish("greet") == "3"
    assert len(serve.packages()) == len(packages) + 2

    final = changes(serve.deploy(project))
    assert (final["function greet"], final["alias greet:live"], final["alias greet:stable"]) == (
        "unchanged", "created", "unchanged")
    assert "provisioned greet:stable" not in final

    # the manifest travels apart from the code: a new route changes no function, revision or version
    revision = client.get_function(FunctionName="greet")["Configuration"]["RevisionId"]
    manifest = project / "hearth.toml"
    manifest.write_text(manifest.read_text() + '\n[[routes]]\npath = "/extra"\nfunction = "greet:3"\n')
    routed_only = changes(serve.deploy(project))
    assert (routed_only["function greet"], routed_only["route ANY /extra"]) == ("unchanged", "created")
    assert client.get_function(FunctionName="greet")["Configuration"]["RevisionId"] == revision
    assert serve.publish("greet") == "3"
    assert serve.gateway.get("/extra").headers["x-amz-executed-version"] == "3"

    # routes to a version and to aliases; the version that ran is in X-Amz-Executed-Version and the START line
    pinned = serve.gateway.get("/v3")
    assert pinned.json()["mark"] == "three" and pinned.headers["x-amz-executed-version"] == "3"
    for headers in ({"x-env": "gray"}, {"x-uid": "0"}, {"x-uid": "42"}, {"x-uid": "99"}, {"X-UID": "7.5"}):
        for _ in range(10):  # rules come before the weights: always version 3, never by chance
            routed = serve.gateway.get("/live", headers=headers)
            assert routed.headers["x-amz-executed-version"] == "3", headers
            assert (routed.json()["mark"], routed.json()["version"]) == ("three", "3")
    request_id = routed.headers["x-amzn-requestid"]
    assert serve.log_line(f"START RequestId: {request_id} ") == f"START RequestId: {request_id} Version: 3"

    # No rule matches: the weights decide. 300 calls with 10 % on version 3 give Binomial(300, 0.1), mean 30,
    # standard deviation 5.2; 5 standard deviations allow 4 to 56 (a correct split fails once in ~1.7 million
    # runs), while "rules only" (300), "never the extra version" (0) or "extra version as main" (270) fail.
    versions = Counter(serve.gateway.get("/live", headers=headers).headers["x-amz-executed-version"]
                       for headers in [{"x-env": "blue"}, {"x-uid": "100"}, {"x-uid": "abc"}, {}] * 75)
    assert set(versions) <= {"2", "3"} and 4 <= versions["3"] <= 56, versions

    # the same rules apply to the Lambda API's Invoke, which passes the request's headers on
    client.meta.events.register("before-sign.lambda.Invoke",
                                lambda request, **_: request.headers.__setitem__("x-env", "gray"))
    assert client.invoke(FunctionName="greet", Qualifier="live")["ExecutedVersion"] == "3"

    # the manifest's provisioned instance of greet:stable (version 1) serves without an Init Duration
    def provisioned() -> set[int]:
        return {i["pid"] for i in serve.instances("greet") if i["provisioned"] and i["version"] == "1"
                and i["state"] == "idle"}

    assert poll(lambda: len(provisioned()) == 1, 20, 0.05)
    stable = serve.gateway.get("/stable")
    assert stable.json()["mark"] == "one" and stable.json()["pid"] in provisioned()
    request_id = stable.headers["x-amzn-requestid"]
    report = serve.log_line(f"REPORT RequestId: {request_id}")
    assert "Init Duration" not in report
    record = serve.native("/hearth/invocations", request_id=request_id)["invocations"][0]
    assert record["cold"] is False and record["version"] == "1"

    # idle on-demand instances are reaped after idle_timeout_s (0.5 s); the provisioned one is not
    keep = provisioned()
    assert poll(lambda: not any(not i["provisioned"] for i in serve.instances("greet")), 20, 0.05)
    assert provisioned() == keep

    listing = serve.cli("ls")
    row = r"^ greet\s+python\s+app\.greet\s+128 MB\s+3 s\s+\S{12}\s+\d{4}-\d\d-\d\dT[\d:.]+\+0000\s*$"
    assert listing.returncode == 0 and re.search(row, listing.stdout, re.MULTILINE), listing.stdout  # not cut


def make_wheel(folder: Path, value: int) -> None:
    """A minimal pure-Python wheel ``mini-1.0`` holding ``pkg`` with ``VALUE``, built by hand (no network)."""
    files = {
        "pkg/__init__.py": f"VALUE = {value}\n".encode(),
        "mini-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: mini\nVersion: 1.0\n",
        "mini-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: hearth-tests\nRoot-Is-Purelib: true\n"
                                    b"Tag: py3-none-any\n",
    }
    record = [f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},"
              f"{len(data)}" for name, data in files.items()]
    files["mini-1.0.dist-info/RECORD"] = ("\n".join([*record, "mini-1.0.dist-info/RECORD,,"]) + "\n").encode()
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / "mini-1.0-py3-none-any.whl", "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)


@pytest.mark.slow  # runs pip
def test_requirements_are_installed_into_the_package(serve: Serve, tmp_path: Path) -> None:
    project = copy_project("serve_deps", tmp_path)
    make_wheel(project / "vendor", 42)
    output = serve.deploy(project)
    assert changes(output)["function deps"] == "created", output
    body = serve.gateway.get("/deps").json()
    assert body["value"] == 42
    assert Path(body["from"]).is_relative_to(serve.data_dir / "code")  # installed inside the package

    packages = serve.packages()
    again = serve.deploy(project)  # the cached install gives the same bytes
    assert changes(again)["function deps"] == "unchanged" and "already stored)" in again
    assert serve.packages() == packages

    make_wheel(project / "vendor", 43)  # a changed local wheel is installed again
    assert changes(serve.deploy(project))["function deps"] == "updated"
    assert serve.gateway.get("/deps").json()["value"] == 43


def test_ls_publish_and_rm(serve: Serve, tmp_path: Path) -> None:
    project = tmp_path / "doomed"
    project.mkdir()
    (project / "hearth.toml").write_text('[functions.doomed]\nhandler = "app.handler"\n\n'
                                         '[[routes]]\npath = "/doomed"\nfunction = "doomed"\n')
    (project / "app.py").write_text("def handler(event, context):\n    return 'still here'\n")
    serve.deploy(project)
    assert serve.gateway.get("/doomed").json() == "still here"
    assert serve.publish("doomed") == "1"
    assert re.search(r"^ doomed\s", serve.cli("ls").stdout, re.MULTILINE)

    assert serve.cli("rm", "doomed", "-q", "1").stdout.strip() == "deleted doomed:1"
    versions = serve.client().list_versions_by_function(FunctionName="doomed")["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST"]

    removed = serve.cli("rm", "doomed")
    assert removed.returncode == 0 and removed.stdout.strip() == "deleted doomed"
    assert not re.search(r"^ doomed\s", serve.cli("ls").stdout, re.MULTILINE)
    assert serve.gateway.get("/doomed").status_code == 404  # its routes went with it

    for args in (("rm", "doomed"), ("publish", "doomed")):
        missing = serve.cli(*args)
        assert missing.returncode == 1 and "ResourceNotFoundException" in missing.stderr, missing.stderr
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "hearth.toml").write_text('[functions.x]\nhandler = "nodots"\n')
    failed = serve.cli("deploy", str(bad))
    assert failed.returncode == 2 and "hearth.toml:2" in failed.stderr and "handler" in failed.stderr


def snapshot(serve: Serve) -> dict[str, Any]:
    """What a restart must keep, as the Lambda API shows it."""
    client = serve.client()

    def strip(value: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in value.items() if k != "ResponseMetadata"}

    return {
        "latest": strip(client.get_function_configuration(FunctionName="greet")),
        "versions": strip(client.list_versions_by_function(FunctionName="greet")),
        "aliases": strip(client.list_aliases(FunctionName="greet")),
        "concurrency": strip(client.get_function_concurrency(FunctionName="greet")),
        "provisioned": client.get_provisioned_concurrency_config(FunctionName="greet", Qualifier="stable")[
            "RequestedProvisionedConcurrentExecutions"],
        "functions": sorted(f["FunctionName"] for f in client.list_functions()["Functions"]),
    }


def test_state_survives_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    project = copy_project("serve_app", tmp_path)
    first = Serve(data_dir, *SERVE_ARGS)
    try:
        created = "".join(first.process.stderr)
        assert "created the admin key" in created and first.key["secret_access_key"] in created
        assert (data_dir / "credentials.json").stat().st_mode & 0o777 == 0o600
        first.deploy(project)
        first.publish("greet")
        set_mark(project, "two")
        first.deploy(project)
        first.publish("greet")
        first.deploy(project)  # now alias stable (→ 1, provisioned) can be created
        client = first.client()
        client.create_alias(FunctionName="greet", Name="canary", FunctionVersion="1",
                            RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
        client.put_function_concurrency(FunctionName="greet", ReservedConcurrentExecutions=5)
        before = snapshot(first)
        packages = first.packages()
    finally:
        first.stop()

    second = Serve(data_dir, *SERVE_ARGS)
    try:
        assert "created the admin key" not in "".join(second.process.stderr)  # printed once, on the first start
        assert second.key == first.key
        assert snapshot(second) == before
        assert second.packages() == packages
        response = second.gateway.get("/greet")
        assert response.json()["mark"] == "two" and response.headers["x-amz-executed-version"] == "$LATEST"
        assert {second.client().invoke(FunctionName="greet", Qualifier="canary")["ExecutedVersion"]
                for _ in range(40)} == {"1", "2"}  # P(one version 40 times) = 2**-39

        # provisioned instances come back without being asked
        assert poll(lambda: any(i["provisioned"] and i["state"] == "idle" for i in second.instances("greet")), 20,
                    0.05)
        stable = second.gateway.get("/stable")
        assert stable.headers["x-amz-executed-version"] == "1"
        assert "Init Duration" not in second.log_line(f"REPORT RequestId: {stable.headers['x-amzn-requestid']}")

        again = second.deploy(project)
        assert changes(again)["function greet"] == "unchanged" and "already stored)" in again
        assert snapshot(second)["latest"]["RevisionId"] == before["latest"]["RevisionId"]
    finally:
        second.stop()
