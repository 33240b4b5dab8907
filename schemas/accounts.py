"""Linked accounts, Link flow, capabilities and sync status (merge-api.md §3 notes, §4 admin models, §8)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from schemas.base import Base, Input


class ModelOperation(Base):
    model_name: str
    available_operations: list[str]
    required_post_parameters: list[str]
    supported_fields: list[str]


class AccountIntegration(Base):
    """The integration as ``/account-token`` and ``/available-actions`` describe it (an object)."""

    name: str
    abbreviated_name: str | None = None
    categories: list[str] = msgspec.field(default_factory=lambda: ["ticketing"])
    image: str | None = None
    square_image: str | None = None
    color: str | None = None
    slug: str | None = None
    api_endpoints_to_documentation_urls: dict[str, Any] | None = None
    webhook_setup_guide_url: str | None = None
    category_beta_status: dict[str, Any] | None = None


class AccountDetails(Base):
    """``GET /account-details``: here ``integration`` is the display name, a string."""

    id: str | None = None
    integration: str | None = None
    integration_slug: str | None = None
    category: str | None = "ticketing"
    end_user_origin_id: str | None = None
    end_user_organization_name: str | None = None
    end_user_email_address: str | None = None
    status: str | None = None
    webhook_listener_url: str | None = None
    is_duplicate: bool | None = None
    account_type: str | None = None
    completed_at: datetime | None = None
    instance_id: str | None = None
    instance_display_value: str | None = None


class LinkedAccountIntegration(Base):
    """``AccountDetailsAndActionsIntegration``."""

    name: str
    categories: list[str]
    color: str
    slug: str
    passthrough_available: bool
    image: str | None = None
    square_image: str | None = None
    available_model_operations: list[ModelOperation] | None = None


class LinkedAccount(Base):
    """``AccountDetailsAndActions``: one entry of ``GET /linked-accounts``."""

    id: str
    status: str
    end_user_organization_name: str
    end_user_email_address: str
    webhook_listener_url: str
    account_type: str
    completed_at: datetime | None
    category: str | None = "ticketing"
    status_detail: str | None = None
    end_user_origin_id: str | None = None
    subdomain: str | None = None
    is_duplicate: bool | None = None
    integration: LinkedAccountIntegration | None = None
    integration_specific_fields: dict[str, Any] | None = None


class LinkedAccountWithToken(LinkedAccount, kw_only=True):
    """What registering a linked account returns: the only response that carries its account token."""

    account_token: str


class LinkedAccountCreate(Input):
    """Our direct registration: an integrator links its end user's desk with credentials."""

    integration: str
    credentials: dict[str, str]
    end_user_origin_id: str
    end_user_organization_name: str
    end_user_email_address: str
    base_url: str | None = None


class LinkTokenCreate(Input):
    """``POST /link-token``. Keys we do not act on (scopes, language, ...) are accepted and ignored."""

    end_user_email_address: str
    end_user_organization_name: str
    end_user_origin_id: str
    categories: list[str] = msgspec.field(default_factory=lambda: ["ticketing"])
    integration: str | None = None
    link_expiry_mins: int = 30
    should_create_magic_link_url: bool | None = None
    hide_admin_magic_link: bool | None = None
    common_models: list[dict[str, Any]] | None = None
    category_common_model_scopes: dict[str, Any] | None = None
    language: str | None = None
    are_syncs_disabled: bool | None = None
    integration_specific_config: dict[str, Any] | None = None


class LinkToken(Base):
    link_token: str
    integration_name: str | None = None
    magic_link_url: str | None = None


class LinkCompletion(Input):
    """What the Link page (or a headless caller) sends to finish a link token."""

    link_token: str
    credentials: dict[str, str]
    integration: str | None = None
    base_url: str | None = None


class PublicToken(Base):
    public_token: str


class AccountToken(Base):
    account_token: str
    integration: AccountIntegration
    id: str


class RegenerateAccountToken(Base):
    linked_account_id: str
    account_token: str


class AvailableActions(Base):
    integration: AccountIntegration
    passthrough_available: bool
    available_model_operations: list[ModelOperation] | None = None


class SyncStatus(Base):
    model_name: str
    model_id: str
    status: str
    is_initial_sync: bool
    last_sync_start: datetime | None = None
    next_sync_start: datetime | None = None
    last_sync_result: str | None = None
    last_sync_finished: datetime | None = None
    data_fresh_as_of: datetime | None = None
    historical_data_since: datetime | None = None
    sync_status_reason: str | None = None
    selective_sync_configurations_usage: str | None = None


class Issue(Base, kw_only=True):
    """``GET /issues``: a problem the integrator must act on (merge-api.md §3, Issues)."""

    id: str | None = None
    #: ONGOING or RESOLVED.
    status: str | None = None
    error_description: str
    #: The linked account's end user: ``end_user_origin_id``, ``organization_name``, ``email_address``,
    #: and (ours) ``linked_account_id``.
    end_user: dict[str, Any] | None = None
    first_incident_time: datetime | None = None
    last_incident_time: datetime | None = None
    is_muted: bool | None = None
    #: What happened, newest last (the last 20 incidents).
    error_details: list[str] | None = None
