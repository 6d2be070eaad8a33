"""RetroAchievements aggregates (game, achievement, developer, recent, most-reported) and
tickets named as text, against a fake API that answers like the live one."""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.access import Decision, check_publishable
from bot.errors import BadAnswer, BadInput, CredentialsRejected, PolicyRefusal, TicketNotFound
from bot.http import Http
from bot.providers.base import Audience, TicketView
from bot.render import render_pages
from cogs.retroachievements._aggregates import MAX_ID, RaQuery, check_id, read_aggregate
from cogs.retroachievements._client import RetroAchievements, RetroSettings
from tests.fakes.retroachievements import (
    FakeRetroAchievements,
    ra_achievement,
    ra_game,
    ra_ticket,
)
from tests.test_render import assert_message_fits

GOOD = {"username": "mod", "api_key": "good-key"}
SITE = "https://retroachievements.org"
ULID = "01HX0000000000000000000AAA"


def provider_for(fake: FakeRetroAchievements, fetcher: Http) -> RetroAchievements:
    return RetroAchievements(fetcher, RetroSettings(base_url=fake.url, rate_per_s=100))


def fields_of(view: TicketView) -> dict[str, object]:
    return {f.name: f.value for f in view.fields}


def sent(fake: FakeRetroAchievements) -> dict[str, str]:
    """The last query the fake received, without the credential parameters."""
    return {k: v for k, v in fake.requests[-1].items() if k not in ("y", "z")}


def page_text(view: TicketView) -> str:
    parts: list[str] = []
    for page in render_pages(view):
        for embed in page:
            parts += [embed.title or "", embed.description or "", embed.author.name or ""]
            parts += [f"{f.name} {f.value}" for f in embed.fields]
            parts.append(embed.footer.text or "")
    return "\n".join(parts)


def stock(fake: FakeRetroAchievements) -> None:
    """One game with tickets in every state, a second game, an achievement and a developer."""
    fake.games[4321] = ra_game()
    fake.games[77] = ra_game("Other Game", "Mega Drive")
    fake.achievements[98765] = ra_achievement()
    fake.developers["SampleDev"] = ULID
    states = {1: 1, 2: 3, 3: 0, 4: 2}  # Open, Request, Closed, Resolved
    for ticket_id, state in states.items():
        fake.tickets[ticket_id] = ra_ticket(
            ticket_id,
            ReportState=state,
            ReportStateDescription=None,
            ReportedAt=f"2026-05-0{ticket_id} 10:00:00",
        )
    fake.tickets[5] = ra_ticket(
        5,
        GameID=77,
        GameTitle="Other Game",
        ConsoleName="Mega Drive",
        AchievementID=11,
        AchievementTitle="Ring Hoarder",
        AchievementAuthor="SomeoneElse",
        ReportedAt="2026-05-09 10:00:00",
    )


# --- each mode against the fake ------------------------------------------------------------


async def test_recent_lists_open_tickets_newest_first_with_links(fake_ra, fetcher):
    """The recent list shows the open total and each open ticket, newest first, linked."""
    stock(fake_ra)
    view = await provider_for(fake_ra, fetcher).fetch(GOOD, RaQuery.recent())
    assert sent(fake_ra) == {"c": "100"}
    assert view.title == "Recent open tickets"
    assert view.url == f"{SITE}/tickets"
    assert fields_of(view) == {"Open tickets": "3"}  # Open and Request, never Closed
    assert [e.author for e in view.entries] == [
        "#5 · Ring Hoarder",
        "#2 · Sample Cheevo",
        "#1 · Sample Cheevo",
    ]
    first = view.entries[0]
    assert f"{SITE}/ticket/5" in first.body
    assert "Other Game (Mega Drive)" in first.body
    assert "Open · Did not trigger" in first.body
    assert "Reported by SampleReporter" in first.body
    assert first.at == datetime(2026, 5, 9, 10, 0, tzinfo=UTC)
    assert "Request" in view.entries[1].body
    assert all(e.audience is Audience.PUBLIC for e in view.entries)
    assert view.public_refusal == ""


async def test_game_counts_and_lists_every_state(fake_ra, fetcher):
    """A game's tickets: upstream counts every state, and the view says "Tickets", not open."""
    stock(fake_ra)
    view = await provider_for(fake_ra, fetcher).fetch(GOOD, RaQuery.game(4321))
    assert sent(fake_ra) == {"g": "4321", "d": "1", "c": "100"}
    assert view.title == "Tickets: Sample Quest (SNES/Super Famicom)"
    assert view.url == f"{SITE}/game/4321/tickets"
    assert fields_of(view) == {"Tickets": "4"}
    assert "every state" in view.description
    assert [e.author.split(" · ")[0] for e in view.entries] == ["#4", "#3", "#2", "#1"]
    states = [e.body.splitlines()[0] for e in view.entries]
    assert states == [
        "Resolved · Did not trigger",
        "Closed · Did not trigger",
        "Request · Did not trigger",
        "Open · Did not trigger",
    ]
    links = [e.body.splitlines()[-1] for e in view.entries]
    assert links == [f"{SITE}/ticket/{n}" for n in (4, 3, 2, 1)]
    assert view.thumbnail_url == "https://media.retroachievements.org/Images/000123.png"
    assert view.footer == "RetroAchievements · game 4321"


async def test_game_with_more_tickets_than_listed_says_so(fake_ra, fetcher):
    """Past the 100 the API gives at once, the view says how many of how many it shows."""
    fake_ra.games[4321] = ra_game()
    for ticket_id in range(1, 106):
        fake_ra.tickets[ticket_id] = ra_ticket(ticket_id)
    view = await provider_for(fake_ra, fetcher).fetch(GOOD, RaQuery.game(4321))
    assert len(view.entries) == 100
    assert "The newest 100 of 105 tickets." in view.description


async def test_achievement_counts_open_and_request(fake_ra, fetcher):
    """An achievement's count (Open plus Request), its description and its ticket list link."""
    stock(fake_ra)
    view = await provider_for(fake_ra, fetcher).fetch(GOOD, RaQuery.achievement(98765))
    assert sent(fake_ra) == {"a": "98765"}
    assert view.title == "Open tickets: Sample Cheevo"
    assert view.description == "Beat the first boss"
    assert view.url == f"{SITE}/achievement/98765/tickets"
    assert fields_of(view) == {"Open tickets": "2", "Type": "Progression"}
    assert view.entries == ()


@pytest.mark.parametrize("who", ["SampleDev", "sampledev", ULID])
async def test_developer_counts_by_name_or_ulid(fake_ra, fetcher, who):
    """A developer, by username (any case) or ULID: Open, Closed, Resolved and Total."""
    stock(fake_ra)
    view = await provider_for(fake_ra, fetcher).fetch(GOOD, RaQuery.developer(who))
    assert sent(fake_ra) == {"u": who}
    assert view.title == "Tickets of developer SampleDev"
    assert view.url == f"{SITE}/user/SampleDev/tickets"
    # The Request ticket is in no bucket, as upstream counts.
    assert fields_of(view) == {"Open": "1", "Closed": "1", "Resolved": "1", "Total": "3"}
    assert "Request and Pending Review" in view.description


async def test_most_reported_ranks_games_with_links(fake_ra, fetcher):
    """Games by open tickets, each with its console (`Console` upstream) and tickets link."""
    stock(fake_ra)
    fake_ra.tickets[6] = ra_ticket(6, GameID=77, GameTitle="Other Game", ConsoleName="Mega Drive")
    fake_ra.tickets[7] = ra_ticket(7, GameID=77, GameTitle="Other Game", ConsoleName="Mega Drive")
    view = await provider_for(fake_ra, fetcher).fetch(GOOD, RaQuery.most_reported())
    assert sent(fake_ra) == {"f": "1", "c": "25"}
    assert view.title == "Most-reported games"
    assert view.url == f"{SITE}/manage/most-reported-games"
    assert [e.author for e in view.entries] == [
        "#1 · Other Game (Mega Drive)",
        "#2 · Sample Quest (SNES/Super Famicom)",
    ]
    assert view.entries[0].body == f"3 open tickets\n{SITE}/game/77/tickets"
    assert view.entries[1].body == f"2 open tickets\n{SITE}/game/4321/tickets"


@pytest.mark.parametrize(
    ("query", "named"),
    [
        (RaQuery.game(999), "game 999"),
        (RaQuery.achievement(999), "achievement 999"),
        (RaQuery.developer("NoSuchDev"), "developer NoSuchDev"),
    ],
)
async def test_unknown_game_achievement_or_user_is_not_found(fake_ra, fetcher, query, named):
    """The server's 404 ("Game ID 999 not found", ...) names what the member asked for."""
    with pytest.raises(TicketNotFound) as caught:
        await provider_for(fake_ra, fetcher).fetch(GOOD, query)
    assert f"{caught.value.noun} {caught.value.ticket_ref}" == named


async def test_bad_key_is_rejected_for_queries_too(fake_ra, fetcher):
    """A 401 on an aggregate is CredentialsRejected, as for one ticket."""
    bad = {"username": "mod", "api_key": "wrong-key-123"}
    with pytest.raises(CredentialsRejected):
        await provider_for(fake_ra, fetcher).fetch(bad, RaQuery.recent())


async def test_zero_ticket_id_never_reaches_upstream(fake_ra, fetcher):
    """0 would fetch the recent list upstream; it is refused before any request."""
    with pytest.raises(BadInput):
        await provider_for(fake_ra, fetcher).fetch(GOOD, 0)
    assert fake_ra.requests == []


async def test_pending_review_in_a_list_keeps_it_out_of_public_posts(fake_ra, fetcher):
    """A game list showing a quarantined ticket is named "Pending Review" and never posted."""
    fake_ra.games[4321] = ra_game()
    fake_ra.tickets[1] = ra_ticket(1)
    fake_ra.tickets[2] = ra_ticket(2, ReportState=4, ReportStateDescription="Pending Review")
    view = await provider_for(fake_ra, fetcher).fetch(GOOD, RaQuery.game(4321))
    assert "Pending Review" in {e.body.splitlines()[0].split(" · ")[0] for e in view.entries}
    assert "Pending Review" in view.public_refusal
    with pytest.raises(PolicyRefusal):
        check_publishable(view, Decision(True, False, Audience.PUBLIC))
    check_publishable(view, Decision(True, True, Audience.REQUESTER))  # to the invoker: fine


async def test_lists_without_quarantine_may_be_posted(fake_ra, fetcher):
    """The recent list never holds quarantined tickets, so it may be posted."""
    stock(fake_ra)
    fake_ra.tickets[8] = ra_ticket(8, ReportState=4)
    view = await provider_for(fake_ra, fetcher).fetch(GOOD, RaQuery.recent())
    assert 8 not in {int(e.author[1:].split(" ")[0]) for e in view.entries}
    check_publishable(view, Decision(True, False, Audience.PUBLIC))


# --- answers read offline -------------------------------------------------------------------


def read(query: RaQuery, payload: object) -> TicketView:
    return read_aggregate(query, payload, provider="retroachievements", provider_label="RA")


def test_answer_of_another_mode_is_a_bad_answer():
    """The recent list (what upstream falls back to) never passes for a game or a user."""
    recent = {"RecentTickets": [], "OpenTickets": 0, "URL": f"{SITE}/tickets"}
    for query in (RaQuery.game(1), RaQuery.achievement(1), RaQuery.developer("ab")):
        with pytest.raises(BadAnswer):
            read(query, recent)
    with pytest.raises(BadAnswer):
        read(RaQuery.recent(), {"GameID": 1})
    with pytest.raises(BadAnswer):
        read(RaQuery.most_reported(), [])


def test_camel_case_and_numeric_strings_read_alike():
    """The JS client's camelCase and string numbers give the same view as the raw answer."""
    view = read(
        RaQuery.developer("SampleDev"),
        {
            "user": "SampleDev",
            "ulid": ULID,
            "open": "2",
            "closed": "1",
            "resolved": 0,
            "total": "3",
            "url": f"{SITE}/user/SampleDev/tickets",
        },
    )
    assert fields_of(view) == {"Open": "2", "Closed": "1", "Resolved": "0", "Total": "3"}


def test_foreign_or_missing_url_falls_back_to_the_site():
    """Only a retroachievements.org page is linked; otherwise the list URL built from ids."""
    for url in (
        "https://evil.example/game/5/tickets",
        "http://retroachievements.org/x",
        f"{SITE}.evil.example/x",
        None,
        5,
    ):
        view = read(RaQuery.game(5), {"GameID": 5, "GameTitle": "G", "URL": url})
        assert view.url == f"{SITE}/game/5/tickets"
    view = read(RaQuery.achievement(9), {"AchievementID": "9", "URL": "javascript:x"})
    assert view.url == f"{SITE}/achievement/9/tickets"
    assert view.title == "Open tickets: Achievement 9"
    assert fields_of(view) == {"Open tickets": "Unknown"}


def test_one_unreadable_list_item_does_not_lose_the_list():
    """A list item without an id, or not an object, is left out; the rest is shown."""
    view = read(
        RaQuery.recent(),
        {
            "RecentTickets": [ra_ticket(3), {"AchievementTitle": "no id"}, 7, ra_ticket(2)],
            "OpenTickets": 4,
        },
    )
    assert [e.author.split(" · ")[0] for e in view.entries] == ["#3", "#2"]
    empty = read(RaQuery.recent(), {"RecentTickets": None, "OpenTickets": 0})
    assert empty.entries == ()
    assert "No open tickets." in empty.description


def test_most_reported_game_without_id_has_no_link():
    """A game without a usable id is listed, but without a link to nowhere."""
    view = read(
        RaQuery.most_reported(),
        {"MostReportedGames": [{"GameTitle": "Lost", "Console": "NES", "OpenTickets": 1}]},
    )
    assert view.entries[0].author == "#1 · Lost (NES)"
    assert view.entries[0].body == "1 open ticket"


# --- rendering ------------------------------------------------------------------------------


async def test_a_full_list_pages_within_limits_with_every_link(fake_ra, fetcher):
    """100 tickets page within Discord's limits; each ticket's link is on exactly one page."""
    fake_ra.games[4321] = ra_game()
    for ticket_id in range(1, 101):
        fake_ra.tickets[ticket_id] = ra_ticket(
            ticket_id, AchievementTitle="A long title " * 8, ReportedBy="Reporter" * 3
        )
    view = await provider_for(fake_ra, fetcher).fetch(GOOD, RaQuery.recent())
    pages = render_pages(view)
    assert len(pages) > 1
    for page in pages:
        assert_message_fits(page)
    assert pages[0][0].title == "Recent open tickets"
    assert pages[0][0].url == f"{SITE}/tickets"
    assert pages[0][1].title == "Open tickets, newest first"
    assert pages[-1][-1].footer.text.endswith(f"Page {len(pages)}/{len(pages)}")
    text = "\n".join(e.description or "" for page in pages for e in page)
    linked = Counter(int(n) for n in re.findall(rf"{re.escape(SITE)}/ticket/([0-9]+)", text))
    assert linked == Counter(range(1, 101))


async def test_counts_and_most_reported_render(fake_ra, fetcher):
    """The count views and the ranking read well as embeds: counts, titles and links."""
    stock(fake_ra)
    provider = provider_for(fake_ra, fetcher)
    developer = await provider.fetch(GOOD, RaQuery.developer("SampleDev"))
    (page,) = render_pages(developer)
    assert_message_fits(page)
    assert [(f.name, f.value) for f in page[0].fields] == [
        ("Open", "1"),
        ("Closed", "1"),
        ("Resolved", "1"),
        ("Total", "3"),
    ]
    ranking = await provider.fetch(GOOD, RaQuery.most_reported())
    text = page_text(ranking)
    assert f"{SITE}/game/4321/tickets" in text
    assert "Games by open tickets" in text


# --- references as text ---------------------------------------------------------------------

PROVIDER = RetroAchievements.__new__(RetroAchievements)  # the text methods use no state

ids = st.integers(min_value=1, max_value=MAX_ID)
names = st.one_of(
    st.from_regex(r"[A-Za-z0-9]{2,20}", fullmatch=True),
    st.from_regex(r"[0-9A-Z]{26}", fullmatch=True),
)
queries = st.one_of(
    ids.map(RaQuery.game),
    ids.map(RaQuery.achievement),
    names.map(RaQuery.developer),
    st.just(RaQuery.recent()),
    st.just(RaQuery.most_reported()),
)


@given(ref=st.one_of(ids, queries))
def test_ref_text_round_trips(ref):
    """Every ref written as text reads back equal, in at most 60 characters."""
    text = PROVIDER.ref_text(ref)
    assert len(text) <= 60
    assert PROVIDER.parse_ref(text) == ref
    assert hash(PROVIDER.parse_ref(text)) == hash(ref)


@given(text=st.one_of(st.text(max_size=40), st.from_regex(r"[gau]:.{0,30}", fullmatch=True)))
def test_parse_ref_reads_only_what_ref_text_writes(text):
    """Any text either is refused or is exactly what ref_text writes for what it reads."""
    try:
        ref = PROVIDER.parse_ref(text)
    except BadInput:
        return
    assert PROVIDER.ref_text(ref) == text


def test_ref_text_formats():
    """The compact formats kept in button ids and history."""
    assert PROVIDER.ref_text(123) == "123"
    assert PROVIDER.ref_text(RaQuery.game(123)) == "g:123"
    assert PROVIDER.ref_text(RaQuery.achievement(55)) == "a:55"
    assert PROVIDER.ref_text(RaQuery.developer("Name")) == "u:Name"
    assert PROVIDER.ref_text(RaQuery.recent()) == "recent"
    assert PROVIDER.ref_text(RaQuery.most_reported()) == "top"


@pytest.mark.parametrize(
    "forged",
    [
        "",
        "0",
        "00",
        "01",
        "-1",
        "+1",
        " 1",
        "1 ",
        "1\n",
        "12345678901",
        "1e3",
        "0x10",
        "١٢٣",
        "１２３",  # other scripts' digits
        "g:",
        "g:0",
        "g:01",
        "g:-5",
        "g:12345678901",
        "g: 5",
        "g:5:",
        "a:x",
        "G:5",
        "u:",
        "u:a",
        "u:" + "a" * 21,
        "u:" + "A" * 25,
        "u:" + "A" * 27,
        "u:bad name",
        "u:../x",
        "u:na_me",
        "u:nämé",
        "u:name\n",
        "u:@everyone",
        "recent ",
        "Recent",
        "RECENT",
        "top:1",
        "recent:1",
        "x:1",
        "i:5",
        "f:1",
        "g:5" + "0" * 60,
        "u:" + "a" * 100,
    ],
)
def test_forged_ref_text_is_refused(forged):
    """Text a forged button could carry is refused, never turned into a request."""
    with pytest.raises(BadInput):
        PROVIDER.parse_ref(forged)


@pytest.mark.parametrize(
    "make",
    [
        lambda: RaQuery("game", "0"),
        lambda: RaQuery("achievement", "abc"),
        lambda: RaQuery("recent", "5"),
        lambda: RaQuery("nope", ""),
        lambda: RaQuery.developer("x"),
        lambda: RaQuery.game(0),
        lambda: RaQuery.game(MAX_ID + 1),
    ],
)
def test_invalid_queries_cannot_be_made(make):
    """A query cannot hold what upstream would misread (0 falls through to another mode)."""
    with pytest.raises(BadInput):
        make()


def test_queries_compare_by_what_they_ask():
    """Equal queries are one cache entry, however they were made."""
    assert RaQuery.developer("  SampleDev ") == RaQuery("developer", "SampleDev")
    assert len({RaQuery.game(5), RaQuery("game", "5"), RaQuery.achievement(5)}) == 2


def test_the_id_rule_is_shared():
    """One rule for every ticket id: 1 to 10 digits, said the same way everywhere."""
    assert check_id(1) == 1
    assert check_id(MAX_ID) == MAX_ID
    for bad in (0, -1, MAX_ID + 1):
        with pytest.raises(BadInput, match="1 or more"):
            check_id(bad)
    assert PROVIDER.find_refs(f"{SITE}/ticket/0 {SITE}/ticket/{MAX_ID + 1}", None) == []


def test_only_single_tickets_are_remembered():
    """Lists are not offered back as "recent tickets" in autocomplete."""
    assert PROVIDER.remembers(5)
    assert not PROVIDER.remembers(RaQuery.recent())
    assert not PROVIDER.remembers(RaQuery.game(5))


# --- tickets found in messages --------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "found"),
    [
        (f"see {SITE}/ticket/123", [123]),
        ("http://retroachievements.org/ticket/5", [5]),
        ("https://www.retroachievements.org/ticket/6/", [6]),
        ("HTTPS://RetroAchievements.ORG/ticket/7", [7]),
        (f"{SITE}/ticket/8?tab=comments#c1", [8]),
        (f"{SITE}/ticket/9/edit", [9]),
        (f"<{SITE}/ticket/10>", [10]),
        (f"[this one]({SITE}/ticket/11)", [11]),
        (f"||{SITE}/ticket/12||", [12]),
        (f"**{SITE}/ticket/13**.", [13]),
        (f"({SITE}/ticket/14), and", [14]),
        (f"{SITE}/ticketmanager.php?i=15", [15]),
        (f"{SITE}/ticketmanager.php?g=4&i=16&t=1", [16]),
        (f"{SITE}/ticketmanager.php?i=1&i=17", [17]),  # PHP reads the last one
        ("[ticket=18]", [18]),
        ("[TICKET=19] and [ticket=19]", [19]),
        (f"[ticket=3] then {SITE}/ticket/1 and {SITE}/ticket/3, [ticket=2]", [3, 1, 2]),
        (f"{SITE}/ticket/0005", [5]),
        (f"{SITE}/ticket/9999999999", [9999999999]),
    ],
)
def test_ticket_references_are_found_in_order_once(message, found):
    """Ticket links, legacy links and shortcodes, in order of appearance, each once."""
    assert PROVIDER.find_refs(message, None) == found


@pytest.mark.parametrize(
    "message",
    [
        "https://retroachievements.org.evil.com/ticket/5",
        "https://evilretroachievements.org/ticket/5",
        "https://retroachievements.org@evil.com/ticket/5",
        "https://user@retroachievements.org/ticket/5",
        "https://retroachievements.org:8443/ticket/5",
        "https://retroachievements.org./ticket/5",
        "https://evil.com/?u=https://retroachievements.org/ticket/5",
        "https://evil.com/retroachievements.org/ticket/5",
        "https://media.retroachievements.org/ticket/5",
        "ftp://retroachievements.org/ticket/5",
        "retroachievements.org/ticket/5",
        f"{SITE}/ticket/",
        f"{SITE}/ticket/abc",
        f"{SITE}/ticket/5abc",
        f"{SITE}/ticket/12345678901",
        f"{SITE}/ticket/0",
        f"{SITE}/ticket/-5",
        f"{SITE}/game/5/tickets",
        f"{SITE}/tickets/5",
        f"{SITE}/ticketmanager.php?g=5",
        f"{SITE}/ticketmanager.php?i=abc",
        f"{SITE}/ticketmanager.php?i=0",
        f"{SITE}/ticketmanager.php?ii=5",
        f"{SITE}/achievement/5?i=5",
        "[ticket=0]",
        "[ticket=12345678901]",
        "[ticket= 5]",
        "[ticket=5",
        "ticket 5",
        "#5",
    ],
)
def test_lookalikes_are_not_references(message):
    """Other hosts, other paths, and ids that are no ticket id are never found."""
    assert PROVIDER.find_refs(message, None) == []


@pytest.mark.parametrize(
    "hostile",
    [
        "https://" * 20_000,
        "[ticket=" * 20_000,
        "https://retroachievements.org/ticket/" + "9" * 50_000,
        "https://retroachievements.org/ticketmanager.php?" + "i=1&" * 20_000,
        "(" * 50_000 + SITE,
    ],
)
def test_hostile_messages_are_read_quickly(hostile):
    """Huge or pathological messages are scanned in linear time."""
    started = time.perf_counter()
    result = PROVIDER.find_refs(hostile, None)
    assert time.perf_counter() - started < 1.0
    assert result in ([], [1])
