"""
Ticket references as text for WHMCS, series.hr and TeamBattles: what a button's custom id and a
member's history hold (`ref_text`/`parse_ref`, which must refuse anything forged), and the links
and ids the message context menu finds (`find_refs`). RetroAchievements' are in
test_retroachievements_aggregates.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.controls import fits
from bot.errors import BadInput
from bot.http import Http
from bot.redact import Redactor
from cogs.serieshr._client import SeriesHr, SeriesHrSettings
from cogs.teambattles._client import TeamBattles, TeamBattlesSettings
from cogs.whmcs._client import Whmcs, WhmcsRef, WhmcsSettings
from cogs.whmcs._command import make_ref

INSTALL = {"url": "https://billing.example.com/portal", "identifier": "i", "secret": "s"}


def _http() -> Any:
    # The providers only bind it here; nothing is sent in these tests.
    return Http(None, redactor=Redactor())  # type: ignore[arg-type]


WHMCS = Whmcs(_http(), WhmcsSettings())
SERIESHR = SeriesHr(_http(), SeriesHrSettings())
TEAMBATTLES = TeamBattles(_http(), TeamBattlesSettings())


# -- WHMCS ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ref",
    [
        make_ref(42, None, "oldest"),
        make_ref(42, None, "newest"),
        make_ref(None, "ABC-123456", "oldest"),
        make_ref(None, "x:y+z-1", "newest"),
    ],
)
def test_whmcs_refs_round_trip(ref: WhmcsRef):
    """What a button holds reads back to the same lookup (reply order included)."""
    assert WHMCS.parse_ref(WHMCS.ref_text(ref)) == ref


@given(st.text(max_size=80))
def test_whmcs_parse_ref_accepts_only_what_the_options_would(text: str):
    """Anything `parse_ref` accepts is a valid lookup that writes back to the same text."""
    try:
        ref = WHMCS.parse_ref(text)
    except BadInput:
        return
    assert WHMCS.ref_text(ref) == text


@pytest.mark.parametrize(
    "forged", ["", "i+", "i+0", "i+-5", "i+1e3", "i+007", "x+5", "i*5", "n+a b", "n+ AB", "i+٣"]
)
def test_whmcs_forged_refs_are_refused(forged: str):
    with pytest.raises(BadInput):
        WHMCS.parse_ref(forged)


def test_whmcs_links_on_the_guilds_own_install_are_found_in_order():
    text = (
        "customer wrote https://billing.example.com/portal/viewticket.php?tid=ABC-123&c=SeCrEt "
        "and staff see "
        "https://billing.example.com/portal/admin/supporttickets.php?action=view&id=42. "
        "Again: https://BILLING.example.com/portal/viewticket.php?tid=ABC-123&c=other"
    )
    assert WHMCS.find_refs(text, INSTALL) == [
        make_ref(None, "ABC-123", "oldest"),
        make_ref(42, None, "oldest"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "https://evil.example.com/portal/viewticket.php?tid=ABC-1",
        "https://billing.example.com.evil.example/portal/viewticket.php?tid=ABC-1",
        "https://billing.example.com:8443/portal/viewticket.php?tid=ABC-1",
        "https://billing.example.com/other/viewticket.php?tid=ABC-1",
        "https://billing.example.com/portal/admin/supporttickets.php?action=list&id=42",
        "https://billing.example.com/portal/admin/supporttickets.php?action=view&id=4x2",
        "billing.example.com/portal/viewticket.php?tid=ABC-1",
    ],
)
def test_whmcs_other_links_are_not_tickets(text: str):
    """Another host, port or install path, another page, or no scheme: nothing is found."""
    assert WHMCS.find_refs(text, INSTALL) == []


def test_whmcs_without_a_stored_install_finds_nothing():
    """The host is the guild's own: unknown without its credential."""
    link = "https://billing.example.com/portal/viewticket.php?tid=ABC-1"
    assert WHMCS.find_refs(link, None) == []


def test_whmcs_the_access_key_of_a_client_link_is_never_kept():
    """`c=` lets anyone read the ticket without logging in: it must not reach a custom id."""
    found = WHMCS.find_refs(
        "https://billing.example.com/portal/viewticket.php?tid=ABC-9&c=AccessKey123", INSTALL
    )
    assert "AccessKey123" not in WHMCS.ref_text(found[0])


def test_whmcs_the_id_option_suggests_ids_only():
    assert WHMCS.id_option(make_ref(42, None, "oldest")) == 42
    assert WHMCS.id_option(make_ref(None, "ABC-1", "oldest")) is None


# -- series.hr --------------------------------------------------------------------------------


def test_serieshr_ids_in_a_message_are_found_normalised_in_order_once():
    text = "see ticket-123-AbC, TICKET-9-Z9 and again TICKET-123-AbC (not XTICKET-1-A)"
    assert SERIESHR.find_refs(text, None) == ["TICKET-123-AbC", "TICKET-9-Z9"]


def test_serieshr_object_ids_are_not_guessed_from_text():
    """Any 24 hex digits (a commit hash) would match; they are only taken when typed."""
    assert SERIESHR.find_refs("commit 65a1b2c3d4e5f60718293a4b", None) == []


@pytest.mark.parametrize("text", ["TICKET-1234567890-ABCD", "65a1b2c3d4e5f60718293a4b"])
def test_serieshr_refs_round_trip_and_fit_a_button(text: str):
    ref = SERIESHR.parse_ref(text)
    assert SERIESHR.parse_ref(SERIESHR.ref_text(ref)) == ref
    assert fits(SERIESHR.key, SERIESHR.ref_text(ref), pages=20)


@pytest.mark.parametrize("forged", ["", "TICKET-", "TICKET-1-", "../x", "TICKET-1-A/../b"])
def test_serieshr_forged_refs_are_refused(forged: str):
    with pytest.raises(BadInput):
        SERIESHR.parse_ref(forged)


# -- TeamBattles ------------------------------------------------------------------------------


def test_teambattles_refs_round_trip_and_numbers_are_refused():
    ref = TEAMBATTLES.parse_ref("jd7e2e0c3d4e5f6g7h8j9k0m1n2p3q4r")
    assert TEAMBATTLES.parse_ref(TEAMBATTLES.ref_text(ref)) == ref
    for forged in ("#12", "12", "a/b", "a?b", ""):
        with pytest.raises(BadInput):
            TEAMBATTLES.parse_ref(forged)


def test_teambattles_finds_nothing_in_messages():
    """No link format of TeamBattles tickets is documented: nothing is guessed."""
    assert TEAMBATTLES.find_refs("https://teambattles.gg/tickets/abc", None) == []


def test_a_ref_too_long_for_a_custom_id_gets_no_persistent_buttons():
    """A 100-character TeamBattles id cannot fit Discord's 100-character custom id."""
    assert not fits(TEAMBATTLES.key, "a" * 100, pages=1)
    assert fits(TEAMBATTLES.key, "a" * 32, pages=1)
