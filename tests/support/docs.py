"""Checking JSON against the schemas inside an OpenAPI or AsyncAPI document.

``SchemaCheck(document)`` validates instances against any schema of the
document, by JSON pointer, with every ``$ref`` resolved inside the document.
``strict=True`` forbids members the schemas do not declare (their
``additionalProperties: true`` says clients must tolerate new members; the
tests use strict mode to keep the schemas exactly what the service sends).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft7Validator, Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7, DRAFT202012

DOCUMENT_URI = "urn:hotplugd:document"


def pointer(*parts: str | int) -> str:
    """A JSON pointer from its reference tokens (escaping ``~`` and ``/``)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def resolve(document: Any, ref: str) -> Any:
    """The node a local ``$ref`` (``#/a/b``) points at; KeyError/IndexError when none."""
    assert ref.startswith("#"), ref
    node = document
    for token in ref[1:].split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        node = node[int(token)] if isinstance(node, list) else node[token]
    return node


def refs(node: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """Every ``$ref`` string in a document, with where it is."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield where, value
            else:
                yield from refs(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from refs(value, f"{where}/{index}")


def forbid_undeclared(node: Any) -> None:
    """Make every object schema with ``properties`` refuse other members (in place)."""
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict):
            node["additionalProperties"] = False
        for value in node.values():
            forbid_undeclared(value)
    elif isinstance(node, list):
        for value in node:
            forbid_undeclared(value)


class SchemaCheck:
    """Validate JSON against the schemas of one document."""

    def __init__(
        self, document: dict[str, Any], *, strict: bool = False, draft7: bool = False
    ) -> None:
        self.document = copy.deepcopy(document)
        if strict:
            forbid_undeclared(self.document)
        spec = DRAFT7 if draft7 else DRAFT202012
        self._validator_class = Draft7Validator if draft7 else Draft202012Validator
        resource = Resource.from_contents(self.document, default_specification=spec)
        self._registry: Registry[Any] = Registry().with_resource(DOCUMENT_URI, resource)

    def errors(self, instance: Any, at: str) -> list[str]:
        """Why ``instance`` does not match the schema at JSON pointer ``at`` (empty: it does)."""
        validator = self._validator_class({"$ref": f"{DOCUMENT_URI}#{at}"}, registry=self._registry)
        return [_describe(error) for error in validator.iter_errors(instance)]

    def check(self, instance: Any, at: str) -> None:
        """Fail the test with every reason when ``instance`` does not match."""
        errors = self.errors(instance, at)
        assert not errors, f"{at}:\n" + "\n".join(errors)


def _describe(error: ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"  at {where}: {error.message[:300]}"
