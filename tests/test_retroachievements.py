"""The RetroAchievements client against a fake API that answers like the live one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.errors import (
    BadAnswer,
    CredentialsRejected,
    RateLimited,
    TicketNotFound,
    UpstreamUnavailable,
)
from bot.http import Http, make_session
from bot.i18n import Translate, Translator, package_catalogs, worded
from bot.providers.base import TicketView
from bot.redact import Redactor
from bot.render import render_pages
from cogs.retroachievements._aggregates import RaQuery
from cogs.retroachievements._client import RetroAchievements, RetroSettings
from tests.fakes.retroachievements import FakeRetroAchievements, ra_game, ra_ticket
from tests.harness import all_text

GOOD = {"username": "mod", "api_key": "good-key"}


def provider_for(fake: FakeRetroAchievements, fetcher: Http) -> RetroAchievements:
    return RetroAchievements(fetcher, RetroSettings(base_url=fake.url, rate_per_s=100))


async def test_fetch_reads_pascal_case_ticket(fake_ra, fetcher):
    """A live-shaped ticket becomes a view with its achievement, game, state and times."""
    fake_ra.tickets[123] = ra_ticket(123)
    view = await provider_for(fake_ra, fetcher).fetch(GOOD, 123)
    assert view.title == "Ticket #123: Sample Cheevo"
    assert view.url == "https://retroachievements.org/ticket/123"
    fields = {f.name: f.value for f in view.fields}
    assert fields["Game"] == "Sample Quest (SNES/Super Famicom)"
    assert fields["State"] == "Open"
    assert fields["Type"] == "Did not trigger"
    assert fields["Hardcore"] == "Yes"
    assert fields["Reported"] == datetime(2026, 5, 1, 17, 4, 9, tzinfo=UTC)
    assert view.thumbnail_url == "https://media.retroachievements.org/Badge/012345.png"
    assert "Boss died" in view.description


async def test_fetch_accepts_camel_case_and_numeric_strings(fake_ra, fetcher):
    """The docs' camelCase sample and older string-typed numbers parse the same way."""
    fake_ra.tickets[12345] = {
        "id": "12345",
        "achievementTitle": "A good Beginning 2",
        "points": "3",
        "gameTitle": "Pokemon Mystery Dungeon",
        "consoleName": "Game Boy Advance",
        "reportState": "2",
        "reportType": "1",
        "hardcore": None,
        "resolvedAt": "2018-04-16 08:03:31",
        "resolvedBy": "tuteur51",
        "reportNotes": "x",
    }
    view = await provider_for(fake_ra, fetcher).fetch(GOOD, 12345)
    fields = {f.name: f.value for f in view.fields}
    assert fields["State"] == "Resolved"
    assert fields["Type"] == "Triggered at the wrong time"
    assert fields["Hardcore"] == "Unknown"
    assert fields["Resolved by"] == "tuteur51"
    assert "3 points" in str(fields["Achievement"])


async def test_pending_review_state_is_named(fake_ra, fetcher):
    """State 4 (quarantined) reads "Pending Review", with its own colour."""
    fake_ra.tickets[7] = ra_ticket(7, ReportState=4, ReportStateDescription="Pending Review")
    view = await provider_for(fake_ra, fetcher).fetch(GOOD, 7)
    assert {f.name: f.value for f in view.fields}["State"] == "Pending Review"
    assert view.colour == 0x9B59B6


async def test_closed_state_zero_is_not_unknown(fake_ra, fetcher):
    """State 0 is Closed (a falsy value must not fall through to "Unknown")."""
    fake_ra.tickets[8] = ra_ticket(8, ReportState=0, ReportStateDescription=None)
    view = await provider_for(fake_ra, fetcher).fetch(GOOD, 8)
    assert {f.name: f.value for f in view.fields}["State"] == "Closed"


async def test_missing_ticket_is_not_found(fake_ra, fetcher):
    """HTTP 404 becomes TicketNotFound naming the id."""
    with pytest.raises(TicketNotFound) as caught:
        await provider_for(fake_ra, fetcher).fetch(GOOD, 999)
    assert caught.value.ticket_ref == "999"


async def test_bad_key_is_rejected_and_never_echoed(fake_ra, fetcher):
    """HTTP 401 becomes CredentialsRejected whose text holds no key."""
    bad = {"username": "mod", "api_key": "wrong-key-123"}
    with pytest.raises(CredentialsRejected) as caught:
        await provider_for(fake_ra, fetcher).fetch(bad, 1)
    assert "wrong-key-123" not in str(caught.value)
    assert "wrong-key-123" not in repr(caught.value)


async def test_rate_limited_then_success(fake_ra, fetcher):
    """A 429 with Retry-After is waited out and the lookup still succeeds."""
    fake_ra.tickets[5] = ra_ticket(5)
    fake_ra.rate_limit_next = 1
    fake_ra.retry_after = "0"
    view = await provider_for(fake_ra, fetcher).fetch(GOOD, 5)
    assert view.ticket_id == "5"
    assert fake_ra.ticket_requests == 2


async def test_persistent_rate_limit_is_reported(fake_ra, fetcher):
    """A Retry-After too long to wait becomes RateLimited with the hint."""
    fake_ra.tickets[5] = ra_ticket(5)
    fake_ra.rate_limit_next = 10
    fake_ra.retry_after = "600"
    with pytest.raises(RateLimited) as caught:
        await provider_for(fake_ra, fetcher).fetch(GOOD, 5)
    assert caught.value.retry_after == pytest.approx(600)


async def test_server_error_then_success(fake_ra, fetcher):
    """One 500 is retried and the lookup succeeds."""
    fake_ra.tickets[6] = ra_ticket(6)
    fake_ra.fail_next = 1
    view = await provider_for(fake_ra, fetcher).fetch(GOOD, 6)
    assert view.ticket_id == "6"
    assert fake_ra.ticket_requests == 2


async def test_slow_answer_past_timeout_is_unavailable(fake_ra):
    """An answer slower than HTTP_TIMEOUT_S becomes UpstreamUnavailable."""
    fake_ra.tickets[9] = ra_ticket(9)
    fake_ra.delay_s = 1.0
    async with make_session(0.2) as session:
        fetcher = Http(session, redactor=Redactor(), attempts=2, wait_initial_s=0.01)
        with pytest.raises(UpstreamUnavailable):
            await provider_for(fake_ra, fetcher).fetch(GOOD, 9)


async def test_malformed_json_is_a_bad_answer(fake_ra, fetcher):
    """Truncated JSON becomes BadAnswer, not a crash."""
    fake_ra.malformed = True
    with pytest.raises(BadAnswer):
        await provider_for(fake_ra, fetcher).fetch(GOOD, 1)


async def test_answer_without_id_is_a_bad_answer(fake_ra, fetcher):
    """A 200 that is not a ticket (the recent-tickets list) is never shown as one."""
    fake_ra.tickets[1] = ra_ticket(1)
    fake_ra.ignore_id = True  # as upstream does for an `i` it cannot read
    with pytest.raises(BadAnswer):
        await provider_for(fake_ra, fetcher).fetch(GOOD, 1)


async def test_verify_accepts_good_and_rejects_bad_key(fake_ra, fetcher):
    """Save-time check: a good key passes, a bad one is CredentialsRejected."""
    provider = provider_for(fake_ra, fetcher)
    await provider.verify(GOOD)
    with pytest.raises(CredentialsRejected):
        await provider.verify({"username": "mod", "api_key": "nope"})
    assert all("i" not in r for r in fake_ra.requests)


async def test_zero_or_unreadable_dates_read_as_unknown(fake_ra, fetcher):
    """A zero ReportedAt and an unreadable ResolvedAt no longer make the ticket unreadable."""
    fake_ra.tickets[11] = ra_ticket(
        11, ReportedAt="0000-00-00 00:00:00", ResolvedAt="last Tuesday", ResolvedBy="SampleMod"
    )
    view = await provider_for(fake_ra, fetcher).fetch(GOOD, 11)
    fields = {f.name: f.value for f in view.fields}
    assert fields["Reported"] == "Unknown"
    assert "Resolved" not in fields
    assert fields["Resolved by"] == "SampleMod"
    assert view.timestamp is None


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (1, "Yes"),
        ("true", "Yes"),
        (" YES ", "Yes"),
        (0, "No (softcore)"),
        ("false", "No (softcore)"),
        ("no", "No (softcore)"),
        ("off", "No (softcore)"),
        (None, "Unknown"),
        ("", "Unknown"),
        ("maybe", "Unknown"),
    ],
)
async def test_hardcore_follows_the_one_truth_rule(fake_ra, fetcher, raw, shown):
    """`Hardcore` reads yes/no by the kit's rule; a word it does not know stays Unknown."""
    fake_ra.tickets[12] = ra_ticket(12, Hardcore=raw)
    view = await provider_for(fake_ra, fetcher).fetch(GOOD, 12)
    assert {f.name: f.value for f in view.fields}["Hardcore"] == shown


async def test_odd_optional_values_do_not_fail_the_ticket(fake_ra, fetcher):
    """A non-numeric count or state reads as unknown; a numeric badge name reads as text."""
    fake_ra.tickets[13] = ra_ticket(
        13, Points="n/a", ReportState="?", ReportStateDescription=None, BadgeName=54321
    )
    view = await provider_for(fake_ra, fetcher).fetch(GOOD, 13)
    fields = {f.name: f.value for f in view.fields}
    assert fields["Achievement"] == "Sample Cheevo\nBeat the first boss"
    assert fields["State"] == "Unknown"
    assert view.colour == 0x607D8B
    assert view.thumbnail_url == "https://media.retroachievements.org/Badge/54321.png"


async def test_state_colours_are_unchanged(fake_ra, fetcher):
    """Each ReportState keeps its label and colour."""
    provider = provider_for(fake_ra, fetcher)
    expected = {
        0: ("Closed", 0x95A5A6),
        1: ("Open", 0xE67E22),
        2: ("Resolved", 0x2ECC71),
        3: ("Request", 0xF1C40F),
        4: ("Pending Review", 0x9B59B6),
        9: ("Unknown", 0x607D8B),
    }
    for state, (label, colour) in expected.items():
        fake_ra.tickets[20 + state] = ra_ticket(
            20 + state, ReportState=state, ReportStateDescription=None
        )
        view = await provider.fetch(GOOD, 20 + state)
        assert {f.name: f.value for f in view.fields}["State"] == label
        assert view.colour == colour


def german() -> Translate:
    """German as the running bot has it: the core's catalog and this package's."""
    translator = Translator()
    translator.add_catalogs(package_catalogs("cogs.retroachievements"))
    return translator.bind("de")


def rendered(view: TicketView, tr: Translate | None = None) -> list[dict[str, Any]]:
    """Every embed of every page of `view`, as sent to Discord."""
    pages = render_pages(view) if tr is None else render_pages(view, tr=tr)
    return [embed.to_dict() for page in pages for embed in page]


async def test_our_words_are_german_for_de_and_upstream_text_stays(fake_ra, fetcher):
    """
    A German reader gets our labels, fallbacks and table words in German; what the API wrote
    (titles, notes, names, a state label of its own, braces and all) is shown as it came, and
    the English render is what it always was.
    """
    fake_ra.tickets[123] = ra_ticket(
        123,
        AchievementTitle="Collect {all} the {0} rings",
        ReportNotes="Stuck at {boss}.",
        Hardcore=0,
        ResolvedBy="SampleMod",
    )
    fake_ra.tickets[124] = ra_ticket(124, ReportStateDescription="Reopened by {mod}")
    fake_ra.games[4321] = ra_game()
    provider = provider_for(fake_ra, fetcher)
    views = [
        await provider.fetch(GOOD, 123),
        await provider.fetch(GOOD, 124),
        await provider.fetch(GOOD, RaQuery.game(4321)),
    ]
    english_text = all_text([e for view in views for e in rendered(view)])
    german_text = all_text([e for view in views for e in rendered(view, german())])

    for text in (
        "Ticket #123: Collect {all} the {0} rings",
        "Collect {all} the {0} rings · 10 points\nBeat the first boss",
        "Game\nSample Quest (SNES/Super Famicom)",
        "State\nOpen",
        "Type\nDid not trigger",
        "Hardcore\nNo (softcore)",
        "Reporter\nSampleReporter",
        "Resolved by\nSampleMod",
        "RetroAchievements · ticket #123 · Open",
        "RetroAchievements · ticket #124 · Reopened by {mod}",
        "Tickets: Sample Quest (SNES/Super Famicom)",
        "Tickets, newest first",
        "Open · Did not trigger\nReported by SampleReporter",
        "RetroAchievements · game 4321",
    ):
        assert text in english_text, text
    for text in (
        "Ticket #123: Collect {all} the {0} rings",
        "Collect {all} the {0} rings · 10 Punkte\nBeat the first boss",
        "Erfolg\n",
        "Spiel\nSample Quest (SNES/Super Famicom)",
        "Status\nOffen",
        "Typ\nNicht ausgelöst",
        "Hardcore\nNein (Softcore)",
        "Gemeldet von\nSampleReporter",
        "Gelöst von\nSampleMod",
        "Stuck at {boss}.",
        "RetroAchievements · Ticket #123 · Offen",
        # The API's own words for a state are its own: not ours to translate.
        "RetroAchievements · Ticket #124 · Reopened by {mod}",
        "Tickets: Sample Quest (SNES/Super Famicom)",
        "Tickets, neueste zuerst",
        "Offen · Nicht ausgelöst\nGemeldet von SampleReporter",
        "RetroAchievements · Spiel 4321",
    ):
        assert text in german_text, text
    for text in ("points", "\nState\n", "\nReporter\n", "Did not trigger", "Reported by", "newest"):
        assert text not in german_text, text
    # English (or any language without a catalog) is the same answer, byte for byte.
    for view in views:
        assert rendered(view, Translator().bind("en-GB")) == rendered(view)
        assert rendered(view, Translator().bind("fr")) == rendered(view)


def test_credential_form_labels_are_german_for_de():
    """The form's labels are ours: German for `de`, as typed in English otherwise."""
    tr = german()
    labels = [worded(field.label, tr) for field in RetroAchievements.credential_fields]
    assert labels == ["Benutzername", "Web-API-Schlüssel"]
    assert [f.label for f in RetroAchievements.credential_fields] == ["Username", "Web API key"]


def test_web_api_key_parameter_is_masked(redactor):
    """The key travels as `y`: once the provider's names are learnt, a logged query hides it."""
    redactor.learn_names(params=RetroAchievements.secret_params)
    line = redactor.redact("GET /API/API_GetTicketData.php?i=5&y=abc123secret&z=mod")
    assert "abc123secret" not in line
    assert "z=mod" in line
