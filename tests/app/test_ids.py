"""Record ids: ordered (vendor integer in the low bits) for accounts linked with version-8 ids, UUIDv5 of
(linked account, model, vendor id) otherwise; stable either way."""

import uuid

import pytest

from app.db.ids import new_linked_account_id, record_id, translate

#: An account linked before ordered ids (a version-4 id): its ids must never change.
LEGACY = "5f0c8f8e-8a5e-4a43-9c1e-2f3b0b1a6c77"
ORDERED = "0b9e2a54-7c31-8d0f-a6b2-41e97c5d3f18"


@pytest.mark.parametrize("remote", ["1", "42", "ticket-ä", "", "x" * 300])
@pytest.mark.parametrize("model", ["Ticket", "Comment", "User"])
def test_legacy_accounts_keep_the_stdlib_uuid5(model: str, remote: str) -> None:
    expected = str(uuid.uuid5(uuid.UUID(LEGACY), f"{model}:{remote}"))
    assert record_id(LEGACY, model, remote) == expected
    assert uuid.UUID(expected).version == 5


def test_new_linked_accounts_are_random_version_8_uuids() -> None:
    ids = {new_linked_account_id() for _ in range(200)}
    assert len(ids) == 200
    for account in ids:
        parsed = uuid.UUID(account)
        assert (parsed.version, parsed.variant) == (8, uuid.RFC_4122)
        assert str(parsed) == account


@pytest.mark.parametrize("model", ["Ticket", "User"])
def test_ordered_ids_hold_the_vendor_integer_and_sort_by_it(model: str) -> None:
    remotes = [0, 1, 9, 10, 99, 100, 12345, 2**40 + 3, 10**18 - 1]
    ids = [record_id(ORDERED, model, str(n)) for n in remotes]
    for n, our in zip(remotes, ids, strict=True):
        parsed = uuid.UUID(our)
        assert (parsed.version, parsed.variant) == (8, uuid.RFC_4122)
        assert str(parsed) == our
        assert parsed.int & (2**62 - 1) == n
    # Text order (what the id index keeps) is the vendor's numeric order, not "10" < "9".
    assert sorted(ids) == ids
    assert len({our[:19] for our in ids}) == 1  # one prefix per (account, model)


@pytest.mark.parametrize("remote", ["007", "0x1f", "1e3", "-5", " 5", "٣", "²", "1" * 19, "12a", ""])
def test_other_vendor_ids_of_ordered_accounts_are_uuid5(remote: str) -> None:
    assert record_id(ORDERED, "Ticket", remote) == str(uuid.uuid5(uuid.UUID(ORDERED), f"Ticket:{remote}"))


def test_ids_differ_by_account_model_and_vendor_id() -> None:
    accounts = (LEGACY, ORDERED, new_linked_account_id())
    remotes = ("1", "2", "007", "7", "x")
    ids = {record_id(a, m, r) for a in accounts for m in ("Ticket", "User") for r in remotes}
    assert len(ids) == len(accounts) * 2 * len(remotes)


def test_translate_keeps_none_and_lists() -> None:
    for account in (LEGACY, ORDERED):
        assert translate(account, "User", None) is None
        assert translate(account, "User", [1, None, "2"]) == [
            record_id(account, "User", "1"),
            record_id(account, "User", "2"),
        ]
        assert translate(account, "User", 7) == record_id(account, "User", "7")
