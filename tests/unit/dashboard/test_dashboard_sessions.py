"""Dashboard sessions: random tokens, expiry on the clock, a bounded table, and sign-in checked against the key ring."""

from __future__ import annotations

import pytest

from hearth import errors
from hearth.api.auth import keyring, new_credentials
from hearth.dashboard.sessions import Sessions, check_key


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_has_random_tokens_and_is_found_by_its_cookie() -> None:
    sessions = Sessions(Clock())
    one, two = sessions.create("HKADMIN"), sessions.create("HKADMIN")
    assert len({one.token, two.token, one.csrf, two.csrf}) == 4
    assert len(one.token) >= 43 and len(one.csrf) >= 43  # 32 random bytes, base64url
    assert sessions.get(one.token) == one
    assert sessions.get("not-a-token") is None and sessions.get(None) is None and sessions.get("") is None


def test_a_session_expires_on_the_clock_and_is_forgotten() -> None:
    clock = Clock()
    sessions = Sessions(clock, ttl_s=60)
    session = sessions.create("HKADMIN")
    clock.now += 59
    assert sessions.get(session.token) == session
    clock.now += 1
    assert sessions.get(session.token) is None
    assert len(sessions) == 0


def test_signing_out_ends_the_session() -> None:
    sessions = Sessions(Clock())
    session = sessions.create("HKADMIN")
    sessions.end(session.token)
    assert sessions.get(session.token) is None


def test_the_table_is_bounded_and_drops_the_oldest_first() -> None:
    sessions = Sessions(Clock(), capacity=3)
    made = [sessions.create("HKADMIN") for _ in range(5)]
    assert len(sessions) == 3
    assert [sessions.get(s.token) is not None for s in made] == [False, False, True, True, True]


def test_sign_in_takes_the_admin_key_pair_or_the_bearer_token_alone() -> None:
    admin = new_credentials()
    lookup = keyring([admin])
    assert check_key(lookup, admin.access_key_id, admin.secret_access_key) == admin
    assert check_key(lookup, " " + admin.access_key_id + " ", admin.secret_access_key + "\n") == admin
    assert check_key(lookup, "", admin.token) == admin


@pytest.mark.parametrize("case", ["wrong secret", "unknown key", "token as a key id", "key id as a token",
                                  "secret without key id", "empty"])
def test_wrong_credentials_do_not_sign_in(case: str) -> None:
    admin = new_credentials()
    lookup = keyring([admin])
    other_last = "y" if admin.secret_access_key.endswith("x") else "x"  # a secret that differs, whatever it ends in
    key_id, secret = {
        "wrong secret": (admin.access_key_id, admin.secret_access_key[:-1] + other_last),
        "unknown key": ("HKNOBODY", admin.secret_access_key),
        "token as a key id": (admin.token, admin.token),
        "key id as a token": ("", admin.access_key_id),
        "secret without key id": ("", admin.secret_access_key),
        "empty": ("", ""),
    }[case]
    with pytest.raises(errors.Unauthorized) as raised:
        check_key(lookup, key_id, secret)
    assert raised.value.status == 401


def test_a_functions_key_limited_to_sqs_cannot_sign_in() -> None:
    function_key = new_credentials(frozenset({"sqs"}))
    lookup = keyring([function_key])
    with pytest.raises(errors.Unauthorized):
        check_key(lookup, function_key.access_key_id, function_key.secret_access_key)
    with pytest.raises(errors.Unauthorized):
        check_key(lookup, "", function_key.token)
