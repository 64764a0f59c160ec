"""Hearth's ``Secrets`` field in the Lambda API's function configuration: names in, names out, never values."""

from __future__ import annotations

from pathlib import Path

import pytest

from hearth import errors
from hearth.api import shapes
from hearth.model import FunctionSpec

SPEC = FunctionSpec("api", "app.handler", Path("/code"), env={"GREETING": "hi"})


def test_secrets_are_set_and_shown_by_name_outside_the_environment() -> None:
    spec = shapes.update_configuration(SPEC, {"Secrets": {"Names": ["DB_URL"], "AsFiles": True}})
    assert (spec.secrets, spec.secrets_as_files) == (("DB_URL",), True)
    shown = shapes.configuration(spec)
    assert shown["Secrets"] == {"Names": ["DB_URL"], "AsFiles": True}
    assert shown["Environment"] == {"Variables": {"GREETING": "hi"}}
    assert "Secrets" not in shapes.configuration(shapes.update_configuration(spec, {"Secrets": None}))


@pytest.mark.parametrize(("value", "error", "text"), [
    (["DB_URL"], errors.InvalidParameterValue, "Secrets must be"),
    ({"Names": ["db-url"]}, errors.InvalidSecretName, "not a valid secret name"),
    ({"Names": ["A", "A"]}, errors.InvalidParameterValue, "twice"),
    ({"Names": ["GREETING"]}, errors.InvalidParameterValue, "both an environment variable and a secret"),
])
def test_bad_secrets_fields_are_refused(value: object, error: type[errors.HearthError], text: str) -> None:
    with pytest.raises(error, match=text):
        shapes.update_configuration(SPEC, {"Secrets": value})
