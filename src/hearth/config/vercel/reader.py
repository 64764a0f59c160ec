"""Reading vercel.json: errors that name the file and the key, the keys Hearth leaves out, and the checks every
part of it shares (arrays, objects, strings, booleans, status codes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

from hearth.errors import ConfigError

STATUS_RANGE = (100, 999)


class VercelJson:
    """vercel.json as it is read: ``fail`` names the file and key, ``ignored`` collects what Hearth leaves out."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ignored: list[str] = []

    def fail(self, key: str, problem: str) -> NoReturn:
        """Raise the ``ConfigError`` for ``key`` (a dotted path such as ``rewrites[2].source``)."""
        raise ConfigError(f"{self.path}: {key}: {problem}")

    def unsupported(self, where: str, raw: dict[str, Any], allowed: set[str]) -> None:
        """Note the keys of ``raw`` (at ``where``) that are not in ``allowed``."""
        prefix = f"{where}." if where else ""
        self.ignored.extend(prefix + key for key in raw if key not in allowed)


def array(config: VercelJson, data: dict[str, Any], key: str) -> list[Any]:
    """``data[key]``, an array (empty when absent)."""
    value = data.get(key, [])
    if not isinstance(value, list):
        config.fail(key, "must be an array")
    return value


def obj(config: VercelJson, where: str, raw: Any, allowed: set[str]) -> dict[str, Any]:
    """``raw``, which must be an object; its keys outside ``allowed`` are noted as left out."""
    if not isinstance(raw, dict):
        config.fail(where, "must be an object")
    config.unsupported(where, raw, allowed)
    return raw


def text(config: VercelJson, where: str, raw: dict[str, Any], key: str, example: str) -> str:
    """``raw[key]``, a non-empty string."""
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        config.fail(f"{where}.{key}", f"required: a string, e.g. {example}")
    return value


def boolean(config: VercelJson, data: dict[str, Any], key: str, default: bool) -> bool:
    """``data[key]``, true or false (``default`` when absent)."""
    value = data.get(key, default)
    if not isinstance(value, bool):
        config.fail(key, f"must be true or false, got {value!r}")
    return value


def optional_boolean(config: VercelJson, data: dict[str, Any], key: str) -> bool | None:
    """``data[key]``, true or false, or None when absent."""
    return boolean(config, data, key, False) if key in data else None


def status_code(config: VercelJson, where: str, value: Any, bounds: tuple[int, int] = STATUS_RANGE) -> int:
    """``value``, a whole number within ``bounds``."""
    if isinstance(value, bool) or not isinstance(value, int) or not bounds[0] <= value <= bounds[1]:
        config.fail(where, f"must be a status code from {bounds[0]} to {bounds[1]}, got {value!r}")
    return value
