"""series.hr: the client against a fake API, and `/ticket serieshr` driven like Discord does."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.access import STAFF_ROLE
from bot.app import TicketLensBot
from bot.errors import BadInput, CredentialsRejected, NotPermitted, TicketNotFound
from bot.http import Http
from bot.i18n import Translate, Translator, package_catalogs, worded
from bot.providers.base import EntryKind, FieldKind, TicketView
from bot.providers.parsing import path_segment
from bot.redact import MASK
from bot.render import render_pages
from cogs.serieshr._client import MODULE, PLAN, PROBE_ID, SeriesHr, SeriesHrSettings
from cogs.serieshr._command import parse_ref
from tests.e2e.conftest import GUILD_ID
from tests.e2e.fake_discord import MANAGE_GUILD, FakeDiscord
from tests.fakes.serieshr import MODULE_OFF, NO_PLAN, OTHER_403, FakeSeriesHr, sr_ticket
from tests.harness import all_text, embeds_of, running_bot

SR = "serieshr"
GOOD = {"api_key": "good-key"}
TID = "TICKET-1234567890-ABCD"
BODIES = ("I need help with my rank", "Sure, which rank do you have now?", "Ticket claimed by")


@pytest.fixture
async def fake_sr() -> AsyncIterator[FakeSeriesHr]:
    """A running fake series.hr API."""
    server = FakeSeriesHr()
    await server.start()
    yield server
    await server.stop()


def provider_for(fake: FakeSeriesHr, fetcher: Http) -> SeriesHr:
    return SeriesHr(fetcher, SeriesHrSettings(base_url=fake.url))


@asynccontextmanager
async def sr_bot(
    fake_discord: FakeDiscord, fake_sr: FakeSeriesHr, data: Path
) -> AsyncIterator[TicketLensBot]:
    """The real bot with series.hr pointed at the fake (the default 25/s limit)."""
    section = SeriesHrSettings(base_url=fake_sr.url)
    async with running_bot(fake_discord, data, sections={SeriesHrSettings: section}) as bot:
        yield bot


@pytest.fixture
async def bot(fake_discord, fake_sr, tmp_path) -> AsyncIterator[TicketLensBot]:
    """A running bot with series.hr's key stored for the test guild."""
    async with sr_bot(fake_discord, fake_sr, tmp_path) as running:
        await running.store.put_credential(GUILD_ID, None, SR, GOOD, set_by=1)
        yield running


# -- the client ---------------------------------------------------------------------------


async def test_fetch_renders_ticket_and_conversation_in_time_order(fake_sr, fetcher):
    """Subject, status, people, dates and the conversation oldest first, with who and what."""
    fake_sr.add(sr_ticket())
    view = await provider_for(fake_sr, fetcher).fetch(GOOD, TID)
    assert view.title == f"{TID}: Help with ranking"
    fields = {f.name: f.value for f in view.fields}
    assert fields["Status"] == "In progress"
    assert fields["Priority"] == "High"
    assert fields["Category"] == "support"
    assert fields["Department"] == "support-dept"
    assert fields["Author"] == "Player Name (@player123)"
    assert fields["Claimed by"] == "Staff Member (@staff123)"
    assert fields["Game report"] == "No"
    assert fields["Created"] == datetime(2025, 1, 15, 10, 30, tzinfo=UTC)
    assert fields["Updated"] == datetime(2025, 1, 15, 11, 45, tzinfo=UTC)
    assert fields["Messages"] == "3"
    assert [(e.kind, e.body) for e in view.entries] == [
        (EntryKind.CUSTOMER, "I need help with my rank"),
        (EntryKind.SYSTEM, "Ticket claimed by Staff Member"),
        (EntryKind.STAFF, "Sure, which rank do you have now?"),
    ]
    assert [e.author for e in view.entries] == [
        "Player Name (@player123)",
        "series.hr",
        "Staff Member (@staff123)",
    ]


async def test_sparse_ticket_still_renders(fake_sr, fetcher):
    """An unclaimed game report with missing names and odd values is shown, not refused."""
    fake_sr.add(
        sr_ticket(
            Status="waiting",
            Priority=None,
            Author={"UserId": 42},
            ClaimedBy=None,
            ClaimedByUser=None,
            GameReport=True,
            GameData={"PlaceId": 606849621},
            Content={"m": {"Content": "x", "Type": "transfer", "Timestamp": "not a time"}},
            UpdatedAt=None,
        )
    )
    view = await provider_for(fake_sr, fetcher).fetch(GOOD, TID)
    fields = {f.name: f.value for f in view.fields}
    assert fields["Status"] == "Waiting"
    assert fields["Author"] == "Roblox user 42"
    assert fields["Claimed by"] == "Unclaimed"
    assert fields["Game report"] == "Yes · place 606849621"
    assert fields["Updated"] == "Unknown"
    assert view.entries[0].at is None
    assert view.entries[0].author == "series.hr (transfer)"
    assert view.entries[0].kind is EntryKind.SYSTEM


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ("off", "No"),
        ("no", "No"),
        (0, "No"),
        ("yes", "Yes · place 606849621"),
        (1, "Yes · place 606849621"),
        ("maybe", "Unknown"),
        ({}, "Unknown"),
    ],
)
async def test_game_report_follows_the_one_truth_rule(fake_sr, fetcher, sent, shown):
    """`GameReport` is read by the kit's truth rule: `"off"` is no, an unknown text is unknown.

    Before the kit, any text but 0/false/no read as yes and `{}` as no.
    """
    fake_sr.add(sr_ticket(GameReport=sent, GameData={"PlaceId": 606849621}))
    view = await provider_for(fake_sr, fetcher).fetch(GOOD, TID)
    assert {f.name: f.value for f in view.fields}["Game report"] == shown


async def test_epoch_text_and_zero_dates_are_read_not_refused(fake_sr, fetcher):
    """Epoch seconds or milliseconds as text and space-separated times are read; a zero date is
    unknown. Before the kit, epoch text was unknown too."""
    fake_sr.add(
        sr_ticket(
            CreatedAt="1736937000",
            UpdatedAt="0000-00-00 00:00:00",
            Content={
                "a": {"Content": "third", "Type": "system", "Timestamp": "0000-00-00 00:00:00"},
                "b": {"Content": "second", "Type": "staff_message", "Timestamp": "1736941200000"},
                "c": {
                    "Content": "first",
                    "Type": "author_message",
                    "Timestamp": "2025-01-15 10:30",
                },
            },
        )
    )
    view = await provider_for(fake_sr, fetcher).fetch(GOOD, TID)
    fields = {f.name: f.value for f in view.fields}
    assert fields["Created"] == datetime(2025, 1, 15, 10, 30, tzinfo=UTC)
    assert fields["Updated"] == "Unknown"
    assert view.timestamp == datetime(2025, 1, 15, 10, 30, tzinfo=UTC)
    assert [(e.body, e.at) for e in view.entries] == [
        ("first", datetime(2025, 1, 15, 10, 30, tzinfo=UTC)),
        ("second", datetime(2025, 1, 15, 11, 40, tzinfo=UTC)),
        ("third", None),
    ]


def test_the_key_is_declared_secret_as_field_and_header():
    """The core masks what the provider declares: the `api_key` field and the `apikey` header."""
    (api_key,) = SeriesHr.credential_fields
    assert (api_key.key, api_key.kind) == ("api_key", FieldKind.SECRET)
    assert SeriesHr.secret_headers == frozenset({"apikey"})
    assert SeriesHr.secret_params == frozenset()
    assert SeriesHr.secrets_of(GOOD) == ["good-key"]


async def test_an_unknown_403_is_quoted_without_secrets(fake_sr, fetcher, redactor):
    """A 403 we cannot classify is passed on as one line, with the key and every secret the
    bot knows masked."""
    key = "s3cr3t-token"
    fake_sr.keys[key] = OTHER_403
    fake_sr.other_403_message = "Workspace  suspended\n(caller {key}, owner hunter2-secret)"
    redactor.add("hunter2-secret")
    with pytest.raises(NotPermitted) as caught:
        await provider_for(fake_sr, fetcher).fetch({"api_key": key}, TID)
    assert caught.value.detail == (
        f"series.hr says: Workspace suspended (caller {MASK}, owner {MASK})"
    )


async def test_key_goes_in_the_apikey_header_never_the_query(fake_sr, fetcher):
    """The key is sent in `apikey`; the URL (which logs may show) holds only the id."""
    fake_sr.add(sr_ticket())
    await provider_for(fake_sr, fetcher).fetch(GOOD, TID)
    (request,) = fake_sr.requests
    assert request.apikey == "good-key"
    assert request.raw_path == f"/tickets/get/{TID}"
    assert request.query == ""


def german() -> Translate:
    """German as the running bot has it: the core's catalog and this package's."""
    translator = Translator()
    translator.add_catalogs(package_catalogs("cogs.serieshr"))
    return translator.bind("de")


def rendered(view: TicketView, tr: Translate | None = None) -> str:
    """Every text of every embed of every page of `view`, as sent to Discord."""
    pages = render_pages(view) if tr is None else render_pages(view, tr=tr)
    return all_text([embed.to_dict() for page in pages for embed in page])


async def test_our_words_are_german_for_de_and_upstream_text_stays(fake_sr, fetcher):
    """
    A German reader gets our labels, fallbacks and status words in German; what series.hr
    wrote (subject, category, names, messages, an undocumented message type, braces and all)
    is shown as it came, and the English render is what it always was.
    """
    fake_sr.add(
        sr_ticket(
            Subject="Rank {name} missing",
            Category="support {0}",
            ClaimedByUser=None,
            GameReport=True,
            GameData={"PlaceId": 606849621},
            Content={
                "a": {"Content": "Hi {there}", "Author": 123456789, "Type": "author_message"},
                "b": {"Content": "moved", "Author": 555, "Type": "transfer"},
            },
        )
    )
    other = "TICKET-1-EMPTY"
    fake_sr.add(sr_ticket(other, Subject="", Status="", Priority="urgent", Author=None))
    provider = provider_for(fake_sr, fetcher)
    views = [await provider.fetch(GOOD, TID), await provider.fetch(GOOD, other)]
    english_text = "\n".join(rendered(view) for view in views)
    german_text = "\n".join(rendered(view, german()) for view in views)

    for text in (
        f"{TID}: Rank {{name}} missing",
        "Status\nIn progress",
        "Priority\nHigh",
        "Category\nsupport {0}",
        "Claimed by\nRoblox user 987654321",
        "Game report\nYes · place 606849621",
        "Roblox user 555 (transfer)",
        f"series.hr · {TID} · In progress",
        f"series.hr ticket {other}",
        "Priority\nUrgent",
        "Author\nUnknown",
        f"series.hr · {other} · Unknown",
    ):
        assert text in english_text, text
    for text in (
        f"{TID}: Rank {{name}} missing",
        "Status\nIn Bearbeitung",
        "Priorität\nHoch",
        "Kategorie\nsupport {0}",
        "Übernommen von\nRoblox-Benutzer 987654321",
        "Im Spiel gemeldet\nJa · Place 606849621",
        "Player Name (@player123)",
        "Hi {there}",
        "Roblox-Benutzer 555 (transfer)",
        "Unterhaltung",
        f"series.hr · {TID} · In Bearbeitung",
        f"series.hr-Ticket {other}",
        "Priorität\nDringend",
        "Ersteller\nUnbekannt",
        f"series.hr · {other} · Unbekannt",
    ):
        assert text in german_text, text
    for text in ("Priority", "Claimed by", "Roblox user", "Conversation", "In progress"):
        assert text not in german_text, text
    # English (or any language without a catalog) is the same answer, byte for byte.
    for view in views:
        assert rendered(view, Translator().bind("en-GB")) == rendered(view)
        assert rendered(view, Translator().bind("fr")) == rendered(view)
    assert [worded(f.label, german()) for f in SeriesHr.credential_fields] == ["API-Schlüssel"]


async def test_object_id_is_accepted(fake_sr, fetcher):
    """The 24-hex-digit object id finds the same ticket, sent lower-case."""
    fake_sr.add(sr_ticket())
    ref = parse_ref("65A1B2C3D4E5F60718293A4B")
    view = await provider_for(fake_sr, fetcher).fetch(GOOD, ref)
    assert view.ticket_id == TID
    assert fake_sr.requests[0].raw_path == "/tickets/get/65a1b2c3d4e5f60718293a4b"


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        (" TICKET-1234567890-ABCD ", "TICKET-1234567890-ABCD"),
        ("ticket-1-abcd", "TICKET-1-abcd"),
        ("65a1b2c3d4e5f60718293a4b", "65a1b2c3d4e5f60718293a4b"),
    ],
)
def test_documented_id_forms_are_accepted(typed, sent):
    """`TICKET-<digits>-<letters/digits>` (any-case prefix) and 24 hex digits are ids."""
    assert parse_ref(typed) == sent


@pytest.mark.parametrize(
    "typed",
    [
        "../admin",
        "TICKET-1-AB/../../keys",
        "TICKET-1-AB?apikey=x",
        "TICKET-1-AB#x",
        "TICKET-ABCD",
        "TICKET-12-",
        "12345",
        "65a1b2c3d4e5f60718293a4",
        "65a1b2c3d4e5f60718293a4g",
        "",
    ],
)
def test_other_ids_are_refused(typed):
    """Anything but the documented forms is a clear BadInput naming both forms."""
    with pytest.raises(BadInput) as caught:
        parse_ref(typed)
    assert "TICKET-1234567890-ABCD" in caught.value.detail


def test_path_segment_encodes_separators():
    """Even past validation, `/`, `..` and `?` could not reach the path unencoded."""
    assert path_segment("a/../b?c=d#e") == "a%2F..%2Fb%3Fc%3Dd%23e"


async def test_missing_ticket_is_not_found(fake_sr, fetcher):
    """404 "Ticket not found" becomes TicketNotFound naming the id."""
    with pytest.raises(TicketNotFound) as caught:
        await provider_for(fake_sr, fetcher).fetch(GOOD, "TICKET-1-NOPE")
    assert caught.value.ticket_ref == "TICKET-1-NOPE"


@pytest.mark.parametrize(
    ("mode", "bad_key_status", "error", "detail", "advice"),
    [
        (NO_PLAN, 401, NotPermitted, PLAN, "Premium"),
        (MODULE_OFF, 401, NotPermitted, MODULE, "Tickets** module"),
        (None, 401, CredentialsRejected, "not valid", "API key"),
        (None, 403, CredentialsRejected, "not valid", "API key"),
    ],
)
async def test_each_403_and_401_cause_is_told_apart(
    fake_sr, fetcher, mode, bad_key_status, error, detail, advice
):
    """Plan, module and key problems (a bad key as 401 or 403) each get their own advice."""
    fake_sr.add(sr_ticket())
    fake_sr.bad_key_status = bad_key_status
    key = "other-key"
    if mode is not None:
        fake_sr.keys[key] = mode
    provider = provider_for(fake_sr, fetcher)
    with pytest.raises(error) as caught:
        await provider.fetch({"api_key": key}, TID)
    assert detail in caught.value.detail
    assert advice in (provider.explain(caught.value) or "")
    assert key not in str(caught.value)


async def test_success_false_in_a_200_is_an_error(fake_sr, fetcher, monkeypatch):
    """`{success:false, error:{code:403}}` with HTTP 200 is read by its code, not as a ticket."""
    fake_sr.keys["other-key"] = NO_PLAN
    provider = provider_for(fake_sr, fetcher)

    original = fetcher.request

    async def as_200(*args, **kwargs):
        answer = await original(*args, **kwargs)
        return type(answer)(status=200, headers=answer.headers, body=answer.body)

    monkeypatch.setattr(fetcher, "request", as_200)
    with pytest.raises(NotPermitted) as caught:
        await provider.fetch({"api_key": "other-key"}, TID)
    assert caught.value.detail == PLAN


async def test_verify_probes_an_id_that_cannot_exist(fake_sr, fetcher):
    """A good key is proven by 404 "Ticket not found" for the probe id."""
    await provider_for(fake_sr, fetcher).verify(GOOD)
    assert fake_sr.requests[0].raw_path == f"/tickets/get/{PROBE_ID}"


# -- the commands -------------------------------------------------------------------------


async def test_config_set_checks_and_stores_the_key(bot, fake_discord, fake_sr):
    """/ticketconfig set provider:serieshr asks for "API key", checks it, stores it."""
    await bot.store.delete_credential(GUILD_ID, None, SR)
    inter = await fake_discord.send_interaction(
        "ticketconfig set", {"provider": SR}, permissions=MANAGE_GUILD
    )
    modal = await fake_discord.wait_for_response(inter)
    assert re.findall(r"'label': '([^']+)'", str(modal.data)) == ["API key"]
    submit = await fake_discord.send_modal_submit(
        f"ticketlens:config:{SR}", {"api_key": "good-key"}, permissions=MANAGE_GUILD
    )
    reply = (await fake_discord.wait_for_followups(submit))[0]
    assert "Saved" in all_text(embeds_of(reply))
    assert "good-key" not in str(reply)
    assert await bot.store.get_credential(GUILD_ID, None, SR) == GOOD


@pytest.mark.parametrize(
    ("mode", "bad_key_status", "told"),
    [
        (NO_PLAN, 401, "Premium"),
        (MODULE_OFF, 401, "Tickets** module"),
        (None, 401, "not valid"),
        (None, 403, "not valid"),
    ],
)
async def test_config_set_refuses_and_explains(
    bot, fake_discord, fake_sr, mode, bad_key_status, told
):
    """A key without plan, module or validity is not stored, and the admin is told which."""
    await bot.store.delete_credential(GUILD_ID, None, SR)
    fake_sr.bad_key_status = bad_key_status
    if mode is not None:
        fake_sr.keys["other-key"] = mode
    inter = await fake_discord.send_interaction(
        "ticketconfig set", {"provider": SR}, permissions=MANAGE_GUILD
    )
    await fake_discord.wait_for_response(inter)
    submit = await fake_discord.send_modal_submit(
        f"ticketlens:config:{SR}", {"api_key": "other-key"}, permissions=MANAGE_GUILD
    )
    text = all_text(embeds_of((await fake_discord.wait_for_followups(submit))[0]))
    assert "nothing was stored" in text
    assert told.replace("*", "") in text.replace("*", "")
    assert await bot.store.get_credential(GUILD_ID, None, SR) is None


async def test_lookup_error_is_explained_to_staff(bot, fake_discord, fake_sr):
    """A workspace that lost its plan: the lookup says so, privately."""
    fake_sr.keys["good-key"] = NO_PLAN
    inter = await fake_discord.send_interaction(
        f"ticket {SR}", {"id": TID}, permissions=MANAGE_GUILD
    )
    response = await fake_discord.wait_for_response(inter)
    assert response.ephemeral
    assert "Premium or Enterprise" in all_text(embeds_of(response.data)).replace("*", "")


async def test_bad_ids_never_reach_series_hr(bot, fake_discord, fake_sr):
    """`../` or `?` in an id is refused with the id forms, and no request is made."""
    for typed in ("../../tickets/list", "TICKET-1-A?page=2", "TICKET-1-A/.."):
        inter = await fake_discord.send_interaction(
            f"ticket {SR}", {"id": typed}, permissions=MANAGE_GUILD
        )
        response = await fake_discord.wait_for_response(inter)
        assert response.ephemeral
        assert "TICKET-1234567890-ABCD" in all_text(embeds_of(response.data))
    assert fake_sr.requests == []


async def test_members_who_are_not_staff_are_refused(bot, fake_discord, fake_sr):
    """Without Manage Server or the staff role: "Staff only", and nothing is fetched."""
    fake_sr.add(sr_ticket())
    inter = await fake_discord.send_interaction(
        f"ticket {SR}", {"id": TID}, permissions=0, user_id=77
    )
    response = await fake_discord.wait_for_response(inter)
    assert response.ephemeral
    assert "Staff only" in all_text(embeds_of(response.data))
    assert fake_sr.requests == []


async def test_staff_role_members_see_the_whole_conversation(bot, fake_discord, fake_sr):
    """A member with the staff role gets the ticket and every message, only for them."""
    fake_sr.add(sr_ticket())
    # A role the loopback guild really has (it knows only @everyone and this one).
    role = fake_discord.guilds[GUILD_ID].bot_role
    await bot.store.set_guild_setting(GUILD_ID, STAFF_ROLE, str(role))
    inter = await fake_discord.send_interaction(
        f"ticket {SR}", {"id": TID}, permissions=0, user_id=77, roles=[role]
    )
    response = await fake_discord.wait_for_response(inter)
    assert response.ephemeral
    text = all_text(embeds_of(response.data))
    assert "Help with ranking" in text
    assert "Player Name" in text
    for body in BODIES:
        assert body in text


async def test_public_summary_has_no_message_bodies(bot, fake_discord, fake_sr):
    """public:true by staff posts subject, status and people in the channel, never bodies."""
    fake_sr.add(sr_ticket())
    inter = await fake_discord.send_interaction(
        f"ticket {SR}", {"id": TID, "public": True}, permissions=MANAGE_GUILD
    )
    response = await fake_discord.wait_for_response(inter)
    assert not response.ephemeral
    text = all_text(embeds_of(response.data))
    for shown in ("Help with ranking", "In progress", "Player Name", "Staff Member", "Messages"):
        assert shown in text
    for body in BODIES:
        assert body not in text


async def test_a_burst_of_100_lookups_stays_under_25_per_second(bot, fake_discord, fake_sr):
    """100 lookups at once with one key: queued, never over 25 in any second, all answered."""
    ids = [f"TICKET-{n}-BURST" for n in range(100)]
    for ticket_id in ids:
        fake_sr.add(sr_ticket(ticket_id, _id=f"{len(fake_sr.tickets):024x}"))
    inters = await asyncio.gather(
        *(
            fake_discord.send_interaction(
                f"ticket {SR}", {"id": ticket_id}, permissions=MANAGE_GUILD, user_id=500 + n
            )
            for n, ticket_id in enumerate(ids)
        )
    )

    def answered() -> bool | None:
        titles = []
        for inter in inters:
            message = fake_discord.original_message(inter) or {}
            titles += [e.get("title", "") for e in message.get("embeds") or []]
        return True if sum(t.startswith("TICKET-") for t in titles) == 100 else None

    await fake_discord.wait_until(answered, timeout=20, what="100 answers")
    arrivals = sorted(fake_sr.arrivals)
    assert len(arrivals) == 100
    busiest = max(sum(1 for t in arrivals if start <= t < start + 1.0) for start in arrivals)
    assert busiest <= 25
    assert fake_sr.throttled == 0
    assert all(inter.response is not None and inter.response.ephemeral for inter in inters)
