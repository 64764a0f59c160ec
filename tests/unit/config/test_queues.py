"""``[queues.NAME]`` tables become ``QueueSpec``s; every mistake names its file, line and key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hearth.config.manifest import load_project
from hearth.errors import ConfigError
from hearth.model import QueueSpec

MINIMAL = '[functions.hello]\nhandler = "app.main"\n'


def load(root: Path, text: str) -> tuple[QueueSpec, ...]:
    (root / "hearth.toml").write_text(MINIMAL + text, encoding="utf-8")
    return load_project(root).queues


def error(root: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(root, text)
    return caught.value.message


def test_every_key_of_a_queue_table_is_read(tmp_path: Path) -> None:
    queues = load(tmp_path, """
[queues.orders]
visibility_timeout_s = 60
message_retention_s = 86400
delay_s = 5
receive_wait_s = 20
maximum_message_size = 2048
dead_letter_queue = "orders-dlq"
max_receive_count = 3

[queues.orders-dlq]
""")
    assert queues == (QueueSpec("orders", visibility_timeout_s=60, message_retention_s=86400, delay_s=5,
                                receive_wait_s=20, maximum_message_size=2048, dead_letter_queue="orders-dlq",
                                max_receive_count=3),
                      QueueSpec("orders-dlq"))


def test_a_project_without_queues_has_none_and_a_dead_letter_queue_may_be_an_arn(tmp_path: Path) -> None:
    assert load(tmp_path, "") == ()
    [spec] = load(tmp_path, '[queues.a]\ndead_letter_queue = "arn:aws:sqs:us-east-1:000000000000:elsewhere"\n'
                            "max_receive_count = 2\n")
    assert (spec.dead_letter_queue, spec.max_receive_count) == ("elsewhere", 2)


@pytest.mark.parametrize(("text", "expected"), [
    ("[queues.a]\nvisibility_timeout_s = 50000\n", r"hearth.toml:5: queues.a.visibility_timeout_s: must be a whole "
                                                   r"number from 0 to 43200, got 50000"),
    ("[queues.a]\nreceive_wait_s = 1.5\n", r"hearth.toml:5: queues.a.receive_wait_s: must be a whole number"),
    ("[queues.a]\ncolour = 1\n", r"hearth.toml:5: queues.a.colour: unknown key; allowed: dead_letter_queue, "),
    ("[queues.a]\ndead_letter_queue = \"b\"\n", r"hearth.toml:5: queues.a.dead_letter_queue: give both "
                                               r"dead_letter_queue and max_receive_count, or neither"),
    ("[queues.a]\nmax_receive_count = 3\n", r"hearth.toml:5: queues.a.max_receive_count: give both"),
    ("[queues.a]\ndead_letter_queue = \"a\"\nmax_receive_count = 3\n", r"hearth.toml:5: queues.a.dead_letter_queue: "
                                                                       r"a queue cannot be its own"),
    ("[queues.a]\ndead_letter_queue = \"no good\"\nmax_receive_count = 3\n", r"hearth.toml:5: .*'no good' is not a "
                                                                              r"queue name"),
    ("[queues.\"a.b\"]\n", r"hearth.toml:4: queues.a.b: 'a.b' is not a queue name"),
])
def test_mistakes_name_the_line_and_the_key(tmp_path: Path, text: str, expected: str) -> None:
    message = error(tmp_path, "\n" + text)
    assert re.search(expected, message), message


def test_queues_must_be_tables(tmp_path: Path) -> None:
    (tmp_path / "hearth.toml").write_text("queues = 3\n" + MINIMAL, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"hearth.toml:1: queues: must be tables"):
        load_project(tmp_path)
