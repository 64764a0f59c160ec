"""docs/errors.md lists every error name Hearth can report, with its status: the one taxonomy stays documented."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from hearth import errors

DOC = Path(__file__).resolve().parents[2] / "docs" / "errors.md"


def documented() -> dict[str, str]:
    """errorType → the status column of its table row."""
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4:
            for name in re.findall(r"`([^`]+)`", cells[0]):
                rows[name] = cells[1]
    return rows


def test_every_error_class_is_documented_with_its_status() -> None:
    rows = documented()
    missing = []
    for _, cls in inspect.getmembers(errors, inspect.isclass):
        if not issubclass(cls, errors.HearthError) or "error_type" not in vars(cls):
            continue  # a base class, or one whose name is per instance (FunctionError, InvalidBatchRequest)
        row = rows.get(cls.error_type)
        if row is None:
            missing.append(cls.error_type)
        elif "status" in vars(cls) and str(cls.status) not in row and row != "the rule's":
            missing.append(f"{cls.error_type} with status {cls.status} (documented: {row})")
    assert not missing, f"docs/errors.md lacks: {missing}"


def test_the_batch_error_names_sqs_can_send_are_documented() -> None:
    source = (Path(errors.__file__).parent / "api" / "sqs.py").read_text(encoding="utf-8")
    names = set(re.findall(r'InvalidBatchRequest\("(\w+)"', source))
    assert names and names <= set(documented())
