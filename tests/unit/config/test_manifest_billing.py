"""A function's ``price`` and ``keep_alive`` keys: read exactly, stored and read back, mistakes named."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from hearth.config.manifest import load_project
from hearth.errors import ConfigError
from hearth.model import FunctionSpec
from hearth.store.base import decode_function, encode_function


def load(root: Path, text: str) -> dict[str, FunctionSpec]:
    (root / "hearth.toml").write_text(text, encoding="utf-8")
    return dict(load_project(root).functions)


def test_price_overrides_and_keep_alive_are_read_exactly_and_survive_the_store(tmp_path: Path) -> None:
    functions = load(tmp_path, """\
[functions.billed]
handler = "app.main"
price = { gb_second = 0.0000333334, per_million_requests = "0.25" }
keep_alive = true

[functions.plain]
handler = "app.main"
""")
    billed, plain = functions["billed"], functions["plain"]
    assert billed.price == {"gb_second": Decimal("0.0000333334"), "per_million_requests": Decimal("0.25")}
    assert billed.keep_alive is True
    assert plain.price == {} and plain.keep_alive is False
    assert decode_function(encode_function(billed)) == billed


@pytest.mark.parametrize(("body", "problem"), [
    ("price = 3", "functions.f.price: must be a table of prices in dollars"),
    ("price = { per_gb = 1 }", "unknown price 'per_gb'"),
    ("price = { gb_second = -1 }", "price.gb_second must be a number of dollars of at least 0"),
    ('price = { gb_second = "cheap" }', "price.gb_second must be a number of dollars"),
    ('keep_alive = "yes"', "functions.f.keep_alive: must be true or false"),
])
def test_mistakes_are_named(tmp_path: Path, body: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, f'[functions.f]\nhandler = "app.main"\n{body}\n')
    assert problem in caught.value.message
