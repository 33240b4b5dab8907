"""The receiving side refuses what it must, with a status the gem understands, and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from app.secrets import SecretBox
from tests import fakes
from tests.app.conftest import Service, desk_url
from tests.app.sharing_support import counts, path_of, seed_agreement, sharing_url

UUID_A, KEY_A = "a" * 40, "1" * 40
UUID_B, KEY_B = "b" * 40, "2" * 40
SHARE = b'{"uuid":"t1","subject":"s","status":"open","comments":[{"uuid":"c1","body":"hi"}]}'


async def setup(service: Service) -> dict[str, Any]:
    linked = await service.link(origin="receiver", desk="desk-b")
    box = SecretBox.from_settings(service.settings)
    base = path_of(await sharing_url(service, linked["account_token"]))
    for uuid, key, status in ((UUID_A, KEY_A, "accepted"), (UUID_B, KEY_B, "declined")):
        await seed_agreement(service.engine, box, linked["id"], uuid, key, direction="in", status=status)
    return {"base": base, "account": linked["id"]}


def token(uuid: str, key: str) -> dict[str, str]:
    return {"X-Ticket-Sharing-Token": f"{uuid}:{key}", "Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status"),
    [
        ("POST", "/tickets/t1", {"Content-Type": "application/json"}, SHARE, 401),
        ("POST", "/tickets/t1", token(UUID_A, KEY_B), SHARE, 403),  # wrong key
        ("POST", "/tickets/t1", token(UUID_A, ""), SHARE, 403),
        ("POST", "/tickets/t1", {"X-Ticket-Sharing-Token": KEY_A}, SHARE, 403),  # no uuid part
        ("POST", "/tickets/t1", token("c" * 40, KEY_A), SHARE, 403),  # unknown agreement
        ("POST", "/tickets/t1", token(UUID_B, KEY_B), SHARE, 403),  # declined agreement
        (
            "PUT",
            f"/agreements/{UUID_A}",
            token(UUID_B, KEY_B),
            b'{"status":"inactive"}',
            403,
        ),  # other's token
        ("PUT", f"/agreements/{UUID_A}", {"Content-Type": "application/json"}, b'{"status":"inactive"}', 401),
        ("POST", "/tickets/t1", token(UUID_A, KEY_A), b"{not json", 422),
        ("POST", "/tickets/t1", token(UUID_A, KEY_A), b'["a"]', 422),
        ("POST", "/tickets/t1", token(UUID_A, KEY_A), b'{"uuid":"other"}', 422),  # uuid differs from URL
        ("POST", "/tickets/t1", token(UUID_A, KEY_A), b'{"uuid":"t1","comments":"no"}', 422),
        ("POST", "/tickets/t1", {**token(UUID_A, KEY_A), "Content-Type": "text/plain"}, SHARE, 422),
        ("POST", "/tickets/t1", token(UUID_A, KEY_A), b" " * (1024 * 1024 + 1), 422),  # oversized
        ("PUT", "/tickets/t1", token(UUID_A, KEY_A), SHARE, 404),  # never shared
        ("DELETE", "/tickets/t1", token(UUID_A, KEY_A), b"", 404),
        ("DELETE", f"/agreements/{UUID_A}", token(UUID_A, KEY_A), b"", 405),
        ("PUT", f"/agreements/{UUID_A}", token(UUID_A, KEY_A), b'{"status":"declined"}', 422),  # sender can't
        ("PUT", f"/agreements/{UUID_A}", token(UUID_A, KEY_A), b'{"access_key":"x"}', 422),  # immutable
        (
            "POST",
            f"/agreements/{UUID_A}",
            {},
            b'{"uuid":"' + UUID_A.encode() + b'","access_key":"k",'
            b'"sender_url":"http://x.example/s","status":"pending"}',
            422,
        ),  # duplicate invite
        (
            "POST",
            "/agreements/zz",
            {},
            b'{"uuid":"zz","access_key":"k","sender_url":"u","status":"accepted"}',
            422,
        ),
        ("POST", "/nothing/here", {}, b"{}", 404),
    ],
)
async def test_refused_and_nothing_written(
    service: Service, method: str, path: str, headers: dict[str, str], body: bytes, status: int
) -> None:
    ctx = await setup(service)
    before = await counts(service.engine)
    r = await service.client.request(method, ctx["base"] + path, headers=headers, content=body)
    assert r.status_code == status, r.text
    assert r.status_code not in (400, 406, 409, 412, 413, 415, 429)  # the gem raises on those
    if status == 401:
        assert r.headers["www-authenticate"] == "X-Ticket-Sharing"
    assert await counts(service.engine) == before
    assert not fakes.desk(desk_url("desk-b")).tickets


async def test_unknown_endpoint_and_no_api_key_needed(service: Service) -> None:
    r = await service.client.post(
        "/sharing/not-an-endpoint/tickets/t1", content=SHARE, headers=token(UUID_A, KEY_A)
    )
    assert r.status_code == 404
    ctx = await setup(service)
    # Our API key is neither needed nor a substitute for the agreement token.
    r = await service.client.post(ctx["base"] + "/tickets/t1", content=SHARE, headers=service.headers())
    assert r.status_code == 401


async def test_double_slash_and_text_x_json_are_accepted(service: Service) -> None:
    ctx = await setup(service)
    headers = {
        **token(UUID_A, KEY_A),
        "Content-Type": 'text/x-json; charset="UTF-8"',
        "X-Ticket-Sharing-Version": "1",
    }
    r = await service.client.post(ctx["base"] + "//tickets/t1", content=SHARE, headers=headers)
    assert r.status_code == 201, r.text
    assert len(fakes.desk(desk_url("desk-b")).tickets) == 1


async def test_inactive_agreement_refuses_everything_but_a_repeat_deactivation(service: Service) -> None:
    ctx = await setup(service)
    headers = token(UUID_A, KEY_A)
    assert (
        await service.client.put(
            ctx["base"] + f"/agreements/{UUID_A}", content=b'{"status":"inactive"}', headers=headers
        )
    ).status_code == 200
    again = await service.client.put(
        ctx["base"] + f"/agreements/{UUID_A}", content=b'{"status":"inactive"}', headers=headers
    )
    assert again.status_code == 200  # a retried deactivation is harmless
    before = await counts(service.engine)
    for method, path, body in (
        ("POST", "/tickets/t1", SHARE),
        ("PUT", "/tickets/t1", SHARE),
        ("PUT", f"/agreements/{UUID_A}", b'{"status":"accepted"}'),
        ("PUT", f"/agreements/{UUID_A}", b'{"name":"x"}'),
    ):
        r = await service.client.request(method, ctx["base"] + path, content=body, headers=headers)
        assert r.status_code == 403, (method, path, r.text)
    assert await counts(service.engine) == before
