"""Compare an emulator payload with recorded vendor payloads: same keys, same JSON types, recursively.

From the recorded examples of one endpoint a schema is learned: per object, keys present in *every*
example are required and keys present in *any* example are allowed (so heterogeneous lists such as
audit events compare fairly); per value, the set of JSON types seen. A recorded ``null`` says nothing
about the type, so only a value recorded exclusively as null accepts anything. Paths listed as opaque
(account-specific maps like ``custom_fields``) are not compared key by key.
"""

from __future__ import annotations

import base64
import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.shared import FIXTURES

ZENDESK = FIXTURES / "vendors" / "zendesk"
FRESHDESK = FIXTURES / "vendors" / "freshdesk"


def kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    return "dict"


@dataclass
class Schema:
    types: set[str] = field(default_factory=set)
    required: set[str] | None = None
    allowed: set[str] = field(default_factory=set)
    keys: dict[str, Schema] = field(default_factory=dict)
    items: Schema | None = None

    def learn(self, value: Any) -> Schema:
        self.types.add(kind(value))
        if isinstance(value, dict):
            self.required = set(value) if self.required is None else self.required & set(value)
            self.allowed |= set(value)
            for key, child in value.items():
                self.keys.setdefault(key, Schema()).learn(child)
        elif isinstance(value, list):
            for child in value:
                self.items = (self.items or Schema()).learn(child)
        return self


def learn(*examples: Any) -> Schema:
    schema = Schema()
    for example in examples:
        schema.learn(example)
    return schema


def differences(
    actual: Any,
    schema: Schema,
    path: str = "$",
    *,
    opaque: frozenset[str] = frozenset(),
    extra_ok: frozenset[str] = frozenset(),
    missing_ok: frozenset[str] = frozenset(),
) -> list[str]:
    """Human-readable mismatches (empty when the shapes agree). ``extra_ok``/``missing_ok``/``opaque``
    name keys (``"encoded_id"``) or paths (``"$.tickets[].fields"``)."""
    out: list[str] = []
    t = kind(actual)
    recorded = schema.types - {"null"}
    if recorded and t != "null" and t not in recorded and not (t == "int" and "float" in recorded):
        return [f"{path}: {t}, recorded {sorted(schema.types)}"]
    if (
        t == "dict"
        and "dict" in schema.types
        and path not in opaque
        and path.rsplit(".", 1)[-1] not in opaque
    ):
        have = set(actual)
        for key in sorted((schema.required or set()) - have):
            if key not in missing_ok and f"{path}.{key}" not in missing_ok:
                out.append(f"{path}.{key}: missing")
        for key in sorted(have - schema.allowed):
            if key not in extra_ok and f"{path}.{key}" not in extra_ok:
                out.append(f"{path}.{key}: not in the recording")
        for key in sorted(have & schema.allowed):
            out += differences(
                actual[key],
                schema.keys[key],
                f"{path}.{key}",
                opaque=opaque,
                extra_ok=extra_ok,
                missing_ok=missing_ok,
            )
    elif t == "list" and schema.items is not None:
        for item in actual:
            out += differences(
                item, schema.items, f"{path}[]", opaque=opaque, extra_ok=extra_ok, missing_ok=missing_ok
            )
    return out


def cassette(name: str) -> list[tuple[dict[str, Any], dict[str, Any], Any]]:
    """(request, response, decoded body) of every interaction in a zenpy betamax cassette."""
    data = json.loads((ZENDESK / name).read_text())
    out = []
    for interaction in data["http_interactions"]:
        response = interaction["response"]
        body = response["body"]
        if body.get("base64_string"):
            raw = base64.b64decode(body["base64_string"])
            if raw[:2] == b"\x1f\x8b":
                raw = gzip.decompress(raw)
        else:
            raw = (body.get("string") or "").encode()
        out.append((interaction["request"], response, json.loads(raw) if raw.strip() else None))
    return out


def cassette_body(name: str, uri_contains: str, method: str = "GET") -> Any:
    for request, _, body in cassette(name):
        if request["method"] == method and uri_contains in request["uri"]:
            return body
    raise LookupError(f"{method} {uri_contains} not in {name}")


def nango(name: str, method: str, path: str) -> list[dict[str, Any]]:
    """Recorded calls ``{request, response, status, headers}`` of a Nango test file."""
    calls = json.loads((ZENDESK / name).read_text())["api"][method][path]
    return calls if isinstance(calls, list) else [calls]


def freshdesk(name: str) -> Any:
    return json.loads((FRESHDESK / name).read_text())


def fixture_path(name: str) -> Path:
    return ZENDESK / name
