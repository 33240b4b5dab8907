"""Our wire types against the gem's captured bytes: same keys, order, types, nulls and time format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest

from connectors.ticket_sharing import mapping, wire
from tests.connectors.ticket_sharing.captures import CAPTURES, FOLDERS, Capture, gem_results

WITH_BODY = [c for c in CAPTURES if c.raw]


def _decode(capture: Capture) -> wire.Ticket | wire.Agreement:
    if "/agreements/" in capture.target:
        return wire.decode_agreement(capture.raw)
    return wire.decode_ticket(capture.raw)


@pytest.mark.parametrize("capture", WITH_BODY, ids=lambda c: c.id)
def test_reencoding_a_capture_gives_the_same_bytes(capture: Capture) -> None:
    """Key order, nulls, compact raw UTF-8, unescaped ``/``: byte for byte what the gem sent."""
    assert wire.encode(_decode(capture)) == capture.raw


@pytest.mark.parametrize("capture", WITH_BODY, ids=lambda c: c.id)
def test_the_gem_parses_what_we_emit_field_for_field(capture: Capture) -> None:
    ours = msgspec.json.decode(wire.encode(_decode(capture)))
    assert list(ours) == list(capture.body_json)
    assert ours == capture.body_json


def test_parse_round_trips_match_the_gem() -> None:
    for folder in FOLDERS:
        results = gem_results(folder)
        ticket = results["ticket_parse_roundtrip"]
        assert msgspec.json.decode(wire.encode(wire.decode_ticket(msgspec.json.encode(ticket)))) == ticket
        agreement = results["agreement_parse_roundtrip"]
        decoded = wire.decode_agreement(msgspec.json.encode({**agreement, "deactivated_by": "sender"}))
        assert msgspec.json.decode(wire.encode(decoded)) == agreement  # unknown keys dropped, like the gem


def test_an_omitted_public_flag_means_public() -> None:
    assert gem_results(FOLDERS[0])["comment_default_public"] is True
    ticket = wire.decode_ticket(b'{"uuid":"t","comments":[{"uuid":"c","body":"x"}]}')
    assert ticket.comments and ticket.comments[0].public is True


def test_an_empty_ticket_serializes_every_field_with_empty_comments() -> None:
    out = msgspec.json.decode(wire.encode(wire.Ticket(uuid="redir", status="open")))
    capture = next(c for c in CAPTURES if "redir" in c.name)
    assert out == capture.body_json


def test_time_format_out_and_lenient_in() -> None:
    pst = timezone(timedelta(hours=-8))
    assert wire.format_time(datetime(2011, 1, 17, 1, 1, 1, 500, tzinfo=pst)) == "2011-01-17 01:01:01 -0800"
    assert wire.format_time(datetime(2011, 1, 17, 9, 0, 0)) == "2011-01-17 09:00:00 +0000"
    expected = datetime(2011, 1, 17, 9, 1, 1, tzinfo=UTC)
    for text in (
        "2011-01-17 01:01:01 -0800",
        "2011-01-17T09:01:01Z",
        "2011-01-17T09:01:01+00:00",
        "2011-01-17 09:01:01",
    ):
        assert wire.parse_time(text) == expected, text
    assert wire.parse_time("yesterday") is None
    assert wire.parse_time(None) is None


def test_values_are_parsed_leniently() -> None:
    ticket = wire.decode_ticket(b'{"uuid":"t","original_id":"12","custom_fields":{"a":[1,{"b":null}]},"x":1}')
    assert ticket.original_id == "12"
    with pytest.raises(wire.WireError):
        wire.decode_ticket(b"[1,2]")
    with pytest.raises(wire.WireError):
        wire.decode_ticket(b"{not json")


def test_uuids_are_40_hex_sha1() -> None:
    uuid = mapping.resource_uuid("https://x.example/sharing/abc", "tickets", "1")
    assert len(uuid) == 40 and int(uuid, 16) >= 0
    assert uuid == mapping.resource_uuid("https://x.example/sharing/abc", "tickets", "1")
    assert len(mapping.random_uuid()) == 40 and mapping.random_uuid() != mapping.random_uuid()


@pytest.mark.parametrize(
    ("protocol", "common", "back"),
    [
        ("new", "OPEN", "open"),
        ("open", "OPEN", "open"),
        ("pending", "ON_HOLD", "pending"),
        ("hold", "ON_HOLD", "pending"),
        ("solved", "CLOSED", "solved"),
        ("closed", "CLOSED", "solved"),
        ("Waiting on vendor", None, None),
    ],
)
def test_status_mapping(protocol: str, common: str | None, back: str | None) -> None:
    assert mapping.status_in(protocol) == common
    assert mapping.normalized(protocol) == back
    assert mapping.status_out("IN_PROGRESS") == "open"
