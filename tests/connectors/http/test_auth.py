import asyncio
import base64
from urllib.parse import parse_qs

import httpx
import pytest

from connectors.http import ApiKeyHeader, AuthError, Basic, BearerToken, FakeClock, OAuth2Refresh, TokenSet

TOKEN_URL = "https://acme.zendesk.com/oauth/tokens"
API = "https://acme.zendesk.com/api/v2/tickets.json"


async def captured_headers(auth):
    seen = {}

    def handler(request):
        seen.update(request.headers)
        return httpx.Response(200, json={})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        await client.get(API, auth=auth)
    return seen


async def test_basic_zendesk_api_token():
    headers = await captured_headers(Basic("agent@acme.com/token", "tok123"))
    assert headers["authorization"] == "Basic " + base64.b64encode(b"agent@acme.com/token:tok123").decode()


async def test_basic_freshdesk_api_key():
    headers = await captured_headers(Basic("fdkey", "X"))
    assert base64.b64decode(headers["authorization"].split()[1]) == b"fdkey:X"


async def test_bearer_with_custom_scheme():
    headers = await captured_headers(BearerToken("zz", scheme="Zoho-oauthtoken"))
    assert headers["authorization"] == "Zoho-oauthtoken zz"


async def test_api_key_header_name_is_configurable():
    headers = await captured_headers(ApiKeyHeader("k-1", header="apikey"))
    assert headers["apikey"] == "k-1"
    assert "authorization" not in headers


def test_reprs_hide_secrets():
    auths = [
        Basic("user", "s3cret"),
        BearerToken("s3cret"),
        ApiKeyHeader("s3cret"),
        OAuth2Refresh(
            TokenSet(access_token="s3cret", refresh_token="s3cret"),
            token_url=TOKEN_URL,
            client_id="cid",
            client_secret="s3cret",
        ),
        TokenSet(access_token="s3cret", refresh_token="s3cret"),
    ]
    for auth in auths:
        assert "s3cret" not in repr(auth)


class FakeVendor:
    """An API that accepts only the current access token, and an OAuth token endpoint that rotates."""

    def __init__(self, token_delay=0.0, rotate=True):
        self.valid = "access-2"
        self.issued = 1
        self.token_requests = []
        self.api_auth = []
        self.token_delay = token_delay
        self.rotate = rotate

    async def __call__(self, request):
        if str(request.url) == TOKEN_URL:
            form = parse_qs(request.content.decode())
            sent = {k: v[0] for k, v in form.items()}
            self.token_requests.append(sent | {"_auth": request.headers.get("authorization")})
            await asyncio.sleep(self.token_delay)
            if form["refresh_token"][0] != f"refresh-{self.issued}":
                return httpx.Response(400, json={"error": "invalid_grant", "error_description": "revoked"})
            self.issued += 1
            self.valid = f"access-{self.issued}"
            body = {"access_token": self.valid, "token_type": "bearer", "expires_in": 1800}
            if self.rotate:
                body["refresh_token"] = f"refresh-{self.issued}"
            return httpx.Response(200, json=body)
        self.api_auth.append(request.headers["authorization"])
        await asyncio.sleep(0)
        if request.headers["authorization"] != f"Bearer {self.valid}":
            return httpx.Response(401, json={"error": "invalid_token"})
        return httpx.Response(200, json={"ok": True, "body": request.content.decode()})


def make_auth(saved, tokens=None, **kwargs):
    async def on_refresh(new):
        saved.append(new)

    tokens = tokens or TokenSet(access_token="access-1", refresh_token="refresh-1")
    return OAuth2Refresh(
        tokens, token_url=TOKEN_URL, client_id="cid", client_secret="csecret", on_refresh=on_refresh, **kwargs
    )


async def test_refreshes_on_401_retries_once_and_persists():
    vendor, saved = FakeVendor(), []
    vendor.valid = "access-2"  # the stored token is already stale
    vendor.issued = 1
    auth = make_auth(saved)
    async with httpx.AsyncClient(transport=httpx.MockTransport(vendor)) as client:
        response = await client.post(API, auth=auth, json={"ticket": {"subject": "hi"}})
    assert response.status_code == 200
    # The retried request still carries its body.
    assert '"subject":"hi"' in response.json()["body"].replace(" ", "")
    assert vendor.api_auth == ["Bearer access-1", "Bearer access-2"]
    assert len(vendor.token_requests) == 1
    sent = vendor.token_requests[0]
    assert sent["grant_type"] == "refresh_token"
    assert sent["refresh_token"] == "refresh-1"
    assert (sent["client_id"], sent["client_secret"]) == ("cid", "csecret")
    assert [t.access_token for t in saved] == ["access-2"]
    assert saved[0].refresh_token == "refresh-2"
    assert auth.tokens == saved[0]


async def test_concurrent_401s_refresh_only_once():
    vendor, saved = FakeVendor(token_delay=0.01), []
    auth = make_auth(saved)
    async with httpx.AsyncClient(transport=httpx.MockTransport(vendor)) as client:
        responses = await asyncio.gather(*(client.get(API, auth=auth) for _ in range(10)))
    assert [r.status_code for r in responses] == [200] * 10
    assert vendor.api_auth.count("Bearer access-1") == 10  # all raced into the stale token
    assert len(vendor.token_requests) == 1
    assert len(saved) == 1
    assert auth.refresh_count == 1


async def test_rotated_refresh_token_is_used_next_time():
    vendor, saved = FakeVendor(), []
    auth = make_auth(saved)
    async with httpx.AsyncClient(transport=httpx.MockTransport(vendor)) as client:
        await client.get(API, auth=auth)
        vendor.valid = "revoked-by-vendor"  # the access token dies again
        vendor.issued = 2
        response = await client.get(API, auth=auth)
    assert response.status_code == 200
    assert [r["refresh_token"] for r in vendor.token_requests] == ["refresh-1", "refresh-2"]
    assert [t.refresh_token for t in saved] == ["refresh-2", "refresh-3"]


async def test_without_rotation_the_old_refresh_token_is_kept():
    vendor, saved = FakeVendor(rotate=False), []
    auth = make_auth(saved)
    async with httpx.AsyncClient(transport=httpx.MockTransport(vendor)) as client:
        await client.get(API, auth=auth)
    assert saved[0].refresh_token == "refresh-1"
    assert saved[0].access_token == "access-2"


async def test_refused_refresh_is_an_auth_error_without_secrets():
    vendor, saved = FakeVendor(), []
    auth = make_auth(saved, tokens=TokenSet(access_token="access-1", refresh_token="refresh-stolen"))
    async with httpx.AsyncClient(transport=httpx.MockTransport(vendor)) as client:
        with pytest.raises(AuthError) as caught:
            await client.get(API, auth=auth)
    message = str(caught.value)
    assert "invalid_grant" in message
    for secret in ("refresh-stolen", "csecret", "access-1"):
        assert secret not in message
    assert saved == []


async def test_a_second_401_is_returned_not_looped():
    calls = []

    def handler(request):
        calls.append(str(request.url))
        if str(request.url) == TOKEN_URL:
            return httpx.Response(200, json={"access_token": "new-but-useless"})
        return httpx.Response(401)

    auth = make_auth([])
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        response = await client.get(API, auth=auth)
    assert response.status_code == 401
    assert calls == [API, TOKEN_URL, API]


async def test_expired_token_is_refreshed_before_sending():
    vendor, saved = FakeVendor(), []
    clock = FakeClock(epoch=1_000_000)
    tokens = TokenSet(access_token="access-1", refresh_token="refresh-1", expires_at=1_000_030)  # in 30 s
    auth = make_auth(saved, tokens=tokens, clock=clock)
    async with httpx.AsyncClient(transport=httpx.MockTransport(vendor)) as client:
        response = await client.get(API, auth=auth)
    assert response.status_code == 200
    assert vendor.api_auth == ["Bearer access-2"]  # never sent the almost-expired token
    assert saved[0].expires_at == pytest.approx(1_000_000 + 1800)


async def test_client_credentials_as_basic():
    vendor, saved = FakeVendor(), []
    auth = make_auth(saved, client_auth="basic")
    async with httpx.AsyncClient(transport=httpx.MockTransport(vendor)) as client:
        await client.get(API, auth=auth)
    sent = vendor.token_requests[0]
    assert "client_secret" not in sent
    assert base64.b64decode(sent["_auth"].split()[1]) == b"cid:csecret"


def test_sync_clients_are_refused():
    auth = make_auth([])
    transport = httpx.MockTransport(lambda r: httpx.Response(200))
    with httpx.Client(transport=transport) as client, pytest.raises(RuntimeError):
        client.get(API, auth=auth)
