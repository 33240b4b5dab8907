"""Small HTTP helpers shared by the vendor apps: replies, Basic auth, query parsing, absolute URLs."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response

JSON = "application/json; charset=utf-8"
_encoder = msgspec.json.Encoder()


@dataclass
class Reply:
    """A response the gate sends itself (before Litestar routes): errors, throttles, injected faults."""

    status: int
    body: bytes = b""
    content_type: str = JSON
    headers: list[tuple[str, str]] = field(default_factory=list)


def encode(value: Any) -> bytes:
    return _encoder.encode(value)


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response[bytes]:
    body = value if isinstance(value, bytes) else _encoder.encode(value)
    return Response(content=body, status_code=status, media_type=JSON, headers=headers)


def empty_response(status: int = 204) -> Response[bytes]:
    return Response(content=b"", status_code=status, media_type=JSON)


def basic_credentials(authorization: str) -> tuple[str, str] | None:
    """``Basic base64(user:password)`` -> (user, password), or None when it is not Basic or malformed."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def bearer_token(authorization: str) -> str | None:
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def query_int(request: Request[Any, Any, Any], name: str, default: int) -> int | None:
    """An integer query parameter, ``default`` when absent, None when present but not an integer."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        return None


def origin(request: Request[Any, Any, Any]) -> str:
    """``scheme://host`` exactly as the client addressed us, so next-page links lead back here
    (the loopback port in the sandbox, ``https://acme.zendesk.com`` in an in-process test)."""
    host = request.headers.get("host") or "localhost"
    return f"{request.url.scheme}://{host}"


def absolute(request: Request[Any, Any, Any], path: str, params: list[tuple[str, str]]) -> str:
    query = urlencode(params)
    return f"{origin(request)}{path}" + (f"?{query}" if query else "")


async def json_body(request: Request[Any, Any, Any]) -> Any:
    """The decoded JSON body, or raises ``ValueError`` (callers answer with the vendor's 400)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise ValueError(str(exc)) from exc
