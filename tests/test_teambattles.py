"""TeamBattles: the client against a fake API, and `/ticket teambattles` driven like Discord."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bot.app import TicketLensBot
from bot.errors import BadAnswer, BadInput, CredentialsRejected, NotPermitted, TicketNotFound
from bot.http import Http
from bot.i18n import Translator, package_catalogs, worded
from bot.providers.base import Audience, EntryKind, FieldKind
from bot.providers.palette import PRIORITIES, humanise
from bot.providers.parsing import NOT_A_TICKET, path_segment
from bot.render import render_pages
from cogs.teambattles._client import NOT_YOURS, PROBE_ID, TeamBattles, TeamBattlesSettings
from cogs.teambattles._command import parse_ref
from cogs.teambattles._view import CATEGORIES
from tests.e2e.conftest import GUILD_ID
from tests.e2e.fake_discord import MANAGE_GUILD
from tests.fakes.teambattles import FakeTeamBattles, TbKey, tb_key, tb_ticket
from tests.harness import all_text, embeds_of, running_bot

TB = "teambattles"
TID = "jd7a1b2c3d4e5f6g7h8j9k0m1n2p3q4r"
ALICE, BOB, STAFF = 501, 502, 503
ALICE_KEY, BOB_KEY, TEAM_KEY = tb_key(1), tb_key(2), tb_key(3)
NOT_YOURS_TEXT = "not found, or not a ticket of this account"


@pytest.fixture
async def fake_tb() -> AsyncIterator[FakeTeamBattles]:
    """A running fake TeamBattles API: Alice, Bob and the team account, Alice owns TID."""
    server = FakeTeamBattles(
        keys={ALICE_KEY: TbKey("alice"), BOB_KEY: TbKey("bob"), TEAM_KEY: TbKey("team")}
    )
    server.add("alice", tb_ticket(TID))
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def bot(fake_discord, fake_tb, tmp_path) -> AsyncIterator[TicketLensBot]:
    """A running bot with TeamBattles pointed at the fake."""
    section = TeamBattlesSettings(base_url=fake_tb.url)
    async with running_bot(
        fake_discord, tmp_path, sections={TeamBattlesSettings: section}
    ) as running:
        yield running


def provider_for(fake: FakeTeamBattles, fetcher: Http) -> TeamBattles:
    return TeamBattles(fetcher, TeamBattlesSettings(base_url=fake.url))


async def link(bot: TicketLensBot, user_id: int | None, key: str) -> None:
    """Store a member's own key (user_id) or the guild's shared key (None)."""
    await bot.store.put_credential(GUILD_ID, user_id, TB, {"api_key": key}, set_by=user_id or 1)


async def look_up(fake_discord, user_id: int, permissions: int = 0, ticket_id: str = TID):
    """Run /ticket teambattles as `user_id`; the response and its visible text."""
    inter = await fake_discord.send_interaction(
        f"ticket {TB}", {"id": ticket_id}, permissions=permissions, user_id=user_id
    )
    response = await fake_discord.wait_for_response(inter)
    return response, all_text(embeds_of(response.data))


# -- the client ---------------------------------------------------------------------------


async def test_fetch_renders_status_thread_and_dates(fake_tb, fetcher):
    """Status, priority, subject, the thread (system marked, you vs staff) and dates."""
    view = await provider_for(fake_tb, fetcher).fetch({"api_key": ALICE_KEY}, TID)
    assert view.title == "Ticket #1042: Match result not recorded"
    assert view.description == "Our 5v5 match yesterday shows no result."
    fields = {f.name: f.value for f in view.fields}
    assert fields["Status"] == "Awaiting response"
    assert fields["Priority"] == "High"
    assert fields["Category"] == "Match dispute"
    assert fields["Created"] == datetime(2026, 7, 1, 18, 0, tzinfo=UTC)
    assert fields["Updated"] == datetime(2026, 7, 2, 9, 30, tzinfo=UTC)
    assert "Resolved" not in fields
    assert [(e.author, e.kind) for e in view.entries] == [
        ("TeamBattles", EntryKind.SYSTEM),
        ("You", EntryKind.CUSTOMER),
        ("TeamBattles support", EntryKind.STAFF),
    ]
    assert all(f.audience >= Audience.REQUESTER for f in view.fields)


@pytest.mark.parametrize(
    ("status", "label"),
    [
        ("open", "Open"),
        ("in_progress", "In progress"),
        ("awaiting_response", "Awaiting response"),
        ("resolved", "Resolved"),
        ("closed", "Closed"),
        ("escalated", "Escalated"),
    ],
)
async def test_every_status_reads_as_words(fake_tb, fetcher, status, label):
    """The five documented statuses (and an unknown one) are shown in plain words."""
    fake_tb.add("alice", tb_ticket(TID, status=status, resolvedAt=1782990000000))
    view = await provider_for(fake_tb, fetcher).fetch({"api_key": ALICE_KEY}, TID)
    fields = {f.name: f.value for f in view.fields}
    assert fields["Status"] == label
    # Epoch milliseconds are read as well as ISO 8601 (the format is undocumented).
    assert fields["Resolved"] == datetime.fromtimestamp(1782990000, tz=UTC)


async def test_status_colours_and_footer(fake_tb, fetcher):
    """Each status keeps its colour; the footer is the provider's own (the core adds the
    shared-account note, the provider never marks a view shared)."""
    colours = {
        "open": 0xE67E22,
        "in_progress": 0x3498DB,
        "awaiting_response": 0xF1C40F,
        "resolved": 0x2ECC71,
        "closed": 0x95A5A6,
        "escalated": 0x607D8B,
    }
    provider = provider_for(fake_tb, fetcher)
    for status, colour in colours.items():
        fake_tb.add("alice", tb_ticket(TID, status=status))
        view = await provider.fetch({"api_key": ALICE_KEY}, TID)
        assert view.colour == colour, status
    assert view.footer == "TeamBattles · ticket #1042 · Escalated"
    assert not view.shared_account


async def test_unknown_status_and_priority_are_humanised_from_lower_case(fake_tb, fetcher):
    """The kit's `status_of`/`priority_label` read upper-case values as their lower-case words."""
    fake_tb.add("alice", tb_ticket(TID, status="ON_HOLD", priority="URGENT", category=None))
    view = await provider_for(fake_tb, fetcher).fetch({"api_key": ALICE_KEY}, TID)
    fields = {f.name: f.value for f in view.fields}
    assert fields["Status"] == "On hold"
    assert fields["Priority"] == "Urgent"
    assert fields["Category"] == "Unknown"


@pytest.mark.parametrize(
    "odd", ["0000-00-00 00:00:00", "0000-00-00T00:00:00Z", "", "yesterday", 10**20, [1]]
)
async def test_zero_or_unreadable_dates_read_as_unknown(fake_tb, fetcher, odd):
    """A zero date or one we cannot read is "Unknown", never a failed ticket."""
    fake_tb.add("alice", tb_ticket(TID, createdAt=odd, updatedAt=odd, resolvedAt=odd))
    view = await provider_for(fake_tb, fetcher).fetch({"api_key": ALICE_KEY}, TID)
    fields = {f.name: f.value for f in view.fields}
    assert fields["Created"] == "Unknown"
    assert fields["Updated"] == "Unknown"
    assert "Resolved" not in fields
    assert view.timestamp is None


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2026-07-01 18:00:00", datetime(2026, 7, 1, 18, 0, tzinfo=UTC)),
        ("1782928800", datetime(2026, 7, 1, 18, 0, tzinfo=UTC)),
        (1782928800000, datetime(2026, 7, 1, 18, 0, tzinfo=UTC)),
        ("2026-07-01T20:00:00+02:00", datetime(2026, 7, 1, 18, 0, tzinfo=UTC)),
    ],
)
async def test_dates_in_any_usual_spelling(fake_tb, fetcher, when, expected):
    """ISO 8601 with a space, epoch seconds as text, epoch ms, an offset: one moment."""
    fake_tb.add("alice", tb_ticket(TID, createdAt=when))
    view = await provider_for(fake_tb, fetcher).fetch({"api_key": ALICE_KEY}, TID)
    assert {f.name: f.value for f in view.fields}["Created"] == expected


async def test_message_flags_follow_the_one_truth_rule(fake_tb, fetcher):
    """`on`/`yes`/`1` are true, `off`/`no`/`0` false, any other text (or an object) false."""
    messages = [
        {"id": "a", "content": "sys", "isSystem": "on", "isOwnMessage": "no"},
        {"id": "b", "content": "mine", "isSystem": "off", "isOwnMessage": " YES "},
        {"id": "c", "content": "staff", "isSystem": "maybe", "isOwnMessage": {"x": 1}},
        {"id": "d", "content": "mine too", "isSystem": 0, "isOwnMessage": 1},
        "not a message",
    ]
    fake_tb.add("alice", tb_ticket(TID, messages=messages))
    view = await provider_for(fake_tb, fetcher).fetch({"api_key": ALICE_KEY}, TID)
    assert [(e.body, e.kind) for e in view.entries] == [
        ("sys", EntryKind.SYSTEM),
        ("mine", EntryKind.CUSTOMER),
        ("staff", EntryKind.STAFF),
        ("mine too", EntryKind.CUSTOMER),
    ]


@pytest.mark.parametrize(
    ("number", "shown"),
    [("1042", "#1042"), (1042.0, "#1042"), ("n/a", TID), (True, TID), (None, TID)],
)
async def test_ticket_number_as_text_or_missing(fake_tb, fetcher, number, shown):
    """A numeric string is the number; anything else falls back to the id."""
    fake_tb.add("alice", tb_ticket(TID, ticketNumber=number))
    view = await provider_for(fake_tb, fetcher).fetch({"api_key": ALICE_KEY}, TID)
    assert view.ticket_id == shown


@pytest.mark.parametrize("body", [[], {"ticketNumber": 1}, "text"])
async def test_an_answer_without_an_id_is_not_a_ticket(fake_tb, fetcher, body):
    """A 200 that is not a ticket object is a BadAnswer, not a half-empty view."""
    fake_tb.raw[TID] = body
    with pytest.raises(BadAnswer) as caught:
        await provider_for(fake_tb, fetcher).fetch({"api_key": ALICE_KEY}, TID)
    assert caught.value.detail == NOT_A_TICKET


def test_the_key_is_declared_secret_in_field_and_header():
    """The core masks the key: a SECRET field, and the Authorization header it travels in."""
    (field,) = TeamBattles.credential_fields
    assert field.key == "api_key"
    assert field.kind is FieldKind.SECRET
    assert "authorization" in TeamBattles.secret_headers
    assert TeamBattles.secrets_of({"api_key": ALICE_KEY}) == [ALICE_KEY]


async def test_key_is_sent_as_bearer_and_id_in_the_path(fake_tb, fetcher):
    """`Authorization: Bearer tb_…` and `/tickets/{id}`, nothing in the query."""
    await provider_for(fake_tb, fetcher).fetch({"api_key": ALICE_KEY}, TID)
    (request,) = fake_tb.requests
    assert request.authorization == f"Bearer {ALICE_KEY}"
    assert request.raw_path == f"/api/v1/tickets/{TID}"


@pytest.mark.parametrize("upper", [True, False])
async def test_someone_elses_ticket_reads_as_not_found(fake_tb, fetcher, upper):
    """Bob's key on Alice's ticket, or an unknown id: "not found, or not a ticket of this
    account", whether the code is TICKET_NOT_FOUND or error_ticket_not_found."""
    fake_tb.upper_codes = upper
    provider = provider_for(fake_tb, fetcher)
    for key, ticket_id in ((BOB_KEY, TID), (ALICE_KEY, "kx0000000000000000000000000000zz")):
        with pytest.raises(TicketNotFound) as caught:
            await provider.fetch({"api_key": key}, ticket_id)
        assert caught.value.detail == NOT_YOURS
        assert NOT_YOURS_TEXT in (provider.explain(caught.value) or "")


async def test_missing_scope_is_explained(fake_tb, fetcher):
    """403 error_api_key_permission_denied names the tickets.read:read permission."""
    fake_tb.keys[ALICE_KEY] = TbKey("alice", scopes=frozenset())
    provider = provider_for(fake_tb, fetcher)
    with pytest.raises(NotPermitted) as caught:
        await provider.fetch({"api_key": ALICE_KEY}, TID)
    assert "tickets.read:read" in caught.value.detail
    assert "Tickets: Read" in (provider.explain(caught.value) or "")


async def test_expired_and_unknown_keys_are_rejected(fake_tb, fetcher):
    """401 expired or invalid become CredentialsRejected saying which, without the key."""
    fake_tb.keys[ALICE_KEY] = TbKey("alice", expired=True)
    provider = provider_for(fake_tb, fetcher)
    for key, said in ((ALICE_KEY, "expired"), (tb_key(99), "not valid")):
        with pytest.raises(CredentialsRejected) as caught:
            await provider.fetch({"api_key": key}, TID)
        assert said in caught.value.detail
        assert key not in str(caught.value)


@pytest.mark.parametrize("upper", [True, False])
async def test_verify_accepts_a_good_key_by_its_404(fake_tb, fetcher, upper):
    """The probe id answers 404 TICKET_NOT_FOUND (either casing) for a good key."""
    fake_tb.upper_codes = upper
    await provider_for(fake_tb, fetcher).verify({"api_key": ALICE_KEY})
    assert fake_tb.requests[0].raw_path == f"/api/v1/tickets/{PROBE_ID}"


@pytest.mark.parametrize("key", ["abc123", "TB_" + "0" * 64, " ", "tb_ has spaces"])
async def test_verify_refuses_keys_that_are_not_tb_keys(fake_tb, fetcher, key):
    """A key not starting with `tb_` (or with spaces) is refused without any request."""
    with pytest.raises(CredentialsRejected):
        await provider_for(fake_tb, fetcher).verify({"api_key": key})
    assert fake_tb.requests == []


@pytest.mark.parametrize("typed", ["../keys", "abc?x=1", "a/b", "a.b", "", "#12", "12"])
def test_ids_that_are_not_ids_are_refused(typed):
    """`/`, `.`, `?` and ticket numbers never reach the API."""
    with pytest.raises(BadInput):
        parse_ref(typed)


def test_ids_are_kept_as_typed_and_encoded():
    """A document id is sent exactly as typed; the path encoder escapes separators anyway."""
    assert parse_ref(f" {TID} ") == TID
    assert path_segment("a/../b?c") == "a%2F..%2Fb%3Fc"


# -- in the reader's language -------------------------------------------------------------


def german() -> Translator:
    """The shipped catalogs with this package's own words, as the running bot has them."""
    translator = Translator()
    translator.add_catalogs(package_catalogs("cogs.teambattles"))
    return translator


def plain(view):
    """`view` with every text a plain `str`: what it read like before texts were `Msg`s."""
    return dataclasses.replace(
        view,
        title=str(view.title),
        footer=str(view.footer),
        entries_title=str(view.entries_title),
        fields=tuple(
            dataclasses.replace(
                f,
                name=str(f.name),
                value=f.value if isinstance(f.value, datetime) else str(f.value),
            )
            for f in view.fields
        ),
        entries=tuple(dataclasses.replace(e, author=str(e.author)) for e in view.entries),
    )


def rendered(view, **kwargs) -> str:
    return all_text([e.to_dict() for page in render_pages(view, **kwargs) for e in page])


async def test_a_view_reads_in_german_with_the_tickets_own_words_untouched(fake_tb, fetcher):
    """German for `de`: field names, the enum values in words, the speakers we name and the
    footer; the subject, description and messages as sent. English reads as before."""
    fake_tb.add("alice", tb_ticket(TID, resolvedAt=1782990000000))
    view = await provider_for(fake_tb, fetcher).fetch({"api_key": ALICE_KEY}, TID)
    translator = german()
    text = rendered(view, tr=translator.bind("de"))
    for word in (
        "Priorität",
        "Hoch",
        "Kategorie",
        "Streitfall zu einem Match",
        "Erstellt",
        "Aktualisiert",
        "Gelöst",
        "Ticket-ID",
        "Nachrichten",
        "TeamBattles-Support",
        "TeamBattles · Ticket #1042 · Wartet auf Antwort",
    ):
        assert word in text, word
    assert any(line.startswith("Du · ") for line in text.splitlines())
    for data in (
        "Ticket #1042: Match result not recorded",
        "Our 5v5 match yesterday shows no result.",
        "Ticket created",
        "Here is the lobby screenshot link.",
        TID,
    ):
        assert data in text, data
    for english_word in ("Awaiting response", "Category", "Match dispute", "Messages", "You"):
        assert english_word not in text, english_word

    before = rendered(plain(view))
    assert rendered(view) == before
    assert rendered(view, tr=translator.bind("en-US")) == before
    assert "TeamBattles · ticket #1042 · Awaiting response" in before


def test_words_for_enum_values_read_as_the_humanised_value_in_english():
    """Each label of a known value is what `humanise` makes of it: English is unchanged."""
    for value, label in {**PRIORITIES, **CATEGORIES}.items():
        assert label == humanise(value), value


async def test_advice_and_refusals_read_in_german(fake_tb, fetcher):
    """The provider's own details, advice and refusals of what was typed have German."""
    de = german().bind("de")
    fake_tb.keys[ALICE_KEY] = TbKey("alice", scopes=frozenset())
    provider = provider_for(fake_tb, fetcher)
    with pytest.raises(NotPermitted) as caught:
        await provider.fetch({"api_key": ALICE_KEY}, TID)
    assert worded(caught.value.detail, de) == (
        "dem API-Schlüssel fehlt die Berechtigung tickets.read:read"
    )
    advice = worded(provider.explain(caught.value) or "", de)
    assert "**Tickets: Read**" in advice
    assert "`/ticketkonto verknüpfen anbieter:teambattles`" in advice
    with pytest.raises(BadInput) as refused:
        parse_ref("#12")
    assert worded(refused.value.detail, de).startswith("Das sieht nach einer Ticketnummer aus.")
    (field,) = TeamBattles.credential_fields
    assert (field.label, worded(field.label, de)) == ("API key", "API-Schlüssel")


# -- the command --------------------------------------------------------------------------


async def test_member_reads_their_own_ticket_privately(bot, fake_discord, fake_tb):
    """A member with a linked key sees their ticket, only for them, with no shared-key note."""
    await link(bot, ALICE, ALICE_KEY)
    response, text = await look_up(fake_discord, ALICE)
    assert response.type == 4
    assert response.ephemeral
    assert "Match result not recorded" in text
    assert "Awaiting response" in text
    assert "Here is the lobby screenshot link." in text
    assert "shared team account" not in text
    assert fake_tb.requests[-1].authorization == f"Bearer {ALICE_KEY}"


async def test_a_key_is_used_only_for_its_owner(bot, fake_discord, fake_tb):
    """Bob (no key, not staff) is told to link his own, and Alice's key is never used for him."""
    await link(bot, ALICE, ALICE_KEY)
    await link(bot, None, TEAM_KEY)
    response, text = await look_up(fake_discord, BOB)
    assert response.ephemeral
    assert "Link your TeamBattles account" in text
    assert "/ticketaccount link provider:teambattles" in text
    assert fake_tb.requests == []


async def test_the_shared_team_key_is_for_staff_and_says_so(bot, fake_discord, fake_tb):
    """Staff without their own key read with the server's team key; the footer says so."""
    fake_tb.add("team", tb_ticket("teamticket0000000000000000000001", subject="Team ticket"))
    await link(bot, None, TEAM_KEY)
    response, text = await look_up(
        fake_discord, STAFF, MANAGE_GUILD, "teamticket0000000000000000000001"
    )
    assert response.ephemeral
    assert "Team ticket" in text
    assert "seen with this server's shared team account" in text
    assert fake_tb.requests[-1].authorization == f"Bearer {TEAM_KEY}"


async def test_staff_own_key_comes_first(bot, fake_discord, fake_tb):
    """A staff member who linked their own key reads with it, not the team key."""
    await link(bot, None, TEAM_KEY)
    await link(bot, ALICE, ALICE_KEY)
    _, text = await look_up(fake_discord, ALICE, MANAGE_GUILD)
    assert "Match result not recorded" in text
    assert "shared team account" not in text
    assert fake_tb.requests[-1].authorization == f"Bearer {ALICE_KEY}"


async def test_answers_are_always_private(bot, fake_discord, fake_tb):
    """The command has no `public` option, and even staff get an ephemeral answer."""
    ticket = fake_discord.registered_command("ticket")
    assert ticket is not None
    sub = next(o for o in ticket["options"] if o["name"] == TB)
    assert [o["name"] for o in sub.get("options", [])] == ["id"]
    await link(bot, STAFF, ALICE_KEY)
    response, _ = await look_up(fake_discord, STAFF, MANAGE_GUILD)
    assert response.ephemeral


async def test_not_found_reads_not_found_or_not_yours(bot, fake_discord, fake_tb):
    """Someone else's ticket: "not found, or not a ticket of this account", privately."""
    await link(bot, BOB, BOB_KEY)
    response, text = await look_up(fake_discord, BOB)
    assert response.ephemeral
    assert NOT_YOURS_TEXT in text


async def test_lost_scope_is_explained_at_lookup(bot, fake_discord, fake_tb):
    """A linked key that lost tickets.read:read: the answer names the permission."""
    await link(bot, ALICE, ALICE_KEY)
    fake_tb.keys[ALICE_KEY] = TbKey("alice", scopes=frozenset({"matches.read:read"}))
    response, text = await look_up(fake_discord, ALICE)
    assert response.ephemeral
    assert "tickets.read:read" in text


async def test_bad_id_never_reaches_teambattles(bot, fake_discord, fake_tb):
    """`../` in an id is refused before any request."""
    await link(bot, ALICE, ALICE_KEY)
    response, text = await look_up(fake_discord, ALICE, ticket_id="../tickets")
    assert response.ephemeral
    assert "look that up" in text
    assert fake_tb.requests == []
