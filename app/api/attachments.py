"""``GET /attachments/{id}/download``: the attachment's bytes, streamed from the vendor.

Merge's SDK streams whatever a 2xx carries. Connectors whose files need the vendor's auth provide
``download_attachment``; otherwise the stored ``file_url`` (a signed, public URL at most vendors) is
fetched through the outbound URL policy, since it comes from vendor data we do not control.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import msgspec
from litestar import get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, QueryParameter
from litestar.response import Stream
from sqlalchemy import select

from app.api.deps import Account, Conn, ServicesDep
from app.api.errors import ApiError, not_found
from app.api.state import Services
from app.db.tables import attachments
from app.urlpolicy import UnsafeURLError
from app.vendors import VendorURLError, connector_for
from connectors.base import AttachmentDownloader, Download
from connectors.http.errors import ConnectorError, NotFoundError

CHUNK = 64 * 1024


async def _fetch(services: Services, url: str) -> Download:
    try:
        services.url_policy.check_url(url)
    except UnsafeURLError as exc:
        raise ApiError(502, f"The attachment's URL is refused by the outbound policy: {exc}") from None
    request = services.http.build_request("GET", url)
    response = await services.http.send(request, stream=True)
    if response.status_code >= 400:
        await response.aclose()
        if response.status_code in (403, 404, 410):
            raise ApiError(404, "The vendor no longer serves this attachment.")
        raise ApiError(502, f"The vendor answered {response.status_code} for this attachment.")

    async def chunks() -> AsyncIterator[bytes]:
        try:
            async for chunk in response.aiter_bytes(CHUNK):
                yield chunk
        finally:
            await response.aclose()

    return Download(content_type=response.headers.get("content-type"), chunks=chunks())


@get(
    "/attachments/{attachment_id:str}/download",
    operation_id="attachments_download_retrieve",
    tags=["attachments"],
    summary="Download an attachment's content",
    responses={
        200: ResponseSpec(
            data_container=bytes, media_type="application/octet-stream", description="The file's bytes"
        )
    },
)
async def download_attachment(
    attachment_id: FromPath[str],
    account: Account,
    conn: Conn,
    services: ServicesDep,
    mime_type: Annotated[
        str | None, QueryParameter(required=False, description="Content type to answer with.")
    ] = None,
    include_shell_data: Annotated[bool, QueryParameter(required=False)] = False,
) -> Stream:
    row = (
        await conn.execute(
            select(attachments.c.remote_id, attachments.c.data).where(
                attachments.c.linked_account_id == account.id, attachments.c.id == attachment_id
            )
        )
    ).first()
    if row is None:
        raise not_found()
    await conn.rollback()  # do not hold a transaction open while bytes stream
    doc = msgspec.json.decode(row.data)
    try:
        connector = connector_for(services, account)
        if isinstance(connector, AttachmentDownloader):
            download = await connector.download_attachment(row.remote_id, doc.get("file_url"))
        elif doc.get("file_url"):
            download = await _fetch(services, doc["file_url"])
        else:
            raise ApiError(404, "This attachment has no downloadable content.")
    except NotFoundError:
        raise ApiError(404, "The vendor no longer serves this attachment.") from None
    except (ConnectorError, httpx.HTTPError, VendorURLError) as exc:
        raise ApiError(
            502, f"The attachment could not be fetched from the vendor: {type(exc).__name__}"
        ) from None
    content_type = mime_type or download.content_type or doc.get("content_type") or "application/octet-stream"
    name = (doc.get("file_name") or "attachment").replace('"', "")
    return Stream(
        download.chunks,
        media_type=content_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


HANDLERS = [download_attachment]
