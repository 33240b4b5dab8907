"""The connector protocol: what the service needs from every vendor module.

A connector is built per linked account from its credentials and an ``httpx.AsyncClient`` (injected, so
tests and emulators can supply the transport). It speaks in common models whose relation fields hold the
*vendor's* ids; the service translates them to and from its own ids. Reads are declared as streams (added
with the sync engine); writes are plain async methods.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar, runtime_checkable

import httpx
import msgspec

from connectors.http.client import VendorClient
from connectors.http.ratelimit import RateLimiter
from connectors.http.retry import RetryPolicy
from schemas.models import Comment, CommonModel, Ticket
from schemas.writes import CommentCreate, TicketCreate, TicketUpdate

if TYPE_CHECKING:  # streams.py builds on RemoteRecord defined here
    from connectors.streams import Stream

M = TypeVar("M", bound=CommonModel)

FETCH = "FETCH"
CREATE = "CREATE"
UPDATE = "UPDATE"


W = TypeVar("W")


def decode_record(raw: Any, wire_type: type[W], *, strict: bool = True) -> W:
    """One vendor record as its wire Struct.

    A page read leaves each record undecoded (``msgspec.Raw``, the vendor's own bytes): decoding it
    straight into the wire type builds only the fields we map, where a dict of every field cost more
    than all the mapping after it. Write responses and test fixtures hand in decoded dicts.
    """
    if isinstance(raw, msgspec.Raw):
        return msgspec.json.decode(raw, type=wire_type, strict=strict)
    return msgspec.convert(raw, wire_type, strict=strict)


def as_object(raw: Any) -> Any:
    """A record as decoded JSON, for mappers that read fields the wire type leaves out."""
    return msgspec.json.decode(raw) if isinstance(raw, msgspec.Raw) else raw


class RemoteRecord(msgspec.Struct, Generic[M], kw_only=True):
    """One vendor object mapped into a common model, with what it was mapped from.

    ``model`` holds vendor ids in ``id``-less form: ``remote_id`` and relation fields are the vendor's.
    ``raw`` is the vendor's record: its JSON bytes (``msgspec.Raw``) when read from a page, decoded JSON
    when it came from a write's response; both encode to the same ``remote_data``.
    ``enum_origins`` keeps the raw vendor values behind normalized enums (``show_enum_origins``).
    """

    model: M
    path: str
    raw: Any
    enum_origins: dict[str, str | None] = msgspec.field(default_factory=dict)


class ModelSupport(msgspec.Struct, frozen=True, kw_only=True):
    """What a connector can do with one common model (feeds ``/available-actions`` and ``meta``)."""

    model: str
    operations: tuple[str, ...] = (FETCH,)
    required_post_parameters: tuple[str, ...] = ()
    supported_fields: tuple[str, ...] = ()


class CredentialField(msgspec.Struct, frozen=True, kw_only=True):
    """One credential the end user supplies (drives validation and, later, the Link page form).

    Attributes:
        method: The sign-in method the field belongs to, for vendors with several (Zendesk: an API
            token or an OAuth access token). The fields of one method are needed together and one
            method suffices; fields without a method are always needed.
        required: ``False`` for optional extras (Zendesk's ``on_behalf_of``).
    """

    name: str
    label: str
    secret: bool = True
    method: str | None = None
    required: bool = True


def missing_credentials(fields: Sequence[CredentialField], credentials: Mapping[str, str]) -> list[str]:
    """What ``credentials`` lack, as readable requirements (empty when complete).

    Always-needed fields are listed by name; when no sign-in method is complete, the choice is listed
    as ``email + api_token | access_token``.
    """
    needed = [f for f in fields if f.required]
    missing = [f.name for f in needed if f.method is None and not credentials.get(f.name)]
    methods: dict[str, list[str]] = {}
    for f in needed:
        if f.method is not None:
            methods.setdefault(f.method, []).append(f.name)
    if methods and not any(all(credentials.get(n) for n in names) for names in methods.values()):
        missing.append(" | ".join(" + ".join(names) for names in methods.values()))
    return missing


CredentialsSaver = Callable[[dict[str, str]], Awaitable[None]]


class ConnectorContext(msgspec.Struct, kw_only=True):
    """Everything a connector instance is built from."""

    credentials: dict[str, str]
    http: httpx.AsyncClient
    base_url: str | None = None
    #: Persists credentials that changed on the way (an OAuth refresh rotating its tokens).
    save_credentials: CredentialsSaver | None = None
    #: The linked account's limiter, shared by every connector instance of that account.
    limiter: RateLimiter | None = None
    #: Retry policy (tests pass ``RetryPolicy.for_tests()`` so nothing sleeps).
    retry: RetryPolicy | None = None


class Connector(Protocol):
    """What every vendor connector provides."""

    slug: ClassVar[str]
    name: ClassVar[str]
    color: ClassVar[str]
    credential_fields: ClassVar[tuple[CredentialField, ...]]
    models: ClassVar[tuple[ModelSupport, ...]]
    #: Reads declared as data: common model name -> ``connectors.streams.Stream``.
    streams: ClassVar[Mapping[str, Stream]]
    #: The one HTTP path of this connector instance (auth, rate limit, classify, retry).
    client: VendorClient

    def __init__(self, context: ConnectorContext) -> None: ...

    @classmethod
    def default_base_url(cls, credentials: dict[str, str]) -> str | None:
        """The vendor host derived from credentials (e.g. a Zendesk subdomain), if any."""
        ...

    @classmethod
    def new_limiter(cls) -> RateLimiter:
        """A limiter with the vendor's documented quota (its lowest plan's, unless the account's own
        can be read from its headers: ``RateLimiter``'s ``advertised``) and headers, one per linked
        account."""
        ...

    async def check_credentials(self) -> None:
        """Raise ``AuthError`` when the vendor refuses the credentials."""
        ...

    async def create_ticket(self, ticket: TicketCreate) -> RemoteRecord[Ticket]: ...

    async def update_ticket(self, remote_id: str, changes: TicketUpdate) -> RemoteRecord[Ticket]: ...

    async def create_comment(self, comment: CommentCreate) -> RemoteRecord[Comment]: ...


ConnectorFactory = Callable[[ConnectorContext], Connector]


def supports(connector: type[Connector] | Connector, model: str, operation: str) -> bool:
    """Whether ``connector`` declares ``operation`` on ``model``."""
    return any(m.model == model and operation in m.operations for m in connector.models)


class Download(msgspec.Struct, kw_only=True):
    """Bytes of an attachment as they arrive from the vendor."""

    content_type: str | None
    chunks: AsyncIterator[bytes]


@runtime_checkable
class AttachmentDownloader(Protocol):
    """Connectors whose attachment URLs need the vendor's auth implement this; for the others the
    service fetches ``file_url`` itself (vendors hand out signed, public URLs)."""

    async def download_attachment(self, remote_id: str, file_url: str | None) -> Download: ...
