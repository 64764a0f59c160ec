"""What an invocation is billed and what usage costs, in exact arithmetic.

``Billing`` is the policy that turns an invocation's measured times into billed milliseconds (Lambda's: every
millisecond, rounded up, Init included since August 2025; older clouds rounded up to 100 ms). The pools apply it
when they write an ``InvocationRecord``, so the REPORT line and the meter agree.

``PriceTable`` holds the prices in US dollars as ``Decimal``s (defaults: Lambda's public x86 prices in us-east-1);
a function's manifest may override any of them (``price = { gb_second = … }``). Usage is counted in integers
(billed milliseconds × MB), so a cost is an exact decimal: a GB-second is 1024 MB × 1000 ms, a divisor made of
twos and fives, so no division here ever rounds.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation, localcontext

from hearth.errors import ConfigError

GRANULARITIES_MS = (1, 100)
MB_MS_PER_GB_SECOND = 1024 * 1000  # Lambda's GB is 1024 MB
REQUESTS_PER_PRICE = 1_000_000  # the request price is per million
PRICE_KEYS = ("gb_second", "per_million_requests", "provisioned_gb_second")
# Enough digits that no sum or product of metered integers and prices is ever rounded.
EXACT = Context(prec=80)


@dataclass(frozen=True)
class Billing:
    """How an invocation's times become billed milliseconds: rounded up to ``granularity_ms`` (1 or 100), with
    the Init phase of a cold start counted in when ``bill_init``."""

    granularity_ms: int = 1
    bill_init: bool = True

    def __post_init__(self) -> None:
        if self.granularity_ms not in GRANULARITIES_MS:
            raise ConfigError(f"billing granularity must be 1 ms (Lambda's) or 100 ms, got {self.granularity_ms}")

    def billed_ms(self, duration_ms: float, init_ms: float | None) -> int:
        """The billed duration of one invocation: at least one unit of the granularity."""
        measured = max(duration_ms, 0.0)
        if init_ms is not None and self.bill_init:
            measured += max(init_ms, 0.0)
        step = self.granularity_ms
        return max(math.ceil(measured / step), 1) * step


@dataclass(frozen=True)
class PriceTable:
    """US dollars: per GB-second of billed duration, per million requests, per GB-second of provisioned
    concurrency held."""

    gb_second: Decimal = Decimal("0.0000166667")
    per_million_requests: Decimal = Decimal("0.20")
    provisioned_gb_second: Decimal = Decimal("0.0000041667")

    def __post_init__(self) -> None:
        for key in PRICE_KEYS:
            value = getattr(self, key)
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise ConfigError(f"price {key} must be a number of dollars of at least 0, got {value!r}")

    def overridden(self, overrides: Mapping[str, Decimal]) -> PriceTable:
        """These prices with some replaced (a function's ``price`` table)."""
        return dataclasses.replace(self, **overrides) if overrides else self

    def as_json(self) -> dict[str, str]:
        return {key: decimal_text(getattr(self, key)) for key in PRICE_KEYS}


def parse_price(value: object, what: str) -> Decimal:
    """A price as written in a manifest, a flag or a variable (``0.0000166667``, ``"0.20"``, ``1``) → an exact
    ``Decimal``; a float keeps the digits it was written with. Raises ``ConfigError`` naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ConfigError(f"{what} must be a number of dollars, e.g. 0.0000166667, got {value!r}")
    text = repr(value) if isinstance(value, float) else str(value).strip()
    try:
        price = Decimal(text)
    except InvalidOperation:
        raise ConfigError(f"{what} must be a number of dollars, e.g. 0.0000166667, got {value!r}") from None
    if not price.is_finite() or price < 0:
        raise ConfigError(f"{what} must be a number of dollars of at least 0, got {value!r}")
    return price


def gb_seconds(mb_ms: int) -> Decimal:
    """Megabyte-milliseconds as GB-seconds, exactly."""
    with localcontext(EXACT):
        return Decimal(mb_ms) / MB_MS_PER_GB_SECOND


def usage_cost(prices: PriceTable, requests: int, billed_mb_ms: int, provisioned_mb_ms: int) -> Decimal:
    """What ``requests`` invocations, their billed duration and the provisioned concurrency held cost, exactly."""
    with localcontext(EXACT):
        return (Decimal(requests) * prices.per_million_requests / REQUESTS_PER_PRICE
                + Decimal(billed_mb_ms) * prices.gb_second / MB_MS_PER_GB_SECOND
                + Decimal(provisioned_mb_ms) * prices.provisioned_gb_second / MB_MS_PER_GB_SECOND)


def decimal_text(value: Decimal) -> str:
    """A decimal in plain notation without trailing zeros (``0.0000166667``, never ``1.66667E-5``)."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"
