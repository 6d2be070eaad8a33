"""
`/ticket whmcs` and its `/ticketconfig` form, driven the way Discord drives them.

The real bot runs against the loopback Discord and a fake WHMCS on http://127.0.0.1, so these
bots run with ALLOW_PRIVATE_URLS=true, except where the URL rules themselves are tested.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot.app import TicketLensBot
from cogs.whmcs._client import WhmcsSettings
from tests.e2e.conftest import GUILD_ID
from tests.e2e.fake_discord import MANAGE_GUILD, FakeDiscord
from tests.fakes.whmcs import CALLER_IP, GOOD, FakeMessage, FakeWhmcs, sample_ticket
from tests.harness import all_text, embeds_of, running_bot

WH = "whmcs"
#: The bot's managed role (guild id + 1) is in the guild's role cache, so it can be the staff
#: role: discord.py only lists a member's roles that the guild knows.
STAFF_ROLE_ID = GUILD_ID + 1
CUSTOMER_DATA = ("ana@example.net", "Ana Example", "Checked zone", "A record", "Sam Operator")


@asynccontextmanager
async def whmcs_bot(
    fake_discord: FakeDiscord, data: Path, *, allow_private: bool = True
) -> AsyncIterator[TicketLensBot]:
    """The real bot; ALLOW_PRIVATE_URLS as asked."""
    async with running_bot(
        fake_discord,
        data,
        sections={WhmcsSettings: WhmcsSettings(rate_per_s=100)},
        settings={"ALLOW_PRIVATE_URLS": allow_private},
    ) as bot:
        yield bot


@pytest.fixture(params=["7", "8"])
async def whmcs(request) -> AsyncIterator[FakeWhmcs]:
    """A fake WHMCS (7.x and 8.x shapes) holding the sample ticket 42."""
    server = FakeWhmcs(version=request.param)
    await server.start()
    server.add(sample_ticket())
    yield server
    await server.stop()


@pytest.fixture
async def whmcs8() -> AsyncIterator[FakeWhmcs]:
    """A fake WHMCS 8.x holding the sample ticket 42."""
    server = FakeWhmcs(version="8")
    await server.start()
    server.add(sample_ticket())
    yield server
    await server.stop()


@pytest.fixture
async def bot(fake_discord, tmp_path) -> AsyncIterator[TicketLensBot]:
    """A running bot with ALLOW_PRIVATE_URLS=true and an empty store."""
    async with whmcs_bot(fake_discord, tmp_path) as running:
        yield running


async def configure(bot: TicketLensBot, server: FakeWhmcs, **extra: str) -> dict[str, str]:
    """Store WHMCS credentials for the test guild (as /ticketconfig would)."""
    credential = {"url": server.url, **GOOD, **extra}
    await bot.store.put_credential(GUILD_ID, None, WH, credential, set_by=1)
    return credential


async def open_form(fake_discord: FakeDiscord):
    """Run `/ticketconfig set provider:whmcs` as an admin; the modal response."""
    inter = await fake_discord.send_interaction(
        "ticketconfig set", {"provider": WH}, permissions=MANAGE_GUILD
    )
    return await fake_discord.wait_for_response(inter)


async def submit_form(fake_discord: FakeDiscord, values: dict[str, str]) -> str:
    await open_form(fake_discord)
    submit = await fake_discord.send_modal_submit(
        f"ticketlens:config:{WH}", values, permissions=MANAGE_GUILD
    )
    reply = (await fake_discord.wait_for_followups(submit))[0]
    assert reply.get("flags", 0) & 64
    return all_text(embeds_of(reply))


async def look_up(fake_discord: FakeDiscord, options: dict, **kwargs):
    """Run `/ticket whmcs` (as staff unless told); the interaction and its response."""
    """Open and submit the form; the text of the (ephemeral) answer."""
    kwargs.setdefault("permissions", MANAGE_GUILD)
    inter = await fake_discord.send_interaction(f"ticket {WH}", options, **kwargs)
    return inter, await fake_discord.wait_for_response(inter)


# -- /ticketconfig set provider:whmcs ----------------------------------------------------------


async def test_form_asks_for_the_four_fields_and_stores_checked_credentials(
    bot, fake_discord, whmcs8
):
    """The form has the four labelled fields; good credentials are checked, then stored."""
    modal = await open_form(fake_discord)
    assert modal.type == 9
    labels = re.findall(r"'label': '([^']+)'", str(modal.data))
    assert labels == ["WHMCS URL", "API identifier", "API secret", "Access key (optional)"]
    assert re.findall(r"'required': (True|False)", str(modal.data)) == [
        "True",
        "True",
        "True",
        "False",
    ]
    text = await submit_form(fake_discord, {"url": whmcs8.url, **GOOD, "accesskey": ""})
    assert "Saved" in text
    assert GOOD["secret"] not in text
    assert whmcs8.requests[-1]["ticketid"] == "0"
    assert await bot.store.get_credential(GUILD_ID, None, WH) == {"url": whmcs8.url, **GOOD}


async def test_rejected_credentials_are_not_saved(bot, fake_discord, whmcs8):
    """An "Authentication Failed" at save: not stored, and the admin reads why."""
    text = await submit_form(fake_discord, {"url": whmcs8.url, **GOOD, "secret": "WrongSecret000"})
    assert "Not saved" in text
    assert "Authentication Failed" in text
    assert "WrongSecret000" not in text
    assert await bot.store.get_credential(GUILD_ID, None, WH) is None


async def test_invalid_ip_at_save_says_to_allow_the_bot(bot, fake_discord, whmcs8):
    """An "Invalid IP ..." at save: not stored, with the address and the allow-list advice."""
    whmcs8.ip_allowed = False
    text = await submit_form(fake_discord, {"url": whmcs8.url, **GOOD})
    assert "Not saved" in text
    assert f"Invalid IP {CALLER_IP}" in text
    assert "API IP Access Restriction" in text
    assert await bot.store.get_credential(GUILD_ID, None, WH) is None


async def test_private_urls_are_refused_at_save(fake_discord, whmcs8, tmp_path):
    """Without ALLOW_PRIVATE_URLS, http://127.0.0.1 and https://10.0.0.1 are not saved."""
    async with whmcs_bot(fake_discord, tmp_path, allow_private=False) as strict:
        text = await submit_form(fake_discord, {"url": whmcs8.url, **GOOD})
        assert "Not saved" in text
        assert "https://" in text
        text = await submit_form(fake_discord, {"url": "https://10.0.0.1", **GOOD})
        assert "Not saved" in text
        assert "private address (10.0.0.1)" in text
        assert await strict.store.get_credential(GUILD_ID, None, WH) is None
    assert whmcs8.requests == []


# -- who sees what ------------------------------------------------------------------------------


async def test_staff_lookup_by_id_shows_replies_and_internal_notes(bot, fake_discord, whmcs):
    """Manage Server: an ephemeral answer with the ticket, the replies and the marked note."""
    await configure(bot, whmcs)
    _, response = await look_up(fake_discord, {"id": 42})
    assert response.type == 4
    assert response.ephemeral
    embeds = embeds_of(response.data)
    text = all_text(embeds)
    assert embeds[0]["title"] == "Ticket #QKD-804113: Site down after DNS change"
    assert "Internal note (staff only)" in text
    assert "Checked zone, looks fine." in text
    assert "I've changed the **A record**" in text
    assert "ana@example.net" in text
    assert response.data["allowed_mentions"] == {"parse": []}


async def test_lookup_by_number(bot, fake_discord, whmcs):
    """`number:` finds the ticket by the number customers see."""
    await configure(bot, whmcs)
    _, response = await look_up(fake_discord, {"number": "QKD-804113"})
    assert embeds_of(response.data)[0]["title"].startswith("Ticket #QKD-804113")
    assert whmcs.requests[-1]["ticketnum"] == "QKD-804113"


async def test_staff_role_members_see_notes_and_others_are_refused(bot, fake_discord, whmcs8):
    """A member with the /ticketconfig staffrole role sees notes; without it, staff only."""
    await configure(bot, whmcs8)
    role = {
        "id": str(STAFF_ROLE_ID),
        "name": "Support",
        "color": 0,
        "hoist": False,
        "position": 1,
        "permissions": "0",
        "managed": False,
        "mentionable": False,
        "flags": 0,
    }
    inter = await fake_discord.send_interaction(
        "ticketconfig staffrole",
        {"role": str(STAFF_ROLE_ID)},
        permissions=MANAGE_GUILD,
        resolved={"roles": {str(STAFF_ROLE_ID): role}},
    )
    assert "now count as staff" in all_text(
        embeds_of((await fake_discord.wait_for_response(inter)).data)
    )

    _, response = await look_up(
        fake_discord, {"id": 42}, permissions=0, user_id=55, roles=[STAFF_ROLE_ID]
    )
    assert response.ephemeral
    assert "Internal note (staff only)" in all_text(embeds_of(response.data))

    sent = len(whmcs8.requests)
    _, refused = await look_up(fake_discord, {"id": 42}, permissions=0, user_id=56)
    assert refused.ephemeral
    text = all_text(embeds_of(refused.data))
    assert "Staff only" in text
    assert "Checked zone" not in text
    assert len(whmcs8.requests) == sent

    inter = await fake_discord.send_interaction("ticketconfig staffrole", permissions=MANAGE_GUILD)
    await fake_discord.wait_for_response(inter)
    _, cleared = await look_up(
        fake_discord, {"id": 42}, permissions=0, user_id=55, roles=[STAFF_ROLE_ID]
    )
    assert "Staff only" in all_text(embeds_of(cleared.data))


async def test_public_summary_has_no_bodies_notes_or_customer_data(bot, fake_discord, whmcs):
    """public:true posts subject, status, priority, department, dates and the reply count only."""
    await configure(bot, whmcs)
    _, response = await look_up(fake_discord, {"id": 42, "public": True})
    assert response.type == 4
    assert not response.ephemeral
    text = all_text(embeds_of(response.data))
    for shown in ("Site down after DNS change", "Answered", "High", "Technical Support"):
        assert shown in text
    assert "2024-05-02 09:14:03" in text
    assert "Replies" in text
    for hidden in (*CUSTOMER_DATA, "Internal note", "Propagation"):
        assert hidden not in text
    buttons = [b for row in response.data.get("components") or [] for b in row["components"]]
    assert {b["label"] for b in buttons} <= {"Refresh", "Open on WHMCS"}
    for hidden in CUSTOMER_DATA:
        assert hidden not in str(buttons)


async def test_newest_replies_first(bot, fake_discord, whmcs):
    """replies:newest shows the latest reply first."""
    await configure(bot, whmcs)
    _, response = await look_up(fake_discord, {"id": 42, "replies": "newest"})
    entries = embeds_of(response.data)[1:]
    assert entries[0]["author"]["name"].startswith("Sam Operator · 2024-05-02 09:40:12")
    assert entries[-1]["author"]["name"].endswith("· Customer")
    assert whmcs.requests[-1]["repliessort"] == "DESC"


async def test_pages_turn_only_for_the_invoker_or_staff(bot, fake_discord, whmcs8):
    """Many replies: Next is refused politely to a member who is neither the invoker nor
    staff; the invoker's press shows page 2 from the cached lookup."""
    ticket = whmcs8.tickets[42]
    ticket.messages += [
        FakeMessage(f"Reply {i}: " + "details " * 250, date=f"2024-05-03 10:{i:02d}:00")
        for i in range(12)
    ]
    await configure(bot, whmcs8)
    inter, response = await look_up(fake_discord, {"id": 42}, user_id=70)
    assert response.ephemeral
    message = fake_discord.original_message(inter)
    assert message is not None
    buttons = {
        b["label"]: b["custom_id"] for row in message["components"] for b in row["components"]
    }
    assert "Page 1/" in all_text(message["embeds"])

    other = await fake_discord.send_component(
        buttons["Next"], message_id=inter.original_message_id, user_id=71, permissions=0
    )
    refusal = await fake_discord.wait_for_response(other)
    assert refusal.type == 4
    assert refusal.ephemeral
    assert "Only the member who ran this lookup" in all_text(embeds_of(refusal.data))
    assert "Page 1/" in all_text(fake_discord.original_message(inter)["embeds"])

    press = await fake_discord.send_component(
        buttons["Next"], message_id=inter.original_message_id, user_id=70, permissions=MANAGE_GUILD
    )
    update = await fake_discord.wait_for_response(press)
    assert update.type == 7
    assert "Page 2/" in all_text(fake_discord.original_message(inter)["embeds"])
    assert len(whmcs8.requests) == 1  # turning a page within the cache's TTL fetches nothing


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"id": 999}, ("Ticket not found", "`id:999`", "`number:`")),
        ({"number": "NOPE-1"}, ("Ticket not found", "`number:NOPE-1`", "`id:`")),
    ],
)
async def test_not_found_names_the_field_tried(bot, fake_discord, whmcs, options, expected):
    """A "Ticket ID Not Found" answer says whether the id or the number was tried."""
    await configure(bot, whmcs)
    _, response = await look_up(fake_discord, options)
    assert response.ephemeral
    text = all_text(embeds_of(response.data))
    for part in expected:
        assert part in text


async def test_rejected_stored_credentials(bot, fake_discord, whmcs8):
    """An "Authentication Failed" lookup: credentials rejected, and how to replace them."""
    await configure(bot, whmcs8, secret="WrongSecret000")
    _, response = await look_up(fake_discord, {"id": 42})
    text = all_text(embeds_of(response.data))
    assert response.ephemeral
    assert "WHMCS rejected the credentials" in text
    assert "Authentication Failed" in text
    assert "/ticketconfig set provider:whmcs" in text
    assert "WrongSecret000" not in text


async def test_invalid_ip_on_lookup(bot, fake_discord, whmcs8):
    """An "Invalid IP ..." (HTTP 403) tells staff to allow the bot's IP in WHMCS."""
    await configure(bot, whmcs8)
    whmcs8.ip_allowed = False
    _, response = await look_up(fake_discord, {"id": 42})
    text = all_text(embeds_of(response.data))
    assert response.ephemeral
    assert f"Invalid IP {CALLER_IP}" in text
    assert "API IP Access Restriction" in text


@pytest.mark.parametrize("status", [200, 403])
async def test_other_errors_are_passed_on_redacted(bot, fake_discord, whmcs8, status):
    """Any other WHMCS error (HTTP 200 or 403) is shown with secrets masked."""
    await configure(bot, whmcs8)
    whmcs8.error = (status, f"Your license key has expired ({GOOD['secret']})")
    _, response = await look_up(fake_discord, {"id": 42})
    text = all_text(embeds_of(response.data))
    assert response.ephemeral
    assert "Your license key has expired ([redacted])" in text
    assert GOOD["secret"] not in str(response.data)


@pytest.mark.parametrize("options", [{}, {"id": 42, "number": "QKD-804113"}])
async def test_exactly_one_of_id_and_number(bot, fake_discord, whmcs8, options):
    """Neither or both of id and number: a clear answer, nothing sent to WHMCS."""
    await configure(bot, whmcs8)
    _, response = await look_up(fake_discord, options)
    assert response.ephemeral
    assert "exactly one of `id`" in all_text(embeds_of(response.data))
    assert whmcs8.requests == []


async def test_redirect_is_reported_not_followed(bot, fake_discord, whmcs8):
    """A redirect to another host is not followed and is explained, not shown as a ticket."""
    elsewhere = FakeWhmcs(version="8")
    await elsewhere.start()
    try:
        elsewhere.add(sample_ticket())
        whmcs8.redirect_to = elsewhere.url.replace("127.0.0.1", "localhost") + "/includes/api.php"
        await configure(bot, whmcs8)
        _, response = await look_up(fake_discord, {"id": 42})
    finally:
        await elsewhere.stop()
    text = all_text(embeds_of(response.data))
    assert response.ephemeral
    assert "redirect" in text
    assert "does not follow" in text
    assert "Site down" not in text
    assert elsewhere.requests == []


async def test_stored_private_url_is_refused_at_lookup(fake_discord, whmcs8, tmp_path):
    """Without ALLOW_PRIVATE_URLS, a stored http://127.0.0.1 URL is refused before sending."""
    async with whmcs_bot(fake_discord, tmp_path, allow_private=False) as strict:
        await configure(strict, whmcs8)
        _, response = await look_up(fake_discord, {"id": 42})
        text = all_text(embeds_of(response.data))
    assert response.ephemeral
    assert "The URL was refused" in text
    assert "/ticketconfig set provider:whmcs" in text
    assert whmcs8.requests == []


async def test_context_menu_finds_links_to_this_servers_whmcs_for_staff(bot, fake_discord, whmcs8):
    """An admin-area link to the server's own WHMCS in a message: staff get the ticket
    privately; a member without staff rights is refused as by `/ticket whmcs`."""
    await configure(bot, whmcs8)
    link = f"{whmcs8.url.rstrip('/')}/admin/supporttickets.php?action=view&id=42"
    message = fake_discord.user_message(f"can someone check {link} ?")

    staff = await fake_discord.send_message_command(
        "Look up tickets", message, permissions=MANAGE_GUILD
    )
    answer = (await fake_discord.wait_for_followups(staff, count=1))[0]
    assert "Site down after DNS change" in all_text(answer["embeds"])
    assert answer["flags"] & 64
    header = fake_discord.messages[staff.original_message_id or 0]
    assert "1 ticket reference" in header["content"]

    member = await fake_discord.send_message_command(
        "Look up tickets", message, user_id=77, permissions=0
    )
    answer = (await fake_discord.wait_for_followups(member, count=1))[0]
    assert "Staff only" in all_text(answer["embeds"])
    assert "Site down" not in str(answer)


async def test_sharing_a_whmcs_ticket_posts_only_the_public_summary(bot, fake_discord, whmcs8):
    """Staff see notes and the customer privately; "Share to channel" posts the summary only."""
    await configure(bot, whmcs8)
    inter, response = await look_up(fake_discord, {"id": 42}, user_id=70)
    assert response.ephemeral
    private = fake_discord.original_message(inter)
    assert private is not None
    share = next(
        b["custom_id"]
        for row in private["components"]
        for b in row["components"]
        if b.get("label") == "Share to channel"
    )
    pressed = await fake_discord.send_component(
        share, message_id=int(private["id"]), user_id=70, permissions=MANAGE_GUILD
    )
    posted = await fake_discord.wait_for_response(pressed)
    assert not posted.ephemeral
    text = all_text(embeds_of(posted.data))
    assert "Site down after DNS change" in text
    for hidden in (*CUSTOMER_DATA, "Internal note", "Propagation"):
        assert hidden not in text
