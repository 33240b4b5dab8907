"""Our models have exactly the fields of Merge's (merge-api.md §4 tables, generated from the SDK)."""

from __future__ import annotations

import re
from datetime import datetime

import msgspec
import pytest

from schemas import accounts, envelopes, models, writes
from tests.support.shared import REFERENCE

MERGE_API = REFERENCE / "merge-api.md"


def merge_tables() -> dict[str, list[str]]:
    """``#### Name`` -> the backticked field names of the table under it (first definition wins)."""
    text = MERGE_API.read_text()
    section = text[text.index("## 4. Common models") : text.index("## 5. Pagination")]
    tables: dict[str, list[str]] = {}
    for block in re.split(r"^#### ", section, flags=re.M)[1:]:
        name, _, body = block.partition("\n")
        fields = re.findall(r"^\| `([a-z_]+)` \|", body, flags=re.M)
        if fields:
            tables.setdefault(name.strip(), fields)
    return tables


TABLES = merge_tables()


def test_tables_parse() -> None:
    assert len(TABLES) > 50
    assert TABLES["Ticket"][:2] == ["id", "remote_id"] and len(TABLES["Ticket"]) == 30
    assert TABLES["SyncStatus"][0] == "model_name"


READ_MODELS = [
    "Ticket",
    "Comment",
    "Contact",
    "Account",
    "User",
    "Team",
    "Attachment",
    "Collection",
    "Tag",
    "Role",
]

#: Merge table -> our struct.
CONTRACT: dict[str, type[msgspec.Struct]] = {
    **{name: models.MODELS[name] for name in READ_MODELS},
    "RemoteData": models.RemoteData,
    "RemoteField": models.RemoteField,
    "TicketRequest": writes.TicketCreate,
    "PatchedTicketRequest": writes.TicketUpdate,
    "CommentRequest": writes.CommentCreate,
    "ContactRequest": writes.ContactCreate,
    "AttachmentRequest": writes.AttachmentCreate,
    "RemoteFieldRequest": writes.RemoteFieldRequest,
    "TicketResponse": envelopes.WriteResponse,
    "WarningValidationProblem": envelopes.ValidationProblem,
    "ValidationProblemSource": envelopes.ProblemSource,
    "DebugModeLog": envelopes.DebugModeLog,
    "DebugModelLogSummary": envelopes.DebugModeLogSummary,
    "MetaResponse": envelopes.MetaResponse,
    "LinkedAccountStatus": envelopes.MetaStatus,
    "PaginatedTicketList": envelopes.Page,
    "PaginatedSyncStatusList": envelopes.Page,
    "AccountDetails": accounts.AccountDetails,
    "AccountToken": accounts.AccountToken,
    "RegenerateAccountToken": accounts.RegenerateAccountToken,
    "LinkToken": accounts.LinkToken,
    "AccountDetailsAndActions": accounts.LinkedAccount,
    "AccountDetailsAndActionsIntegration": accounts.LinkedAccountIntegration,
    "AvailableActions": accounts.AvailableActions,
    "SyncStatus": accounts.SyncStatus,
    "ModelOperation": accounts.ModelOperation,
}


@pytest.mark.parametrize("merge_name", sorted(CONTRACT))
def test_exact_field_set(merge_name: str) -> None:
    ours = set(CONTRACT[merge_name].__struct_fields__)
    theirs = set(TABLES[merge_name])
    assert ours - theirs == set(), f"{merge_name}: fields Merge does not have"
    assert theirs - ours == set(), f"{merge_name}: Merge fields we lack"


def test_account_integration_matches_section_8() -> None:
    """``AccountToken.integration`` (AccountIntegration) is listed in §8, not as a table."""
    text = MERGE_API.read_text()
    match = re.search(r"integration: AccountIntegration \{([^}]*)\}", text)
    assert match
    listed = {re.sub(r"\(.*\)", "", f).strip() for f in match.group(1).replace("\n", " ").split(",")}
    assert set(accounts.AccountIntegration.__struct_fields__) == listed


def test_linked_account_with_token_adds_only_the_token() -> None:
    extra = set(accounts.LinkedAccountWithToken.__struct_fields__) - set(
        accounts.LinkedAccount.__struct_fields__
    )
    assert extra == {"account_token"}


def test_write_inputs_differ_as_merge_says() -> None:
    assert "attachments" in writes.TicketCreate.__struct_fields__
    assert "attachments" not in writes.TicketUpdate.__struct_fields__
    read_only = {"id", "remote_id", "created_at", "modified_at", "remote_was_deleted", "permissions"}
    for struct in (writes.TicketCreate, writes.TicketUpdate):
        assert read_only.isdisjoint(struct.__struct_fields__)


@pytest.mark.parametrize("name", READ_MODELS)
def test_default_read_model_encodes_every_field_as_null(name: str) -> None:
    cls = models.MODELS[name]
    encoded = msgspec.json.decode(msgspec.json.encode(cls()))
    assert list(encoded) == list(cls.__struct_fields__)
    assert set(encoded) == set(TABLES[name])
    assert all(value is None for value in encoded.values()), encoded


@pytest.mark.parametrize("name", READ_MODELS)
def test_read_models_emit_every_field_when_set(name: str) -> None:
    cls = models.MODELS[name]
    encoded = msgspec.json.decode(msgspec.json.encode(cls(id="x", remote_id="r")))
    assert set(encoded) == set(TABLES[name]) and encoded["id"] == "x"


def test_datetimes_encode_as_utc_z() -> None:
    from datetime import UTC

    t = models.Ticket(created_at=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert msgspec.json.decode(msgspec.json.encode(t))["created_at"] == "2024-01-02T03:04:05Z"


@pytest.mark.parametrize(
    "cls",
    [
        accounts.AccountDetails,
        accounts.SyncStatus,
        accounts.LinkedAccount,
        accounts.AvailableActions,
        envelopes.MetaResponse,
    ],
)
def test_admin_models_emit_optional_fields_as_null(cls: type[msgspec.Struct]) -> None:
    required = {
        accounts.SyncStatus: {
            "model_name": "Ticket",
            "model_id": "ticketing.Ticket",
            "status": "DONE",
            "is_initial_sync": False,
        },
        accounts.LinkedAccount: {
            "id": "x",
            "status": "COMPLETE",
            "end_user_organization_name": "o",
            "end_user_email_address": "e",
            "webhook_listener_url": "",
            "account_type": "PRODUCTION",
            "completed_at": None,
        },
        accounts.AvailableActions: {
            "integration": accounts.AccountIntegration(name="n"),
            "passthrough_available": False,
        },
        envelopes.MetaResponse: {"request_schema": {}},
    }.get(cls, {})
    encoded = msgspec.json.decode(msgspec.json.encode(cls(**required)))
    assert set(encoded) == set(cls.__struct_fields__)


def test_write_inputs_omit_unset_fields() -> None:
    """A write carries only what the caller sent; ``null`` is kept (PATCH clears)."""
    patch = msgspec.json.decode(b'{"status": "CLOSED", "ticket_type": null}', type=writes.TicketUpdate)
    assert writes.set_fields(patch) == {"status": "CLOSED", "ticket_type": None}
    assert msgspec.json.decode(msgspec.json.encode(patch)) == {"status": "CLOSED", "ticket_type": None}
