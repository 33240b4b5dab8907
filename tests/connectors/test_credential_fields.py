"""Which credentials a linked account needs: always-needed fields, and one complete sign-in method."""

import pytest

from connectors import registry
from connectors.base import CredentialField, missing_credentials

FIELDS = (
    CredentialField(name="subdomain", label="Subdomain", secret=False),
    CredentialField(name="email", label="Email", secret=False, method="api_token"),
    CredentialField(name="api_token", label="API token", method="api_token"),
    CredentialField(name="access_token", label="OAuth token", method="oauth"),
    CredentialField(name="on_behalf_of", label="As", method="oauth", required=False),
)


@pytest.mark.parametrize(
    ("credentials", "missing"),
    [
        ({"subdomain": "a", "email": "e", "api_token": "t"}, []),
        ({"subdomain": "a", "access_token": "o"}, []),
        ({"subdomain": "a", "access_token": "o", "email": "e"}, []),  # extra halves do no harm
        ({"email": "e", "api_token": "t"}, ["subdomain"]),
        ({"subdomain": "a", "email": "e"}, ["email + api_token | access_token"]),
        ({"subdomain": "a", "api_token": "", "access_token": ""}, ["email + api_token | access_token"]),
        ({}, ["subdomain", "email + api_token | access_token"]),
        ({"subdomain": "a", "on_behalf_of": "x"}, ["email + api_token | access_token"]),
    ],
)
def test_missing_credentials(credentials: dict[str, str], missing: list[str]) -> None:
    assert missing_credentials(FIELDS, credentials) == missing


def test_fields_without_methods_are_all_needed() -> None:
    fields = (CredentialField(name="domain", label="d"), CredentialField(name="api_key", label="k"))
    assert missing_credentials(fields, {"domain": "x"}) == ["api_key"]
    assert missing_credentials(fields, {"domain": "x", "api_key": "k"}) == []


def test_zendesk_declares_oauth_and_classic_does_not() -> None:
    zendesk, classic = registry.get("zendesk"), registry.get("zendesk_classic")
    assert missing_credentials(zendesk.credential_fields, {"subdomain": "a", "access_token": "o"}) == []
    assert missing_credentials(classic.credential_fields, {"subdomain": "a", "access_token": "o"}) == [
        "email + api_token"
    ]
