"""The protocol server: ``{public_url}/sharing/{sharing_id}/agreements|tickets/<uuid>``.

Outside ``/api/ticketing/v1`` and without our API key: partners authenticate with the agreement's
``X-Ticket-Sharing-Token``. The rest of the path is parsed here rather than by the router so that the
gem's plain concatenation (``base + "/tickets/" + uuid``) works with a trailing-slash base (``//``).
Bodies are read up to ``MAX_BODY`` whatever the Content-Type says, as long as it is JSON-ish
(``application/json``, ``text/x-json``, or none).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, route
from litestar.params import FromPath

from app.api.state import Services
from app.sharing import receive, store
from app.sharing.receive import ProtocolError

#: Larger bodies are refused with 422 (the gem raises on 413; 422 "invalid body" it understands).
MAX_BODY = 1024 * 1024
_JSON_TYPES = ("application/json", "text/x-json", "text/json", "application/x-json")


def _split(rest: str) -> tuple[str, str]:
    parts = [p for p in rest.split("/") if p]
    if len(parts) != 2 or parts[0] not in ("agreements", "tickets"):
        raise ProtocolError(404, "no such resource")
    return parts[0], parts[1]


async def _body(request: Request[Any, Any, Any]) -> bytes:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type and content_type not in _JSON_TYPES:
        raise ProtocolError(422, f"the body must be JSON, not {content_type}")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        raise ProtocolError(422, f"the body is larger than {MAX_BODY} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise ProtocolError(422, f"the body is larger than {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _dispatch(services: Services, request: Request[Any, Any, Any], sharing_id: str, rest: str) -> int:
    async with services.engine.connect() as conn:
        account_id = await store.account_for_endpoint(conn, sharing_id)
    if account_id is None:
        raise ProtocolError(404, "no such sharing endpoint")
    kind, uuid = _split(rest)
    token = request.headers.get("x-ticket-sharing-token")
    method = request.method
    if method == "DELETE":
        if kind != "tickets":
            raise ProtocolError(405, "agreements cannot be deleted; deactivate them")
        return await receive.unshare(services, account_id, uuid, token)
    body = await _body(request)
    if kind == "agreements":
        if method == "POST":
            our_url = store.base_url(services.settings.public_url, sharing_id)
            return await receive.invite(services, account_id, our_url, uuid, token, body)
        return await receive.update_agreement(services, account_id, uuid, token, body)
    if method == "POST":
        return await receive.share(services, account_id, uuid, token, body)
    return await receive.update_ticket(services, account_id, uuid, token, body)


@route(
    "/{sharing_id:str}/{rest:path}",
    http_method=["POST", "PUT", "DELETE"],
    include_in_schema=False,
    request_max_body_size=None,  # we enforce MAX_BODY ourselves, with a status the gem understands
)
async def protocol(
    request: Request[Any, Any, Any], sharing_id: FromPath[str], rest: FromPath[str]
) -> Response[bytes]:
    services: Services = request.app.state.services
    try:
        status = await _dispatch(services, request, sharing_id, rest)
    except ProtocolError as exc:
        return Response(
            receive.error_body(exc.detail),
            status_code=exc.status,
            media_type="application/json",
            headers=exc.headers,
        )
    return Response(b"{}", status_code=status, media_type="application/json")


#: Mounted by ``create_app`` beside the API router.
SHARING_ROUTER = Router(path="/sharing", route_handlers=[protocol], security=[{}])
