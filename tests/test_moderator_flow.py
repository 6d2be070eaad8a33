"""
The moderator's flow through the real app commands and components: the buttons under an
answer (Refresh, paging, the site link) after restarts and against forged custom ids, the `id`
option's autocomplete, the message context menu, and `/tickets retroachievements`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.app import TicketLensBot
from cogs.retroachievements._client import RetroSettings
from cogs.whmcs._client import WhmcsSettings
from tests.e2e.conftest import CHANNEL_ID, GUILD_ID
from tests.e2e.fake_discord import MANAGE_GUILD, FakeDiscord, FakeInteraction
from tests.fakes.retroachievements import FakeRetroAchievements, ra_game, ra_ticket
from tests.harness import all_text, embeds_of, running_bot

RA = "retroachievements"
GOOD = {"username": "mod", "api_key": "good-key"}
INVOKER = 5555
OTHER = 7777
MENTION = re.compile(r"@(everyone|here)|<@[!&]?\d+>|<#\d+>")


@asynccontextmanager
async def ra_bot(
    fake_discord: FakeDiscord, fake_ra: FakeRetroAchievements, data: Path
) -> AsyncIterator[TicketLensBot]:
    """The real bot with RetroAchievements pointed at the fake (WHMCS left unconfigured)."""
    sections = {
        RetroSettings: RetroSettings(base_url=fake_ra.url, rate_per_s=100),
        WhmcsSettings: WhmcsSettings(rate_per_s=100),
    }
    async with running_bot(fake_discord, data, sections=sections) as bot:
        await bot.store.put_credential(GUILD_ID, None, RA, GOOD, set_by=1)
        yield bot


@pytest.fixture
async def bot(fake_discord, fake_ra, tmp_path) -> AsyncIterator[TicketLensBot]:
    """A running bot with RetroAchievements configured for the test guild."""
    async with ra_bot(fake_discord, fake_ra, tmp_path) as running:
        yield running


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    """Every button of a message, row by row."""
    return [c for row in message.get("components") or [] for c in row.get("components") or []]


def button(message: dict[str, Any], label: str) -> dict[str, Any]:
    """The button labelled `label` (exactly one)."""
    found = [b for b in buttons(message) if b.get("label") == label]
    assert len(found) == 1, f"{label!r} among {[b.get('label') for b in buttons(message)]}"
    return found[0]


async def answered(fake_discord: FakeDiscord, inter: FakeInteraction) -> dict[str, Any]:
    """The message an interaction's answer created or edited, as Discord now holds it."""
    await fake_discord.wait_for_response(inter)
    message_id = inter.original_message_id
    assert message_id is not None
    return fake_discord.messages[message_id]


def forge(fake_discord: FakeDiscord, message: dict[str, Any], custom_id: str) -> dict[str, Any]:
    """
    A copy of `message` whose one button carries `custom_id`: what a client would need to
    make the bot receive a press we never issued (discord.py drops presses of custom ids that
    are not on the message, so the forgery must be on it).
    """
    forged = {
        **message,
        "id": str(fake_discord.snowflake()),
        "components": [
            {
                "type": 1,
                "components": [{"type": 2, "style": 2, "label": "x", "custom_id": custom_id}],
            }
        ],
    }
    fake_discord.messages[int(forged["id"])] = forged
    return forged


async def press(
    fake_discord: FakeDiscord, message: dict[str, Any], custom_id: str, **member: Any
) -> FakeInteraction:
    """A member presses the button `custom_id` on `message`; wait for the bot's answer."""
    inter = await fake_discord.send_component(
        custom_id, message_id=int(message["id"]), permissions=member.pop("permissions", 0), **member
    )
    await fake_discord.wait_for_response(inter)
    return inter


async def settled(fake_discord: FakeDiscord, inter: FakeInteraction) -> dict[str, Any]:
    """The original answer once a deferred one was edited into place (no longer loading)."""
    await fake_discord.wait_for_response(inter)

    def done() -> dict[str, Any] | None:
        message = fake_discord.messages.get(inter.original_message_id or 0)
        return message if message is not None and not int(message["flags"]) & 128 else None

    return await fake_discord.wait_until(done, 5.0, "the deferred answer")


def busy_game(fake_ra: FakeRetroAchievements, tickets: int = 40) -> None:
    """Game 4321 with enough open tickets for several pages."""
    fake_ra.games[4321] = ra_game()
    for ticket_id in range(100, 100 + tickets):
        fake_ra.tickets[ticket_id] = ra_ticket(ticket_id)


GAME = f"tickets {RA} game"


async def test_answer_has_refresh_and_a_link_to_the_ticket(bot, fake_discord, fake_ra):
    """A ticket answer carries Refresh and "Open on RetroAchievements" linking to its page."""
    fake_ra.tickets[123] = ra_ticket(123)
    inter = await fake_discord.send_interaction(f"ticket {RA}", {"id": 123}, permissions=0)
    message = await answered(fake_discord, inter)
    refresh = button(message, "Refresh")
    assert len(refresh["custom_id"]) <= 100
    assert "good-key" not in refresh["custom_id"]
    link = button(message, "Open on RetroAchievements")
    assert link["style"] == 5
    assert link["url"] == "https://retroachievements.org/ticket/123"
    assert "custom_id" not in link


async def test_errors_have_no_buttons(bot, fake_discord, fake_ra):
    """A failed lookup is a plain error: nothing to refresh."""
    inter = await fake_discord.send_interaction(f"ticket {RA}", {"id": 404}, permissions=0)
    response = await fake_discord.wait_for_response(inter)
    assert "not found" in all_text(embeds_of(response.data)).lower()
    assert not response.data.get("components")


async def test_refresh_fetches_again_and_edits_in_place(bot, fake_discord, fake_ra):
    """Refresh bypasses the cache, and the same message shows the new state."""
    fake_ra.tickets[7] = ra_ticket(7)
    inter = await fake_discord.send_interaction(f"ticket {RA}", {"id": 7}, permissions=0)
    message = await answered(fake_discord, inter)
    assert fake_ra.ticket_requests == 1
    fake_ra.tickets[7] = ra_ticket(
        7, ReportState=2, ReportStateDescription="Resolved", ResolvedBy="Fixer"
    )
    pressed = await press(fake_discord, message, button(message, "Refresh")["custom_id"])
    assert fake_ra.ticket_requests == 2
    assert pressed.original_message_id == int(message["id"])
    text = all_text(message["embeds"])
    assert "Resolved" in text
    assert "Fixer" in text
    assert button(message, "Refresh")


async def test_someone_else_pressing_refresh_is_told_and_nothing_is_fetched(
    bot, fake_discord, fake_ra
):
    """On a public answer, another member's press gets a private "only ..." and no request."""
    fake_ra.tickets[8] = ra_ticket(8)
    inter = await fake_discord.send_interaction(
        f"ticket {RA}", {"id": 8, "public": True}, permissions=0
    )
    message = await answered(fake_discord, inter)
    before = dict(message)
    pressed = await press(
        fake_discord, message, button(message, "Refresh")["custom_id"], user_id=OTHER
    )
    assert pressed.response is not None
    assert pressed.response.ephemeral
    assert "Only the member who ran this lookup" in all_text(embeds_of(pressed.response.data))
    assert fake_ra.ticket_requests == 1
    assert message["embeds"] == before["embeds"]


async def test_staff_may_refresh_a_members_public_answer(bot, fake_discord, fake_ra):
    """Staff (Manage Server) can refresh what a member posted; it stays public and whole."""
    fake_ra.tickets[9] = ra_ticket(9)
    inter = await fake_discord.send_interaction(
        f"ticket {RA}", {"id": 9, "public": True}, permissions=0
    )
    message = await answered(fake_discord, inter)
    await press(
        fake_discord,
        message,
        button(message, "Refresh")["custom_id"],
        user_id=OTHER,
        permissions=MANAGE_GUILD,
    )
    assert fake_ra.ticket_requests == 2
    assert not int(message["flags"]) & 64
    assert message["embeds"][0]["title"].startswith("Ticket #9")


async def test_pages_turn_with_persistent_buttons(bot, fake_discord, fake_ra):
    """A long answer gets Previous, a counter and Next; Next shows page 2 in place."""
    busy_game(fake_ra)
    inter = await fake_discord.send_interaction(GAME, {"id": 4321}, permissions=0)
    message = await answered(fake_discord, inter)
    first = all_text(message["embeds"])
    assert button(message, "Previous")["disabled"]
    counter = next(b for b in buttons(message) if re.fullmatch(r"1/\d+", b.get("label", "")))
    assert counter["disabled"]
    await press(fake_discord, message, button(message, "Next")["custom_id"])
    assert all_text(message["embeds"]) != first
    assert any(re.fullmatch(r"2/\d+", b.get("label", "")) for b in buttons(message))
    assert not button(message, "Previous")["disabled"]


async def test_buttons_work_after_a_restart(fake_discord, fake_ra, tmp_path):
    """Pressed after the bot restarted (no view in memory), Next and Refresh still answer."""
    busy_game(fake_ra)
    async with ra_bot(fake_discord, fake_ra, tmp_path):
        inter = await fake_discord.send_interaction(GAME, {"id": 4321}, permissions=0)
        message = await answered(fake_discord, inter)
    next_id = button(message, "Next")["custom_id"]
    async with ra_bot(fake_discord, fake_ra, tmp_path):
        pressed = await press(fake_discord, message, next_id)
        assert pressed.response is not None
        assert pressed.response.type in (6, 7)
        assert any(re.fullmatch(r"2/\d+", b.get("label", "")) for b in buttons(message))
        before = len(fake_ra.requests)
        await press(fake_discord, message, button(message, "Refresh")["custom_id"])
        assert len(fake_ra.requests) == before + 1


async def test_forged_custom_id_shows_nothing_the_presser_may_not_see(bot, fake_discord, fake_ra):
    """
    A member forges a press asking for a WHMCS ticket (staff only) on their own public
    answer: refused privately, the public message unchanged, nothing sent upstream.
    """
    fake_ra.tickets[13] = ra_ticket(13)
    inter = await fake_discord.send_interaction(
        f"ticket {RA}", {"id": 13, "public": True}, permissions=0
    )
    message = forge(fake_discord, await answered(fake_discord, inter), "tl1:r:whmcs:0:i+5")
    before = message["embeds"]
    pressed = await press(fake_discord, message, "tl1:r:whmcs:0:i+5")
    assert pressed.response is not None
    assert pressed.response.ephemeral
    assert "Staff only" in all_text(embeds_of(pressed.response.data))
    assert message["embeds"] == before


async def test_forged_garbage_ref_is_a_polite_error(bot, fake_discord, fake_ra):
    """A custom id with a ref the provider cannot read: a clear private error, no request."""
    fake_ra.tickets[14] = ra_ticket(14)
    inter = await fake_discord.send_interaction(f"ticket {RA}", {"id": 14}, permissions=0)
    forged = "tl1:r:retroachievements:0:0x41"
    message = forge(fake_discord, await answered(fake_discord, inter), forged)
    pressed = await press(fake_discord, message, forged)
    assert pressed.response is not None
    assert pressed.response.ephemeral
    assert fake_ra.ticket_requests == 1
    assert all_text(embeds_of(pressed.response.data))


async def test_autocomplete_offers_own_recent_lookups_newest_first(bot, fake_discord, fake_ra):
    """`id` suggests the member's own successful lookups here, newest first, filtered."""
    for ticket_id in (21, 22, 123):
        fake_ra.tickets[ticket_id] = ra_ticket(ticket_id)
        inter = await fake_discord.send_interaction(
            f"ticket {RA}", {"id": ticket_id}, permissions=0
        )
        await fake_discord.wait_for_response(inter)
    missing = await fake_discord.send_interaction(f"ticket {RA}", {"id": 999}, permissions=0)
    await fake_discord.wait_for_response(missing)

    inter = await fake_discord.send_autocomplete(f"ticket {RA}", {"id": ""}, "id", permissions=0)
    await fake_discord.wait_for_response(inter)
    assert [c["value"] for c in fake_discord.autocomplete_choices(inter)] == [123, 22, 21]

    inter = await fake_discord.send_autocomplete(f"ticket {RA}", {"id": "2"}, "id", permissions=0)
    await fake_discord.wait_for_response(inter)
    assert [c["value"] for c in fake_discord.autocomplete_choices(inter)] == [123, 22, 21]

    inter = await fake_discord.send_autocomplete(f"ticket {RA}", {"id": "22"}, "id", permissions=0)
    await fake_discord.wait_for_response(inter)
    assert [c["value"] for c in fake_discord.autocomplete_choices(inter)] == [22]

    other = await fake_discord.send_autocomplete(
        f"ticket {RA}", {"id": ""}, "id", user_id=OTHER, permissions=0
    )
    await fake_discord.wait_for_response(other)
    assert fake_discord.autocomplete_choices(other) == []


async def test_forget_clears_suggestions_at_once(bot, fake_discord, fake_ra):
    """`/ticketaccount forget`: the next autocomplete offers nothing."""
    fake_ra.tickets[31] = ra_ticket(31)
    inter = await fake_discord.send_interaction(f"ticket {RA}", {"id": 31}, permissions=0)
    await fake_discord.wait_for_response(inter)
    forget = await fake_discord.send_interaction("ticketaccount forget", {}, permissions=0)
    await fake_discord.wait_for_response(forget)
    inter = await fake_discord.send_autocomplete(f"ticket {RA}", {"id": ""}, "id", permissions=0)
    await fake_discord.wait_for_response(inter)
    assert fake_discord.autocomplete_choices(inter) == []


async def test_context_menu_looks_up_the_first_five_and_counts_the_rest(bot, fake_discord, fake_ra):
    """Seven ticket links: a private header saying "2 more", then five private answers."""
    ids = list(range(41, 48))
    for ticket_id in ids:
        fake_ra.tickets[ticket_id] = ra_ticket(ticket_id)
    content = " ".join(f"https://retroachievements.org/ticket/{n}" for n in ids)
    message = fake_discord.user_message(content, channel_id=CHANNEL_ID)
    inter = await fake_discord.send_message_command("Look up tickets", message, permissions=0)
    header = await settled(fake_discord, inter)
    assert int(header["flags"]) & 64
    assert "7 ticket references" in header["content"]
    assert "2 more" in header["content"]
    answers = await fake_discord.wait_for_followups(inter, count=5)
    titles = [a["embeds"][0]["title"] for a in answers]
    assert [t.split(":")[0] for t in titles] == [f"Ticket #{n}" for n in ids[:5]]
    assert all(int(a["flags"]) & 64 for a in answers)
    assert fake_ra.ticket_requests == 5
    assert all(button(a, "Refresh") for a in answers)


async def test_context_menu_without_references_says_so(bot, fake_discord, fake_ra):
    """A message with no ticket reference: a private notice, no request."""
    message = fake_discord.user_message("nothing to see here, ticket 5 maybe?")
    inter = await fake_discord.send_message_command("Look up tickets", message, permissions=0)
    answer = await settled(fake_discord, inter)
    assert "No tickets found" in all_text(answer["embeds"])
    assert fake_ra.requests == []


async def test_context_menu_follows_the_same_rules(bot, fake_discord, fake_ra):
    """A WHMCS link next to an RA link, for a non-staff member: the RA ticket is shown, the
    WHMCS one is not looked up (no install configured: not even recognised)."""
    fake_ra.tickets[51] = ra_ticket(51)
    content = (
        "see https://retroachievements.org/ticketmanager.php?i=51 and "
        "https://billing.example.com/viewticket.php?tid=ABC-1&c=xyz"
    )
    message = fake_discord.user_message(content)
    inter = await fake_discord.send_message_command("Look up tickets", message, permissions=0)
    header = await settled(fake_discord, inter)
    assert "1 ticket reference" in header["content"]
    answers = await fake_discord.wait_for_followups(inter, count=1)
    assert answers[0]["embeds"][0]["title"].startswith("Ticket #51")
    assert "xyz" not in str(answers)


async def test_game_tickets_list_with_links_and_pages(bot, fake_discord, fake_ra):
    """`/tickets retroachievements game`: the count and the tickets, each with its link."""
    busy_game(fake_ra)
    inter = await fake_discord.send_interaction(GAME, {"id": 4321}, permissions=0)
    message = await answered(fake_discord, inter)
    text = all_text(message["embeds"])
    assert "Sample Quest" in text
    assert "https://retroachievements.org/ticket/139" in text
    assert not MENTION.search(text)
    assert button(message, "Refresh")
    link = button(message, "Open on RetroAchievements")
    assert link["url"].startswith("https://retroachievements.org/game/4321")
    await press(fake_discord, message, button(message, "Next")["custom_id"])
    assert "https://retroachievements.org/ticket/" in all_text(message["embeds"])
    assert all_text(message["embeds"]) != text


async def test_aggregates_are_not_offered_as_ticket_ids(bot, fake_discord, fake_ra):
    """A list lookup does not land in the `id` suggestions (only single tickets do)."""
    inter = await fake_discord.send_interaction(f"tickets {RA} recent", {}, permissions=0)
    await fake_discord.wait_for_response(inter)
    suggest = await fake_discord.send_autocomplete(f"ticket {RA}", {"id": ""}, "id", permissions=0)
    await fake_discord.wait_for_response(suggest)
    assert fake_discord.autocomplete_choices(suggest) == []


async def test_help_says_what_this_member_may_use(bot, fake_discord, fake_ra):
    """`/ticket help`: configured providers ready, others not set up, staff-only ones refused
    to a member; admin commands only for Manage Server."""
    inter = await fake_discord.send_interaction("ticket help", {}, permissions=0)
    response = await fake_discord.wait_for_response(inter)
    assert response.ephemeral
    text = all_text(embeds_of(response.data))
    assert "**RetroAchievements** `/ticket retroachievements`: ready" in text
    assert "**WHMCS** `/ticket whmcs`: not set up here yet" in text
    assert "/ticketaccount link provider:teambattles" in text
    assert "Look up tickets" in text
    assert "`/tickets retroachievements game`" in text
    assert "/ticketconfig audit" not in text
    assert "you are not staff here" in text

    admin = await fake_discord.send_interaction("ticket help", {}, permissions=MANAGE_GUILD)
    text = all_text(embeds_of((await fake_discord.wait_for_response(admin)).data))
    assert "/ticketconfig audit" in text
    assert "you count as **staff** here" in text


async def test_unknown_game_is_named_as_a_game(bot, fake_discord, fake_ra):
    """A list of a game RetroAchievements does not know: "Game not found", not "ticket"."""
    inter = await fake_discord.send_interaction(GAME, {"id": 999}, permissions=0)
    response = await fake_discord.wait_for_response(inter)
    text = all_text(embeds_of(response.data))
    assert "Game not found" in text
    assert "game `999`" in text
    assert not response.data.get("components")


async def test_buttons_help_and_the_context_menu_speak_the_members_language(
    bot, fake_discord, fake_ra
):
    """A German member gets German buttons, help and context-menu header; custom ids and the
    ticket's own text are the same in every language."""
    fake_ra.tickets[61] = ra_ticket(61)
    english = await answered(
        fake_discord,
        await fake_discord.send_interaction(f"ticket {RA}", {"id": 61}, permissions=0),
    )
    german = await answered(
        fake_discord,
        await fake_discord.send_interaction(f"ticket {RA}", {"id": 61}, permissions=0, locale="de"),
    )
    assert button(german, "Aktualisieren")["custom_id"] == button(english, "Refresh")["custom_id"]
    assert button(german, "Auf RetroAchievements öffnen")["url"].endswith("/ticket/61")
    assert "Sample Cheevo" in all_text(german["embeds"])

    help_ = await fake_discord.send_interaction("ticket help", {}, permissions=0, locale="de")
    text = all_text(embeds_of((await fake_discord.wait_for_response(help_)).data))
    assert "TicketLens auf diesem Server" in text
    assert "`/ticket retroachievements`: bereit" in text

    message = fake_discord.user_message("https://retroachievements.org/ticket/61")
    menu = await fake_discord.send_message_command(
        "Look up tickets", message, permissions=0, locale="de"
    )
    assert "1 Ticket-Verweis" in (await settled(fake_discord, menu))["content"]


# -- share to channel ---------------------------------------------------------------------------


async def test_a_private_answer_is_shared_to_the_channel_with_who_shared_it(
    bot, fake_discord, fake_ra
):
    """ "Share to channel" posts the public render as a new message, naming (never pinging)
    the member who shared it; the private answer stays as it was."""
    fake_ra.tickets[81] = ra_ticket(81)
    inter = await fake_discord.send_interaction(
        f"ticket {RA}", {"id": 81}, permissions=0, username="Mod Molly"
    )
    private = await answered(fake_discord, inter)
    assert int(private["flags"]) & 64
    pressed = await fake_discord.send_component(
        button(private, "Share to channel")["custom_id"],
        message_id=int(private["id"]),
        permissions=0,
        username="Mod Molly",
    )
    response = await fake_discord.wait_for_response(pressed)
    assert response.type == 4
    assert not response.ephemeral
    assert response.data["allowed_mentions"] == {"parse": []}
    posted = embeds_of(response.data)
    assert posted[0]["title"].startswith("Ticket #81")
    assert "Shared by Mod Molly" in posted[-1]["footer"]["text"]
    shared = fake_discord.messages[pressed.original_message_id or 0]
    assert shared["id"] != private["id"]
    assert not any(b.get("label") == "Share to channel" for b in buttons(shared))
    assert button(shared, "Refresh")


async def test_no_share_button_where_posting_is_refused(bot, fake_discord, fake_ra):
    """A Pending Review ticket (quarantined) offers no "Share to channel", and a forged press
    posts nothing: the same reason as for `public:true`, privately."""
    fake_ra.tickets[82] = ra_ticket(82, ReportState=4, ReportStateDescription="Pending Review")
    inter = await fake_discord.send_interaction(f"ticket {RA}", {"id": 82}, permissions=0)
    private = await answered(fake_discord, inter)
    assert not any(b.get("label") == "Share to channel" for b in buttons(private))
    forged = forge(fake_discord, private, "tl1:s:retroachievements:0:82")
    pressed = await press(fake_discord, forged, "tl1:s:retroachievements:0:82")
    assert pressed.response is not None
    assert pressed.response.ephemeral
    assert "Pending Review" in all_text(embeds_of(pressed.response.data))


async def test_a_public_answer_offers_no_share(bot, fake_discord, fake_ra):
    """Already in the channel: nothing to share."""
    fake_ra.tickets[83] = ra_ticket(83)
    inter = await fake_discord.send_interaction(
        f"ticket {RA}", {"id": 83, "public": True}, permissions=0
    )
    message = await answered(fake_discord, inter)
    assert not any(b.get("label") == "Share to channel" for b in buttons(message))
