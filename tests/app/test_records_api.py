"""List and retrieve endpoints: paging, every filter, expand, remote data, enum origins, errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.base import RemoteRecord
from schemas.models import Account, Attachment, Comment, Contact, Team, Ticket, User
from tests.app.conftest import Service


def rec(model: Any, path: str = "/x", enum_origins: dict[str, str | None] | None = None) -> RemoteRecord[Any]:
    return RemoteRecord(
        model=model, path=path, raw={"vendor": model.remote_id}, enum_origins=enum_origins or {}
    )


def dt(day: int) -> datetime:
    return datetime(2024, 1, day, 12, 0, tzinfo=UTC)


@pytest.fixture
async def desk(service: Service) -> dict[str, Any]:
    """One linked account with a small, fully related data set."""
    linked = await service.link()
    aid, token = linked["id"], linked["account_token"]
    await service.seed(aid, "Account", [rec(Account(remote_id="org1", name="Acme", domains=["acme.test"]))])
    await service.seed(aid, "Team", [rec(Team(remote_id="g1", name="Tier 1"))])
    await service.seed(
        aid,
        "User",
        [
            rec(User(remote_id="u1", name="Ann", email_address="Ann@Example.com", teams=["g1"])),
            rec(User(remote_id="u2", name="Bob", email_address="bob@example.com")),
        ],
    )
    await service.seed(
        aid,
        "Contact",
        [rec(Contact(remote_id="c1", name="Cy", email_address="cy@acme.test", account="org1"))],
    )
    tickets = [
        rec(
            Ticket(
                remote_id=f"t{i}",
                name=f"Ticket {i}",
                status=["OPEN", "CLOSED", "ON_HOLD"][i % 3],
                priority=["HIGH", "LOW"][i % 2],
                ticket_type="incident" if i < 5 else "question",
                assignees=["u1"] if i % 2 == 0 else ["u2"],
                creator="u1",
                account="org1",
                contact="c1",
                tags=["vip"] if i < 3 else ["billing"],
                ticket_url=f"https://acme.example/tickets/{i}",
                remote_created_at=dt(i + 1),
                remote_updated_at=dt(i + 2),
                due_date=dt(i + 3),
                completed_at=dt(20) if i % 3 == 1 else None,
                parent_ticket="t0" if i == 9 else None,
            ),
            f"/api/v2/tickets/t{i}",
            {"status": ["new", "solved", "pending"][i % 3]},
        )
        for i in range(10)
    ]
    await service.seed(aid, "Ticket", tickets)
    await service.seed(
        aid,
        "Comment",
        [
            rec(
                Comment(
                    remote_id="k1",
                    ticket="t0",
                    user="u1",
                    body="hello",
                    is_private=False,
                    remote_created_at=dt(2),
                )
            ),
            rec(
                Comment(
                    remote_id="k2",
                    ticket="t1",
                    contact="c1",
                    body="hi",
                    is_private=True,
                    remote_created_at=dt(5),
                )
            ),
        ],
    )
    await service.seed(
        aid,
        "Attachment",
        [rec(Attachment(remote_id="a1", ticket="t0", file_name="log.txt", remote_created_at=dt(3)))],
    )
    return {"id": aid, "token": token}


async def names(service: Service, token: str, **params: Any) -> list[str]:
    r = await service.get("/tickets", token, **params)
    assert r.status_code == 200, r.text
    return [t["name"] for t in r.json()["results"]]


async def test_every_field_is_present_and_ids_are_ours(service: Service, desk: dict[str, Any]) -> None:
    r = await service.get("/tickets", desk["token"], page_size=1)
    ticket = r.json()["results"][0]
    assert set(ticket) == set(Ticket.__struct_fields__)
    assert ticket["remote_id"] == "t0" and ticket["id"] != "t0"
    assert ticket["remote_data"] is None and ticket["remote_was_deleted"] is False
    assert ticket["created_at"].endswith("Z")
    users = (await service.get("/users", desk["token"])).json()["results"]
    assert ticket["creator"] == next(u["id"] for u in users if u["remote_id"] == "u1")


async def test_paging_forward_and_back_visits_every_record_once(
    service: Service, desk: dict[str, Any]
) -> None:
    seen: list[str] = []
    pages: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"page_size": 3}
        if cursor:
            params["cursor"] = cursor
        body = (await service.get("/tickets", desk["token"], **params)).json()
        pages.append(body)
        seen += [t["name"] for t in body["results"]]
        cursor = body["next"]
        if not cursor:
            break
    assert seen == [f"Ticket {i}" for i in range(10)]
    assert [len(p["results"]) for p in pages] == [3, 3, 3, 1]
    assert pages[0]["previous"] is None
    back = (await service.get("/tickets", desk["token"], page_size=3, cursor=pages[2]["previous"])).json()
    assert [t["name"] for t in back["results"]] == ["Ticket 3", "Ticket 4", "Ticket 5"]


async def test_default_page_size_is_30(service: Service, desk: dict[str, Any]) -> None:
    aid = desk["id"]
    await service.seed(aid, "Team", [rec(Team(remote_id=f"x{i}", name=f"team {i}")) for i in range(40)])
    body = (await service.get("/teams", desk["token"])).json()
    assert len(body["results"]) == 30 and body["next"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "CLOSED"}, [1, 4, 7]),
        ({"priority": "LOW"}, [1, 3, 5, 7, 9]),
        ({"ticket_type": "question"}, [5, 6, 7, 8, 9]),
        ({"name": "Ticket 4"}, [4]),
        ({"tags": "vip"}, [0, 1, 2]),
        ({"tags": "nope,billing"}, [3, 4, 5, 6, 7, 8, 9]),
        ({"remote_id": "t3"}, [3]),
        ({"remote_ids": "t3,t8"}, [3, 8]),
        ({"ticket_url": "tickets/7"}, [7]),
        ({"remote_created_after": "2024-01-08T12:00:00Z"}, [8, 9]),
        ({"remote_created_before": "2024-01-03T00:00:00+00:00"}, [0, 1]),
        ({"remote_updated_after": "2024-01-10T12:00:00Z"}, [9]),
        ({"remote_updated_before": "2024-01-03T12:00:00Z"}, [0]),
        ({"due_after": "2024-01-12T00:00:00Z"}, [9]),
        ({"due_before": "2024-01-04T11:00:00Z"}, [0]),
        ({"completed_after": "2024-01-19T00:00:00Z"}, [1, 4, 7]),
        ({"completed_before": "2024-01-19T00:00:00Z"}, []),
    ],
)
async def test_ticket_filters(
    service: Service, desk: dict[str, Any], params: dict[str, Any], expected: list[int]
) -> None:
    assert await names(service, desk["token"], **params) == [f"Ticket {i}" for i in expected]


async def test_relation_filters_take_our_ids(service: Service, desk: dict[str, Any]) -> None:
    token = desk["token"]
    users = {u["remote_id"]: u["id"] for u in (await service.get("/users", token)).json()["results"]}
    account = (await service.get("/accounts", token)).json()["results"][0]["id"]
    contact = (await service.get("/contacts", token)).json()["results"][0]["id"]
    t0 = (await service.get("/tickets", token, remote_id="t0")).json()["results"][0]["id"]
    assert await names(service, token, assignee_ids=users["u2"]) == [f"Ticket {i}" for i in (1, 3, 5, 7, 9)]
    assert len(await names(service, token, assignee_ids=f"{users['u1']},{users['u2']}")) == 10
    assert len(await names(service, token, creator_id=users["u1"])) == 10
    assert await names(service, token, creator_ids=users["u2"]) == []
    assert len(await names(service, token, account_id=account)) == 10
    assert len(await names(service, token, contact_id=contact)) == 10
    assert await names(service, token, parent_ticket_id=t0) == ["Ticket 9"]
    assert await names(service, token, account_id="00000000-0000-0000-0000-000000000000") == []


def test_links_are_kept_for_exactly_the_fields_a_filter_reads() -> None:
    """Every sync page writes its records' links: one no filter reads is work for nothing, and a
    filter without its links would find nothing."""
    from app.api.records import SPECS
    from app.db.records import LINK_FIELDS

    read = {f.link for spec in SPECS for f in spec.filters if f.link is not None}
    kept = {(model, field) for model, fields in LINK_FIELDS.items() for field in fields}
    assert kept == read
    assert ("Ticket", "tags") in read and ("User", "teams") in read


async def test_link_filters_follow_changed_records(service: Service, desk: dict[str, Any]) -> None:
    """A changed ticket's old assignee and tag links are replaced (links name records by seq), in a
    batch that also adds a ticket; another linked account's identical links never match here."""
    token = desk["token"]
    users = {u["remote_id"]: u["id"] for u in (await service.get("/users", token)).json()["results"]}
    await service.seed(
        desk["id"],
        "Ticket",
        [
            rec(Ticket(remote_id="t0", name="Ticket 0", assignees=["u2"], tags=["moved", "vip"])),
            rec(Ticket(remote_id="t2", name="Ticket 2", assignees=["u2"], tags=[])),
            rec(Ticket(remote_id="new", name="New", assignees=["u1"], tags=["vip"])),
        ],
    )
    assert await names(service, token, tags="vip") == ["Ticket 0", "Ticket 1", "New"]
    assert await names(service, token, tags="moved") == ["Ticket 0"]
    assert await names(service, token, assignee_ids=users["u1"]) == [f"Ticket {i}" for i in (4, 6, 8)] + [
        "New"
    ]
    assert "Ticket 2" in await names(service, token, assignee_ids=users["u2"])

    other = await service.link(origin="customer-2", desk="desk-b")
    await service.seed(other["id"], "Ticket", [rec(Ticket(remote_id="t0", name="B's", tags=["moved"]))])
    assert await names(service, token, tags="moved") == ["Ticket 0"]
    assert await names(service, other["account_token"], tags="moved") == ["B's"]
    assert await names(service, other["account_token"], tags="vip") == []


async def test_status_empty_selects_tickets_without_status(service: Service, desk: dict[str, Any]) -> None:
    await service.seed(desk["id"], "Ticket", [rec(Ticket(remote_id="nostatus", name="No status"))])
    assert await names(service, desk["token"], status="") == ["No status"]


async def test_created_and_modified_filters_use_our_timestamps(
    service: Service, desk: dict[str, Any]
) -> None:
    token = desk["token"]
    first = (await service.get("/tickets", token, page_size=1)).json()["results"][0]
    assert await names(service, token, created_before=first["created_at"]) == []
    assert len(await names(service, token, created_after="2000-01-01T00:00:00Z")) == 10
    assert len(await names(service, token, modified_before="2999-01-01T00:00:00Z")) == 10
    assert await names(service, token, modified_after="2999-01-01T00:00:00Z") == []


async def test_other_model_filters(service: Service, desk: dict[str, Any]) -> None:
    token = desk["token"]
    tickets = {t["remote_id"]: t["id"] for t in (await service.get("/tickets", token)).json()["results"]}
    comments = (await service.get("/comments", token, ticket_id=tickets["t1"])).json()["results"]
    assert [c["remote_id"] for c in comments] == ["k2"] and comments[0]["is_private"] is True
    later = (await service.get("/comments", token, remote_created_after="2024-01-03T00:00:00Z")).json()
    assert [c["remote_id"] for c in later["results"]] == ["k2"]
    users = (await service.get("/users", token, email_address="ANN@example.COM")).json()["results"]
    assert [u["name"] for u in users] == ["Ann"]
    team = (await service.get("/teams", token)).json()["results"][0]["id"]
    assert [u["name"] for u in (await service.get("/users", token, team=team)).json()["results"]] == ["Ann"]
    assert [u["name"] for u in (await service.get("/users", token, teams=f"x,{team}")).json()["results"]] == [
        "Ann"
    ]
    contacts = (await service.get("/contacts", token, email_address="cy@acme.test")).json()["results"]
    assert [c["name"] for c in contacts] == ["Cy"]
    assert (await service.get("/contacts", token, email_address="CY@acme.test")).json()["results"] == []
    attachments = (await service.get("/attachments", token, ticket_id=tickets["t0"])).json()["results"]
    assert [a["file_name"] for a in attachments] == ["log.txt"]


async def test_expand_returns_nested_objects(service: Service, desk: dict[str, Any]) -> None:
    token = desk["token"]
    t0 = (await service.get("/tickets", token, remote_id="t0")).json()["results"][0]["id"]
    r = await service.get(f"/tickets/{t0}", token, expand="assignees,account,contact,creator")
    ticket = r.json()
    assert ticket["assignees"][0]["name"] == "Ann"
    assert ticket["account"]["domains"] == ["acme.test"]
    assert ticket["contact"]["email_address"] == "cy@acme.test"
    assert ticket["creator"]["remote_id"] == "u1"
    assert isinstance(ticket["parent_ticket"], type(None))
    listed = (await service.get("/comments", token, expand="ticket,user,contact")).json()["results"]
    assert listed[0]["ticket"]["name"] == "Ticket 0" and listed[0]["user"]["name"] == "Ann"
    assert listed[1]["contact"]["name"] == "Cy"
    users = (await service.get("/users", token, expand="teams")).json()["results"]
    assert users[0]["teams"][0]["name"] == "Tier 1"
    # the SDK's form (one comma-joined value, comma encoded) and the repeated form agree
    repeated = await service.client.get(
        f"/api/ticketing/v1/tickets/{t0}?expand=assignees&expand=account", headers=service.headers(token)
    )
    assert repeated.json()["account"]["name"] == "Acme" and repeated.json()["assignees"][0]["name"] == "Ann"


async def test_expand_of_missing_target_keeps_the_id(service: Service, desk: dict[str, Any]) -> None:
    await service.seed(
        desk["id"], "Ticket", [rec(Ticket(remote_id="orphan", name="Orphan", assignees=["ghost"]))]
    )
    t = (await service.get("/tickets", desk["token"], remote_id="orphan", expand="assignees")).json()[
        "results"
    ][0]
    assert isinstance(t["assignees"][0], str)


async def test_remote_data_and_enum_origins(service: Service, desk: dict[str, Any]) -> None:
    token = desk["token"]
    plain = (await service.get("/tickets", token, remote_id="t2")).json()["results"][0]
    assert plain["remote_data"] is None and plain["status"] == "ON_HOLD"
    rich = (
        await service.get(
            "/tickets", token, remote_id="t2", include_remote_data="true", show_enum_origins="status"
        )
    ).json()["results"][0]
    assert rich["remote_data"] == [{"path": "/api/v2/tickets/t2", "data": {"vendor": "t2"}}]
    assert rich["status"] == "pending" and rich["priority"] == "HIGH"
    alias = (await service.get(f"/tickets/{plain['id']}", token, remote_fields="status")).json()
    assert alias["status"] == "pending"


async def test_deleted_records_hidden_unless_asked(service: Service, desk: dict[str, Any]) -> None:
    from app.db import records

    async with service.engine.begin() as conn:
        assert len(await records.mark_deleted(conn, desk["id"], "Ticket", ["t0", "t1"])) == 2
    assert len(await names(service, desk["token"])) == 8
    everything = (await service.get("/tickets", desk["token"], include_deleted_data="true")).json()["results"]
    assert len(everything) == 10
    assert [t["remote_was_deleted"] for t in everything[:3]] == [True, True, False]


async def test_unchanged_upsert_keeps_modified_at(service: Service, desk: dict[str, Any]) -> None:
    before = (await service.get("/teams", desk["token"])).json()["results"][0]
    await service.seed(desk["id"], "Team", [rec(Team(remote_id="g1", name="Tier 1"))])
    same = (await service.get("/teams", desk["token"])).json()["results"][0]
    assert same["modified_at"] == before["modified_at"]
    await service.seed(desk["id"], "Team", [rec(Team(remote_id="g1", name="Tier One"))])
    changed = (await service.get("/teams", desk["token"])).json()["results"][0]
    assert changed["id"] == before["id"] and changed["created_at"] == before["created_at"]
    assert changed["modified_at"] > before["modified_at"] and changed["name"] == "Tier One"


@pytest.mark.parametrize(
    ("path", "params", "fragment"),
    [
        ("/tickets", {"page_size": "0"}, "page_size"),
        ("/tickets", {"page_size": "101"}, "page_size"),
        ("/tickets", {"page_size": "ten"}, "page_size"),
        ("/tickets", {"status": "WEIRD"}, "status"),
        ("/tickets", {"priority": "MEH"}, "priority"),
        ("/tickets", {"created_after": "yesterday"}, "created_after"),
        ("/tickets", {"cursor": "not-a-cursor"}, "cursor"),
        ("/tickets", {"cursor": "eyJwIjotMX0"}, "cursor"),
        ("/tickets", {"expand": "owner"}, "expand"),
        ("/tickets", {"show_enum_origins": "name"}, "show_enum_origins"),
        ("/tickets", {"include_remote_data": "maybe"}, "include_remote_data"),
        ("/comments", {"expand": "assignees"}, "expand"),
        ("/users", {"collections": "x"}, "collections"),
    ],
)
async def test_bad_query_is_a_400_saying_what(
    service: Service, desk: dict[str, Any], path: str, params: dict[str, str], fragment: str
) -> None:
    r = await service.get(path, desk["token"], **params)
    assert r.status_code == 400, r.text
    assert fragment in r.json()["detail"]


async def test_unknown_query_params_are_ignored(service: Service, desk: dict[str, Any]) -> None:
    assert len(await names(service, desk["token"], some_future_param="1")) == 10


@pytest.mark.parametrize(
    "path",
    [
        "/tickets",
        "/comments",
        "/contacts",
        "/accounts",
        "/users",
        "/teams",
        "/attachments",
        "/collections",
        "/tags",
        "/roles",
    ],
)
async def test_every_model_lists_and_retrieves(service: Service, desk: dict[str, Any], path: str) -> None:
    body = (await service.get(path, desk["token"])).json()
    assert set(body) == {"next", "previous", "results"}
    for item in body["results"]:
        one = await service.get(f"{path}/{item['id']}", desk["token"])
        assert one.status_code == 200 and one.json() == item
    missing = await service.get(f"{path}/3fa85f64-5717-4562-b3fc-2c963f66afa6", desk["token"])
    assert missing.status_code == 404 and missing.json() == {"detail": "Not found."}


async def test_attachment_download_streams_the_vendor_bytes(service: Service, desk: dict[str, Any]) -> None:
    from tests import fakes
    from tests.app.conftest import desk_url

    fakes.desk(desk_url("desk-a")).files["a1"] = b"line 1\nline 2\n"
    token = desk["token"]
    attachment = (await service.get("/attachments", token)).json()["results"][0]
    r = await service.get(f"/attachments/{attachment['id']}/download", token)
    assert r.status_code == 200 and r.content == b"line 1\nline 2\n"
    assert r.headers["content-type"].startswith("text/plain")
    assert 'filename="log.txt"' in r.headers["content-disposition"]
    forced = await service.get(
        f"/attachments/{attachment['id']}/download", token, mime_type="application/pdf"
    )
    assert forced.headers["content-type"].startswith("application/pdf")
    missing = await service.get("/attachments/3fa85f64-5717-4562-b3fc-2c963f66afa6/download", token)
    assert missing.status_code == 404
    fakes.desk(desk_url("desk-a")).files.clear()
    gone = await service.get(f"/attachments/{attachment['id']}/download", token)
    assert gone.status_code == 404 and "no longer" in gone.json()["detail"]
