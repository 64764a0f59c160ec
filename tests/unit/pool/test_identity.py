"""Who instances run as (``pool/limits/identity.py``): uids per function, the ``--instance-user`` choices, homes,
and which folders an instance's uid can reach by name."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from hearth.errors import ConfigError
from hearth.pool.limits import identity
from hearth.pool.limits.identity import Identities, Identity, SameUser, detect_identities, parse_instance_user
from hearth.runtimes.python import worker

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="making homes for other uids needs root")


def test_each_function_gets_a_stable_uid_of_its_own_and_neighbours_probe_on() -> None:
    first, second = Identities(), Identities()
    try:
        assert first.of("orders") == second.of("orders")  # the same after a restart
        assert first.of("orders").uid >= identity.UID_BASE and first.of("orders").gid == first.of("orders").uid
        assert first.of("orders") != first.of("payments")
    finally:
        first.close()
        second.close()
    crowded = Identities(span=2)
    try:
        uids = {crowded.of(name).uid for name in ("a", "b")}
        assert uids == {identity.UID_BASE, identity.UID_BASE + 1}  # two names in two slots never share one
    finally:
        crowded.close()


def test_a_fixed_identity_is_every_functions() -> None:
    fixed = Identities(Identity(4242, 4343))
    try:
        assert fixed.of("a") == fixed.of("b") == Identity(4242, 4343)
        assert "uid 4242" in fixed.description
    finally:
        fixed.close()


@root_only
def test_an_instance_home_belongs_to_its_uid_and_goes_with_it(tmp_path: Path) -> None:
    policy = Identities()
    try:
        fields = policy.prepare(7, "orders", str(tmp_path))
        uid = policy.of("orders").uid
        home = Path(fields["home"])
        assert (fields["uid"], fields["gid"]) == (uid, uid)
        assert home.stat().st_uid == uid and stat.S_IMODE(home.stat().st_mode) == 0o700
        assert stat.S_IMODE(policy.area.stat().st_mode) == 0o711  # others pass through, cannot list
        assert home.parent.stat().st_uid == uid and stat.S_IMODE(home.parent.stat().st_mode) == 0o700
        policy.release(7)
        assert not home.exists()
    finally:
        policy.close()
    assert not policy.area.exists()


def test_code_reached_by_name_or_through_a_descriptor(tmp_path: Path) -> None:
    policy = Identities()
    try:
        hidden = tmp_path / "private" / "code"
        hidden.mkdir(parents=True)
        (tmp_path / "private").chmod(0o700)
        assert policy.prepare(1, "f", str(hidden))["code_via_fd"] is True
        open_code = Path(policy.area) / "open"
        open_code.mkdir(mode=0o755)
        open_code.chmod(0o755)
        assert policy.prepare(2, "f", str(open_code))["code_via_fd"] is False
    finally:
        policy.close()


def test_reachable_by_others_checks_every_folder_above(tmp_path: Path) -> None:
    outer = tmp_path / "outer"
    inner = outer / "inner"
    inner.mkdir(parents=True)
    for folder in (tmp_path, outer, inner):
        folder.chmod(0o755)
    reachable = all(os.stat(parent).st_mode & 0o001 for parent in [*tmp_path.parents])
    assert worker.reachable_by_others(str(inner)) is reachable
    outer.chmod(0o750)
    assert worker.reachable_by_others(str(inner)) is False
    outer.chmod(0o755)
    inner.chmod(0o711)  # others may enter but not list: not enough to import from
    assert worker.reachable_by_others(str(inner)) is False
    assert worker.reachable_by_others(str(tmp_path / "missing")) is False


def test_instance_user_choices() -> None:
    assert parse_instance_user("auto") == "auto"
    assert parse_instance_user(" self ") == "self"
    assert parse_instance_user("1234:99") == "1234:99"
    assert parse_instance_user("root") == "root"
    with pytest.raises(ConfigError, match="expected auto, self, UID\\[:GID\\] or the name of a user"):
        parse_instance_user("no-such-user-here")
    with pytest.raises(ConfigError):
        parse_instance_user("12:x")


def test_detect_follows_the_platforms_own_privileges(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(detect_identities("self"), SameUser)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(os, "getegid", lambda: 1000)
    not_root = detect_identities("auto")
    assert isinstance(not_root, SameUser) and "not root" in not_root.description
    assert isinstance(detect_identities("1000"), SameUser)  # its own uid: nothing to switch
    with pytest.raises(ConfigError, match="only a platform running as root"):
        detect_identities("2000")


@root_only
def test_as_root_auto_gives_functions_their_own_uids() -> None:
    policy = detect_identities("auto")
    try:
        assert isinstance(policy, Identities) and policy.switches and policy.fixed is None
    finally:
        policy.close()


def test_granted_paths_keep_what_follows_the_folder() -> None:
    granted = {"/root/lib": "/proc/self/fd/5", "/root/lib/site": "/proc/self/fd/6"}
    prefixes = sorted(granted, key=len, reverse=True)
    assert worker._granted("/root/lib/encodings", prefixes, granted) == "/proc/self/fd/5/encodings"
    assert worker._granted("/root/lib/site/pkg", prefixes, granted) == "/proc/self/fd/6/pkg"
    assert worker._granted("/root/library", prefixes, granted) == "/root/library"
    assert worker._granted("/usr/lib", prefixes, granted) == "/usr/lib"
