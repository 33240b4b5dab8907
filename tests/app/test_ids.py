"""Record ids are UUIDv5 of (linked account, model, vendor id): stable, and equal to the stdlib's."""

import uuid

import pytest

from app.db.ids import record_id, translate

ACCOUNT = "5f0c8f8e-8a5e-4a43-9c1e-2f3b0b1a6c77"


@pytest.mark.parametrize("remote", ["1", "42", "ticket-ä", "", "x" * 300])
@pytest.mark.parametrize("model", ["Ticket", "Comment", "User"])
def test_record_id_is_the_stdlib_uuid5(model: str, remote: str) -> None:
    expected = str(uuid.uuid5(uuid.UUID(ACCOUNT), f"{model}:{remote}"))
    assert record_id(ACCOUNT, model, remote) == expected
    assert uuid.UUID(expected).version == 5


def test_ids_differ_by_account_model_and_vendor_id() -> None:
    other = str(uuid.uuid4())
    ids = {record_id(a, m, r) for a in (ACCOUNT, other) for m in ("Ticket", "User") for r in ("1", "2")}
    assert len(ids) == 8


def test_translate_keeps_none_and_lists() -> None:
    assert translate(ACCOUNT, "User", None) is None
    assert translate(ACCOUNT, "User", [1, None, "2"]) == [
        record_id(ACCOUNT, "User", "1"),
        record_id(ACCOUNT, "User", "2"),
    ]
    assert translate(ACCOUNT, "User", 7) == record_id(ACCOUNT, "User", "7")
