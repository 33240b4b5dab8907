"""Outbound URL policy, encryption at rest, and secrets kept out of logs and responses."""

from __future__ import annotations

import asyncio
import logging
import socket
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from sqlalchemy import select

from app.db.tables import api_keys, linked_accounts
from app.secrets import KEY_FILE_NAME, SecretBox, SecretKeyMissingError, secret_key_file
from app.services import build_services
from app.settings import Settings
from app.urlpolicy import UnsafeURLError, URLPolicy, outbound_client
from tests import fakes
from tests.app.conftest import API, Service, desk_url

# --- app/urlpolicy.py -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1",
        "https://127.1.2.3:8443/x",
        "https://[::1]/",
        "https://10.0.0.1",
        "https://172.16.5.4",
        "https://192.168.0.1",
        "https://[fc00::1]",
        "https://[fe80::1]",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.64.0.1",  # carrier-grade NAT
        "https://0.0.0.0",
        "https://[::]",
        "https://224.0.0.1",
        "https://240.0.0.1",
        "https://[::ffff:127.0.0.1]",
        "https://[::ffff:169.254.169.254]",
    ],
)
def test_non_public_addresses_are_refused_by_default(url: str) -> None:
    with pytest.raises(UnsafeURLError, match="non-public"):
        URLPolicy().check_url(url)


@pytest.mark.parametrize(
    ("url", "allow"),
    [
        ("http://127.0.0.1:9000/desk", "127.0.0.0/8"),
        ("https://[::1]/", "::1/128"),
        ("http://10.1.2.3", "10.0.0.0/8"),
        ("http://169.254.169.254", "169.254.169.254/32"),
        ("http://192.168.1.5", "192.168.1.0/24"),
    ],
)
def test_configured_networks_are_allowed(url: str, allow: str) -> None:
    assert URLPolicy([allow]).check_url(url) == url.rstrip("/")


def test_allowing_one_network_does_not_allow_others() -> None:
    policy = URLPolicy(["192.168.1.0/24"])
    with pytest.raises(UnsafeURLError):
        policy.check_url("http://192.168.2.1")
    with pytest.raises(UnsafeURLError):
        policy.check_url("http://127.0.0.1")


def test_public_https_passes_and_is_normalized() -> None:
    assert URLPolicy().check_url("https://93.184.216.34/api/") == "https://93.184.216.34/api"
    assert URLPolicy().check_url("https://[2606:4700::1111]") == "https://[2606:4700::1111]"


def test_plain_http_is_refused_for_public_hosts() -> None:
    with pytest.raises(UnsafeURLError, match="plain http"):
        URLPolicy().check_url("http://93.184.216.34")
    # Allowing a network is what permits plain http into it.
    assert URLPolicy(["93.184.216.0/24"]).check_url("http://93.184.216.34") == "http://93.184.216.34"


@pytest.mark.parametrize(
    "url",
    ["https://user:pw@93.184.216.34", "https://user@93.184.216.34", "https://:pw@93.184.216.34"],
)
def test_userinfo_is_refused(url: str) -> None:
    with pytest.raises(UnsafeURLError, match="credentials") as info:
        URLPolicy(["0.0.0.0/0"]).check_url(url)
    assert "pw" not in str(info.value)


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://93.184.216.34", "gopher://x", "93.184.216.34", "//93.184.216.34", ""]
)
def test_other_schemes_are_refused(url: str) -> None:
    with pytest.raises(UnsafeURLError):
        URLPolicy(["0.0.0.0/0"]).check_url(url)


def test_url_without_host_is_refused() -> None:
    with pytest.raises(UnsafeURLError, match="no host"):
        URLPolicy().check_url("https:///path")


def test_unresolvable_host_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_a: Any, **_k: Any) -> Any:
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with pytest.raises(UnsafeURLError, match="does not resolve"):
        URLPolicy().check_url("https://desk.invalid")


def _resolves_to(monkeypatch: pytest.MonkeyPatch, *addresses: str) -> None:
    def fake(host: str, *_a: Any, **_k: Any) -> list[Any]:
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, 1, 6, "", (a, 0)) for a in addresses]

    monkeypatch.setattr(socket, "getaddrinfo", fake)


def test_every_resolved_address_must_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    _resolves_to(monkeypatch, "93.184.216.34", "10.0.0.1")
    with pytest.raises(UnsafeURLError, match=r"10\.0\.0\.1"):
        URLPolicy().check_url("https://rebind.example")
    _resolves_to(monkeypatch, "93.184.216.34", "2606:4700::1111")
    assert URLPolicy().check_url("https://ok.example") == "https://ok.example"
    _resolves_to(monkeypatch, "fe80::1%eth0")
    with pytest.raises(UnsafeURLError):
        URLPolicy().check_url("https://scoped.example")


# --- the policy at connect time (outbound_client) ------------------------------------------------------


class _Server:
    """A plain HTTP server on a loopback address, counting the connections it accepts."""

    def __init__(self, host: str, answer: bytes) -> None:
        self.host, self.answer, self.connections, self.port = host, answer, 0, 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(self.answer)
        await writer.drain()
        writer.close()


@asynccontextmanager
async def _serving(host: str = "127.0.0.1", answer: bytes | None = None) -> AsyncIterator[_Server]:
    server = _Server(host, answer or b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
    listener = await asyncio.start_server(server._serve, host, 0)
    server.port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield server


def _rebinding(monkeypatch: pytest.MonkeyPatch, host: str, *answers: str) -> None:
    """``host`` resolves to each of ``answers`` in turn (the last one from then on), like a DNS server
    with a zero TTL that changes its answer after the first look-up."""
    real, left = socket.getaddrinfo, list(answers)

    def fake(name: Any, *args: Any, **kwargs: Any) -> Any:
        if name not in (host, host.encode()):  # anyio looks names up as IDNA bytes
            return real(name, *args, **kwargs)
        address = left.pop(0) if len(left) > 1 else left[0]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 0))]

    monkeypatch.setattr(socket, "getaddrinfo", fake)


async def test_an_address_that_changes_after_the_check_is_refused_at_connect(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with _serving() as server:
        url = f"http://desk.rebind.example:{server.port}/"
        # The public network is allowed for plain http only to keep the test's server plain.
        policy = URLPolicy(["93.184.216.0/24"])
        _rebinding(monkeypatch, "desk.rebind.example", "93.184.216.34", "127.0.0.1")
        assert policy.check_url(url) == url.rstrip("/")  # the check sees the public answer
        async with outbound_client(policy, timeout=httpx.Timeout(5.0)) as client:
            with pytest.raises(httpx.ConnectError, match=r"outbound URL policy.*127\.0\.0\.1"):
                await client.get(url)
        assert server.connections == 0
        # The same request without the guard lands on loopback: the scenario above is a real attack.
        async with httpx.AsyncClient() as plain:
            assert (await plain.get(url)).text == "ok"
        assert server.connections == 1


async def test_a_redirect_into_a_refused_network_is_refused_at_connect() -> None:
    async with _serving("127.0.0.1") as inner:
        redirect = (
            f"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{inner.port}/\r\n"
            "Content-Length: 0\r\nConnection: close\r\n\r\n"
        ).encode()
        async with _serving("127.0.0.2", redirect) as outer:
            policy = URLPolicy(["127.0.0.2/32"])  # the first hop is allowed, where it points is not
            async with outbound_client(policy, timeout=httpx.Timeout(5.0)) as client:
                first = await client.get(f"http://127.0.0.2:{outer.port}/")
                assert first.status_code == 302
                with pytest.raises(httpx.ConnectError, match="outbound URL policy"):
                    await client.get(f"http://127.0.0.2:{outer.port}/", follow_redirects=True)
    assert outer.connections == 2
    assert inner.connections == 0


async def test_allowed_addresses_connect_to_the_address_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    async with _serving() as server:
        _rebinding(monkeypatch, "desk.local.example", "127.0.0.1")
        async with outbound_client(URLPolicy(["127.0.0.0/8"]), timeout=httpx.Timeout(5.0)) as client:
            response = await client.get(f"http://desk.local.example:{server.port}/")
        assert response.text == "ok"
        assert response.request.headers["host"] == f"desk.local.example:{server.port}"  # name kept
        assert server.connections == 1


async def test_the_services_http_client_enforces_the_configured_policy(tmp_path: Path) -> None:
    async with _serving() as server:
        url = f"http://127.0.0.1:{server.port}/"
        settings = Settings(database_url="sqlite+aiosqlite://", data_dir=tmp_path, secret_key="k")
        strict = build_services(settings)  # the production default: outbound_allow empty
        allowing = build_services(msgspec.structs.replace(settings, outbound_allow=("127.0.0.0/8",)))
        try:
            with pytest.raises(httpx.ConnectError, match="non-public address"):
                await strict.http.get(url)
            assert (await allowing.http.get(url)).text == "ok"
        finally:
            for services in (strict, allowing):
                await services.http.aclose()
                await services.engine.dispose()
        assert server.connections == 1


# --- app/secrets.py -------------------------------------------------------------------------------------


def test_round_trip() -> None:
    box = SecretBox(["k1"])
    sealed = box.encrypt(b'{"api_key": "v"}')
    assert b"api_key" not in sealed
    assert box.decrypt(sealed) == b'{"api_key": "v"}'
    assert box.encrypt(b"x") != box.encrypt(b"x")  # randomized


def test_rotation_with_a_comma_list(tmp_path: Path) -> None:
    old = SecretBox.from_settings(Settings(database_url="sqlite+aiosqlite:///x.db", secret_key="old"))
    sealed_old = old.encrypt(b"before rotation")
    rotated = SecretBox.from_settings(
        Settings(database_url="sqlite+aiosqlite:///x.db", secret_key="new, old")
    )
    assert rotated.decrypt(sealed_old) == b"before rotation"
    sealed_new = rotated.encrypt(b"after rotation")
    # New secrets are written with the first key: the new key alone reads them, the old one cannot.
    assert SecretBox(["new"]).decrypt(sealed_new) == b"after rotation"
    with pytest.raises(SecretKeyMissingError):
        old.decrypt(sealed_new)


def test_wrong_key_is_a_clear_error() -> None:
    sealed = SecretBox(["right"]).encrypt(b"x")
    with pytest.raises(SecretKeyMissingError, match="DESKBRIDGE_SECRET_KEY"):
        SecretBox(["wrong"]).decrypt(sealed)
    with pytest.raises(SecretKeyMissingError):
        SecretBox(["right"]).decrypt(b"garbage")


def test_no_key_is_refused() -> None:
    with pytest.raises(SecretKeyMissingError):
        SecretBox([])
    with pytest.raises(SecretKeyMissingError):
        SecretBox.from_settings(Settings(database_url="sqlite+aiosqlite:///x.db", secret_key=" , "))
    with pytest.raises(SecretKeyMissingError, match="must be set"):
        SecretBox.from_settings(Settings(database_url="postgresql+asyncpg://u@h/db"))


def test_generated_key_file(tmp_path: Path) -> None:
    db = tmp_path / "data" / "deskbridge.db"
    settings = Settings(database_url=f"sqlite+aiosqlite:///{db}", data_dir=tmp_path / "elsewhere")
    path = secret_key_file(settings)
    assert path == db.parent / KEY_FILE_NAME
    box = SecretBox.from_settings(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    sealed = box.encrypt(b"x")
    # The same file is reused: a restart can read what was stored before.
    assert SecretBox.from_settings(settings).decrypt(sealed) == b"x"
    assert len(path.read_text().strip()) >= 32


def test_in_memory_sqlite_keeps_the_key_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(database_url="sqlite+aiosqlite:///:memory:", data_dir=tmp_path)
    assert secret_key_file(settings) == tmp_path / KEY_FILE_NAME


# --- no secrets in logs or responses --------------------------------------------------------------------

VENDOR_SECRET = "vendor-password-7f3a9c"


async def test_secrets_never_reach_logs_or_other_responses(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("deskbridge", "httpx", "litestar", "uvicorn", "connectors", "app"):
        caplog.set_level(logging.DEBUG, logger=name)
    responses: list[tuple[str, str]] = []

    async def send(method: str, path: str, headers: dict[str, str], **kw: Any) -> Any:
        r = await service.client.request(method, f"{API}{path}", headers=headers, **kw)
        responses.append((f"{method} {path}", r.text))
        return r

    registration = await send(
        "POST",
        "/linked-accounts",
        service.headers(),
        json={
            "integration": "fakedesk",
            "credentials": {"api_key": fakes.GOOD_KEY, "password": VENDOR_SECRET},
            "base_url": desk_url("desk-a"),
            "end_user_origin_id": "c1",
            "end_user_organization_name": "C1",
            "end_user_email_address": "c1@example.com",
        },
    )
    assert registration.status_code == 201
    token = registration.json()["account_token"]
    responses.pop()  # the registration is the one response that carries the account token

    h = service.headers(token)
    assert (await send("POST", "/tickets", h, json={"model": {"name": "x"}})).status_code == 201
    ticket = (await send("GET", "/tickets", h)).json()["results"][0]["id"]
    await send("PATCH", f"/tickets/{ticket}", h, json={"model": {"status": "CLOSED"}})
    await send("POST", "/comments", h, json={"model": {"ticket": ticket, "body": "hi"}})
    fakes.desk(desk_url("desk-a")).fail_next = fakes.unreachable()
    await send("POST", "/tickets", h, json={"model": {"name": "y"}})  # vendor error path
    for path in ("/account-details", "/available-actions", "/sync-status", "/tickets/meta/post"):
        await send("GET", path, h)
    await send("GET", "/linked-accounts", service.headers())
    await send("GET", "/linked-accounts", service.headers(token))
    # Failed authentication, with the secrets in the wrong places.
    await send("GET", "/tickets", {"Authorization": f"Bearer {service.api_key}x", "X-Account-Token": token})
    await send("GET", "/tickets", service.headers(f"{token}x"))
    await send("GET", "/tickets", {"Authorization": f"Bearer {token}"})
    await send("GET", "/tickets", {"Authorization": f"Basic {service.api_key}"})
    # Bad credentials on relink, and a refused URL.
    await send(
        "POST",
        "/linked-accounts",
        service.headers(),
        json={
            "integration": "fakedesk",
            "credentials": {"api_key": "wrong", "password": VENDOR_SECRET},
            "base_url": desk_url("desk-a"),
            "end_user_origin_id": "c1",
            "end_user_organization_name": "C1",
            "end_user_email_address": "c1@example.com",
        },
    )
    await send(
        "POST",
        "/linked-accounts",
        service.headers(),
        json={
            "integration": "fakedesk",
            "credentials": {"api_key": fakes.GOOD_KEY, "password": VENDOR_SECRET},
            "base_url": f"https://u:{VENDOR_SECRET}@10.0.0.1",
            "end_user_origin_id": "c2",
            "end_user_organization_name": "C2",
            "end_user_email_address": "c2@example.com",
        },
    )

    secrets = {"API key": service.api_key, "account token": token, "vendor secret": VENDOR_SECRET}
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records)
    for what, value in secrets.items():
        assert value not in logged, f"{what} logged"
        for where, text in responses:
            assert value not in text, f"{what} in the response to {where}"
    assert fakes.GOOD_KEY not in logged
    assert len(responses) >= 15
    assert len(caplog.records) > 10, "logging was not captured"


async def test_secrets_are_stored_hashed_or_encrypted(service: Service) -> None:
    linked = await service.client.post(
        f"{API}/linked-accounts",
        headers=service.headers(),
        json={
            "integration": "fakedesk",
            "credentials": {"api_key": fakes.GOOD_KEY, "password": VENDOR_SECRET},
            "base_url": desk_url("desk-a"),
            "end_user_origin_id": "c1",
            "end_user_organization_name": "C1",
            "end_user_email_address": "c1@example.com",
        },
    )
    token = linked.json()["account_token"]
    async with service.engine.connect() as conn:
        stored = [repr(tuple(row)) for row in await conn.execute(select(linked_accounts))]
        stored += [repr(tuple(row)) for row in await conn.execute(select(api_keys))]
    dump = "\n".join(stored)
    for value in (token, VENDOR_SECRET, fakes.GOOD_KEY, service.api_key):
        assert value not in dump
    async with service.engine.connect() as conn:
        sealed = await conn.scalar(select(linked_accounts.c.credentials))
    creds = msgspec.json.decode(SecretBox.from_settings(service.settings).decrypt(sealed))
    assert creds == {"api_key": fakes.GOOD_KEY, "password": VENDOR_SECRET}
