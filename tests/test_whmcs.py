"""The WHMCS client against a fake install that answers like 7.x and 8.x do."""

from __future__ import annotations

import dataclasses
import json

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.access import for_audience
from bot.errors import (
    BadAnswer,
    BadInput,
    CredentialsRejected,
    NotPermitted,
    TicketNotFound,
)
from bot.http import Http, make_session
from bot.i18n import Msg, Translator, package_catalogs, worded
from bot.providers.base import Audience, Credential, EntryKind, TextFormat
from bot.redact import Redactor
from bot.render import render_pages
from bot.text import to_discord
from cogs.whmcs._client import Whmcs, WhmcsRef, WhmcsSettings, endpoint
from tests.fakes.whmcs import (
    CALLER_IP,
    GOOD,
    FakeMessage,
    FakeNote,
    FakeWhmcs,
    sample_ticket,
)
from tests.harness import all_text


async def started(version="8", **knobs):
    """A started fake install."""
    server = FakeWhmcs(version=version, **knobs)
    await server.start()
    return server


@pytest.fixture(params=["7", "8"])
async def whmcs(request):
    """A fake install in the 7.x and the 8.x shape, holding the sample ticket 42."""
    server = await started(request.param)
    server.add(sample_ticket())
    yield server
    await server.stop()


@pytest.fixture
async def whmcs8():
    """A fake 8.x install holding the sample ticket 42."""
    server = await started("8")
    server.add(sample_ticket())
    yield server
    await server.stop()


@pytest.fixture
async def fetcher():
    """The real HTTP layer, allowed to reach the fake on 127.0.0.1 (ALLOW_PRIVATE_URLS)."""
    async with make_session(2.0) as session:
        fetcher = Http(
            session,
            redactor=Redactor(),
            wait_initial_s=0.01,
            wait_max_s=0.05,
            allow_private_urls=True,
        )
        yield fetcher
        await fetcher.close()


def provider_for(fetcher):
    """The provider over `fetcher`, not rate-limited in practice."""
    return Whmcs(fetcher, WhmcsSettings(rate_per_s=1000))


def cred(server, **extra):
    """A stored credential for the fake at `server`."""
    return {"url": server.url, **GOOD, **extra}


BY_ID = WhmcsRef("ticketid", "42")


def fields_of(view):
    """Field name -> value of a view."""
    return {f.name: f.value for f in view.fields}


async def test_lookup_by_id_shows_the_ticket(whmcs, fetcher):
    """Subject, status, priority, department, requester, dates, flag and counts are read."""
    view = await provider_for(fetcher).fetch(cred(whmcs), BY_ID)
    assert view.title == "Ticket #QKD-804113: Site down after DNS change"
    fields = fields_of(view)
    assert fields["Status"] == "Answered"
    assert fields["Priority"] == "High"
    assert fields["Department"] == "Technical Support"
    assert fields["Created"] == "2024-05-02 09:14:03"
    assert fields["Last reply"] == "2024-05-02 09:40:12"
    assert fields["Replies"] == "1"
    assert fields["Flagged to"] == "Admin #3"
    assert fields["Attachments"] == "1"
    assert fields["Email"] == "ana@example.net"
    expected = "Ana Example (Owner)" if whmcs.version == "8" else "Ana Example (Example Ltd)"
    assert fields["Requester"] == expected
    assert "(id 42)" in (view.footer or "")


async def test_request_carries_the_documented_form(whmcs, fetcher):
    """POST with action, responsetype=json, identifier/secret, ticketid and repliessort."""
    await provider_for(fetcher).fetch(cred(whmcs), BY_ID)
    sent = whmcs.requests[-1]
    assert sent == {
        "action": "GetTicket",
        "responsetype": "json",
        **GOOD,
        "ticketid": "42",
        "repliessort": "ASC",
    }


async def test_lookup_by_number_sends_ticketnum(whmcs, fetcher):
    """`number` is sent as ticketnum (and no ticketid), finding the same ticket."""
    view = await provider_for(fetcher).fetch(cred(whmcs), WhmcsRef("ticketnum", "QKD-804113"))
    assert view.ticket_id == "QKD-804113"
    assert whmcs.requests[-1]["ticketnum"] == "QKD-804113"
    assert "ticketid" not in whmcs.requests[-1]


@pytest.mark.parametrize("newest_first", [False, True])
async def test_reply_order_and_notes_in_place(whmcs, fetcher, newest_first):
    """Oldest or newest first as asked; the note sits between the replies by its date."""
    whmcs.tickets[42].messages.append(
        FakeMessage("Still down.", date="2024-05-02 10:00:00", attachments=[])
    )
    ref = WhmcsRef("ticketid", "42", newest_first)
    view = await provider_for(fetcher).fetch(cred(whmcs), ref)
    kinds = [e.kind for e in view.entries]
    bodies = [to_discord(e.body, e.format) for e in view.entries]
    expected_kinds = [
        EntryKind.CUSTOMER,
        EntryKind.INTERNAL_NOTE,
        EntryKind.STAFF,
        EntryKind.CUSTOMER,
    ]
    if newest_first:
        expected_kinds.reverse()
        bodies.reverse()
    assert kinds == expected_kinds
    assert bodies[0].startswith("Hi,")
    assert bodies[-1] == "Still down."
    assert whmcs.requests[-1]["repliessort"] == ("DESC" if newest_first else "ASC")


async def test_audiences_keep_notes_for_staff_and_replies_private(whmcs, fetcher):
    """Notes are staff-only internal notes; replies and customer details never public."""
    view = await provider_for(fetcher).fetch(cred(whmcs), BY_ID)
    notes = [e for e in view.entries if e.kind is EntryKind.INTERNAL_NOTE]
    assert len(notes) == 1
    assert notes[0].audience is Audience.STAFF
    assert all(
        e.audience is Audience.REQUESTER
        for e in view.entries
        if e.kind is not EntryKind.INTERNAL_NOTE
    )
    public = for_audience(view, Audience.PUBLIC)
    text = all_text([e.to_dict() for page in render_pages(public) for e in page])
    assert public.entries == ()
    for secret in ("ana@example.net", "Ana Example", "Checked zone", "A record", "Sam Operator"):
        assert secret not in text
    for shown in ("Answered", "High", "Technical Support", "2024-05-02 09:14:03", "Replies"):
        assert shown in text


async def test_escaped_markdown_bodies_are_readable(whmcs, fetcher):
    """HTML-escaped Markdown comes out unescaped, with its formatting and attachment names."""
    view = await provider_for(fetcher).fetch(cred(whmcs), BY_ID)
    opening = view.entries[0]
    assert opening.format is TextFormat.MARKDOWN
    shown = to_discord(opening.body, opening.format)
    assert "I've changed the **A record**" in shown
    assert "📎 dns.png" in shown
    staff = next(e for e in view.entries if e.kind is EntryKind.STAFF)
    assert "24h & your TTL" in to_discord(staff.body, staff.format)
    assert staff.author.startswith("Sam Operator")


async def test_v7_note_with_tags_is_converted_from_html(fetcher):
    """7.x notes keep their tags; they are read as HTML, not shown as markup."""
    server = await started("7")
    server.add(sample_ticket(notes=[FakeNote("<p>Zone <b>fine</b></p><br>Re-check at 10")]))
    try:
        view = await provider_for(fetcher).fetch(cred(server), BY_ID)
    finally:
        await server.stop()
    note = next(e for e in view.entries if e.kind is EntryKind.INTERNAL_NOTE)
    assert note.format is TextFormat.HTML
    shown = to_discord(note.body, note.format)
    assert "**fine**" in shown
    assert "<p>" not in shown


async def test_ticket_without_notes(whmcs, fetcher):
    """`notes: []` (no notes) reads as no internal notes."""
    whmcs.tickets[42].notes = []
    view = await provider_for(fetcher).fetch(cred(whmcs), BY_ID)
    assert not any(e.kind is EntryKind.INTERNAL_NOTE for e in view.entries)


async def test_docs_shape_with_strings_nulls_and_nested_empty_attachments(whmcs8, fetcher):
    """String ids, null fields, `[[]]` attachments and an empty-name admin reply all read."""
    payload = {
        "result": "success",
        "ticketid": "1",
        "tid": "516757",
        "deptname": None,
        "name": None,
        "email": "c@example.org",
        "subject": None,
        "status": "Closed",
        "priority": None,
        "date": "2016-01-01 06:26:29",
        "lastreply": "0000-00-00 00:00:00",
        "flag": "0",
        "replies": {
            "reply": [
                {"replyid": "0", "name": "Cynthia", "message": None, "attachments": [[]]},
                {
                    "replyid": "1",
                    "name": "",
                    "requestor_name": "Demo Admin",
                    "requestor_type": "Operator",
                    "admin": "Demo Admin",
                    "message": "Hello",
                    "attachments": [[]],
                    "rating": "0",
                },
            ]
        },
        "notes": {"note": {"noteid": "1", "message": "single note", "admin": None}},
    }
    whmcs8.raw = (200, "application/json", json.dumps(payload))
    view = await provider_for(fetcher).fetch(cred(whmcs8), BY_ID)
    fields = fields_of(view)
    assert view.title == "Ticket #516757"
    assert fields["Last reply"] == "—"
    assert fields["Flagged to"] == "Nobody"
    assert fields["Attachments"] == "None"
    assert fields["Requester"] == "Unknown"
    assert [e.kind for e in view.entries] == [
        EntryKind.CUSTOMER,
        EntryKind.STAFF,
        EntryKind.INTERNAL_NOTE,
    ]
    assert view.entries[1].author == "Demo Admin"


async def test_zero_dates_in_any_spelling_read_as_no_date(whmcs8, fetcher):
    """All-zero dates (with a `T`, padded, date only) are "no date", never shown as a date."""
    payload = {
        "result": "success",
        "ticketid": 7,
        "tid": "ZERO-1",
        "date": "0000-00-00T00:00:00",
        "lastreply": " 0000-00-00 ",
        "replies": {
            "reply": [
                {"replyid": "0", "name": "Cynthia", "message": "Hi", "date": "0000-00-00"},
                {
                    "replyid": "1",
                    "admin": "Demo Admin",
                    "message": "Hello",
                    "date": "0000-00-00T00:00:00",
                },
            ]
        },
        "notes": [],
    }
    whmcs8.raw = (200, "application/json", json.dumps(payload))
    view = await provider_for(fetcher).fetch(cred(whmcs8), BY_ID)
    fields = fields_of(view)
    assert fields["Created"] == "—"
    assert fields["Last reply"] == "—"
    assert [e.author for e in view.entries] == ["Cynthia", "Demo Admin"]


@pytest.mark.parametrize(
    ("removed", "shown"),
    [
        ("1", "1 (files removed)"),
        ("on", "1 (files removed)"),
        (True, "1 (files removed)"),
        ("no", "1"),
        ("off", "1"),
        ({"unexpected": 1}, "1"),
        (None, "1"),
    ],
)
async def test_attachments_removed_follows_the_one_truth_rule(whmcs8, fetcher, removed, shown):
    """`attachments_removed` reads by the kit's truth rule; anything unreadable is "no"."""
    payload = {
        "result": "success",
        "ticketid": 8,
        "tid": "FILES-1",
        "replies": {
            "reply": [
                {
                    "replyid": "0",
                    "message": "See file",
                    "attachments": [{"filename": "a.png", "index": 0}],
                    "attachments_removed": removed,
                }
            ]
        },
    }
    whmcs8.raw = (200, "application/json", json.dumps(payload))
    view = await provider_for(fetcher).fetch(cred(whmcs8), BY_ID)
    assert fields_of(view)["Attachments"] == shown


def test_credential_fields_declare_what_the_core_guards(fetcher):
    """The URL is guarded (client bound untrusted); identifier, secret and key are masked."""
    assert Whmcs.url_fields() == ("url",)
    assert Whmcs.secret_params == frozenset({"identifier", "secret", "accesskey"})
    stored = {"url": "https://billing.example.com", **GOOD, "accesskey": "KeyValue0123"}
    assert Whmcs.secrets_of(stored) == [GOOD["identifier"], GOOD["secret"], "KeyValue0123"]
    assert provider_for(fetcher).http.untrusted_urls


async def test_rejection_hold_is_per_credential(whmcs8, fetcher):
    """The hold follows the credential's fingerprint: the same fields held, others tried."""
    provider = provider_for(fetcher)
    bad = cred(whmcs8, secret="WrongSecret000")
    with pytest.raises(CredentialsRejected):
        await provider.fetch(Credential(bad), BY_ID)
    sent = len(whmcs8.requests)
    with pytest.raises(CredentialsRejected, match="ban"):
        await provider.fetch(dict(bad), BY_ID)  # same fields, another object: still held
    assert len(whmcs8.requests) == sent
    view = await provider.fetch(Credential(cred(whmcs8)), BY_ID)
    assert view.ticket_id == "QKD-804113"
    assert len(whmcs8.requests) == sent + 1


async def test_access_key_is_sent_only_when_set(fetcher):
    """The access key lets a call through the IP check; it is not sent when empty."""
    server = await started("8", access_key="Key!@#$%.()*[]-_", ip_allowed=False)
    server.add(sample_ticket())
    try:
        provider = provider_for(fetcher)
        await provider.fetch(cred(server, accesskey="Key!@#$%.()*[]-_"), BY_ID)
        assert server.requests[-1]["accesskey"] == "Key!@#$%.()*[]-_"
        with pytest.raises(NotPermitted, match="Invalid IP"):
            await provider.fetch(cred(server), BY_ID)
        assert "accesskey" not in server.requests[-1]
    finally:
        await server.stop()


# -- errors ---------------------------------------------------------------------------------


async def test_not_found_says_which_field_was_tried(whmcs, fetcher):
    """Not found names id or number, and the advice points at the other field."""
    provider = provider_for(fetcher)
    with pytest.raises(TicketNotFound) as by_id:
        await provider.fetch(cred(whmcs), WhmcsRef("ticketid", "999"))
    assert by_id.value.ticket_ref == "id:999"
    assert "`number:`" in (provider.explain(by_id.value) or "")
    with pytest.raises(TicketNotFound) as by_number:
        await provider.fetch(cred(whmcs), WhmcsRef("ticketnum", "NOPE-1"))
    assert by_number.value.ticket_ref == "number:NOPE-1"
    assert "`id:`" in (provider.explain(by_number.value) or "")


@pytest.mark.parametrize("nvp", [False, True])
async def test_credential_failures_are_rejections(fetcher, nvp):
    """A wrong secret or unknown identifier (403, JSON or NVP text) is CredentialsRejected."""
    server = await started("8", nvp_errors=nvp)
    try:
        provider = provider_for(fetcher)
        with pytest.raises(CredentialsRejected, match="Authentication Failed"):
            await provider.fetch(cred(server, secret="WrongSecret000"), BY_ID)
        with pytest.raises(CredentialsRejected, match="Invalid or missing credentials"):
            await provider.fetch(cred(server, identifier="UnknownIdent00"), BY_ID)
    finally:
        await server.stop()


@pytest.mark.parametrize("nvp", [False, True])
async def test_invalid_ip_tells_to_allow_the_bot(fetcher, nvp):
    """An "Invalid IP ..." answer keeps the address WHMCS saw and advises the allow list."""
    server = await started("8", ip_allowed=False, nvp_errors=nvp)
    try:
        provider = provider_for(fetcher)
        with pytest.raises(NotPermitted) as caught:
            await provider.fetch(cred(server), BY_ID)
    finally:
        await server.stop()
    assert caught.value.detail == f"Invalid IP {CALLER_IP}"
    advice = provider.explain(caught.value) or ""
    assert "API IP Access Restriction" in advice
    assert "Access key (optional)" in advice


@pytest.mark.parametrize(
    ("message", "error", "advice"),
    [
        ("IP Banned", NotPermitted, "3 failed"),
        ('Invalid Permissions: API action "getticket" is not allowed', NotPermitted, "GetTicket"),
        ("Access Denied", NotPermitted, "API Access"),
        ("Invalid Access Key", CredentialsRejected, "$api_access_key"),
    ],
)
@pytest.mark.parametrize("status", [200, 403])
async def test_access_errors_map_by_body_whatever_the_status(
    whmcs8, fetcher, message, error, advice, status
):
    """The result/message body decides, with HTTP 200 as with 403."""
    whmcs8.error = (status, message)
    provider = provider_for(fetcher)
    with pytest.raises(error) as caught:
        await provider.fetch(cred(whmcs8), BY_ID)
    assert caught.value.detail == message
    assert advice in (provider.explain(caught.value) or "")


@pytest.mark.parametrize("status", [200, 403])
async def test_other_errors_pass_their_message_redacted(whmcs8, fetcher, status):
    """Any other error's message is passed on with the credentials masked."""
    whmcs8.error = (status, f"License check failed for {GOOD['secret']} / {GOOD['identifier']}")
    with pytest.raises(NotPermitted) as caught:
        await provider_for(fetcher).fetch(cred(whmcs8), BY_ID)
    detail = caught.value.detail
    assert detail.startswith("WHMCS said: License check failed for [redacted]")
    assert GOOD["secret"] not in detail
    assert GOOD["identifier"] not in detail


async def test_firewall_403_page_is_not_a_ticket(whmcs8, fetcher):
    """A 403 HTML page (no WHMCS body) is reported as blocked in front of WHMCS."""
    whmcs8.raw = (403, "text/html", "<html><body>Forbidden by WAF</body></html>")
    provider = provider_for(fetcher)
    with pytest.raises(NotPermitted, match="firewall") as caught:
        await provider.fetch(cred(whmcs8), BY_ID)
    assert "/includes/api.php" in (provider.explain(caught.value) or "")


async def test_non_whmcs_answer_is_a_bad_answer(whmcs8, fetcher):
    """A 404 page or a success without a ticket is BadAnswer, never a ticket."""
    whmcs8.raw = (404, "text/html", "<html>Not found</html>")
    with pytest.raises(BadAnswer):
        await provider_for(fetcher).fetch(cred(whmcs8), BY_ID)
    whmcs8.raw = (200, "application/json", '{"result": "success"}')
    with pytest.raises(BadAnswer, match="not a ticket"):
        await provider_for(fetcher).fetch(cred(whmcs8), BY_ID)


async def test_redirect_to_another_host_is_not_followed(whmcs8, fetcher):
    """A redirect is reported (with where to), the other host never sees the credentials."""
    seen = []

    async def elsewhere(request):
        seen.append(await request.post())
        return web.json_response({"result": "success", "ticketid": 42})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", elsewhere)
    other = TestServer(app, host="127.0.0.1")
    await other.start_server(access_log=None)
    try:
        target = str(other.make_url("/includes/api.php")).replace("127.0.0.1", "localhost")
        whmcs8.redirect_to = target
        provider = provider_for(fetcher)
        with pytest.raises(BadAnswer) as caught:
            await provider.fetch(cred(whmcs8), BY_ID)
        with pytest.raises(BadInput, match="redirect"):
            await provider.verify(cred(whmcs8))
    finally:
        await other.close()
    assert "redirect (HTTP 302) to http://localhost" in caught.value.detail
    assert "does not follow" in (provider.explain(caught.value) or "")
    assert seen == []


# -- verification at save --------------------------------------------------------------------


async def test_verify_probes_ticket_zero(whmcs, fetcher):
    """Good credentials: GetTicket ticketid=0 answers "Ticket ID Not Found", which passes."""
    await provider_for(fetcher).verify(cred(whmcs))
    assert whmcs.requests[-1]["ticketid"] == "0"


async def test_verify_rejects_bad_credentials_and_wrong_urls(whmcs8, fetcher):
    """Rejected credentials raise; a URL where WHMCS does not answer is BadInput."""
    provider = provider_for(fetcher)
    with pytest.raises(CredentialsRejected):
        await provider.verify(cred(whmcs8, secret="WrongSecret000"))
    with pytest.raises(BadInput, match="No WHMCS API answered"):
        await provider.verify(cred(whmcs8, url=f"{whmcs8.url}/nothing-here/index.php/x"))


async def test_verify_refuses_private_urls_without_the_setting(whmcs8):
    """http://127.0.0.1 and https://10.0.0.1 are refused by the bound client; nothing is sent."""
    async with make_session(2.0) as session:
        strict = Http(session, redactor=Redactor())
        provider = provider_for(strict)
        with pytest.raises(BadInput, match="https://"):
            await provider.verify(cred(whmcs8))
        with pytest.raises(BadInput, match="private address"):
            await provider.verify(cred(whmcs8, url="https://10.0.0.1"))
        with pytest.raises(BadInput, match="https://"):
            await provider.fetch(cred(whmcs8), BY_ID)
        await strict.close()
    assert whmcs8.requests == []


async def test_rejected_credentials_are_not_retried_at_once(whmcs8, fetcher):
    """After "Authentication Failed", lookups with those credentials wait (no IP ban)."""
    provider = provider_for(fetcher)
    bad = cred(whmcs8, secret="WrongSecret000")
    with pytest.raises(CredentialsRejected):
        await provider.fetch(bad, BY_ID)
    sent = len(whmcs8.requests)
    with pytest.raises(CredentialsRejected, match="ban"):
        await provider.fetch(bad, BY_ID)
    assert len(whmcs8.requests) == sent
    whmcs8.secret = "WrongSecret000"  # fixed on the WHMCS side, then saved again
    await provider.verify(bad)
    await provider.fetch(bad, BY_ID)


async def test_xml_error_body_is_read(whmcs8, fetcher):
    """An install that answers an early error as XML is understood like the JSON one."""
    whmcs8.raw = (
        403,
        "text/xml",
        '<?xml version="1.0"?><whmcsapi version=""><action>getticket</action>'
        "<result>error</result><message>Invalid IP 198.51.100.4</message></whmcsapi>",
    )
    with pytest.raises(NotPermitted, match=r"Invalid IP 198\.51\.100\.4"):
        await provider_for(fetcher).fetch(cred(whmcs8), BY_ID)


async def test_ticket_without_replies_counts_its_own_attachments(whmcs8, fetcher):
    """No replies at all: the ticket's `attachment` string still gives the count."""
    payload = {
        "result": "success",
        "ticketid": 9,
        "tid": "ABC-1",
        "attachment": "123456_a.png|654321_b.pdf",
        "replies": [],
        "notes": [],
    }
    whmcs8.raw = (200, "application/json", json.dumps(payload))
    view = await provider_for(fetcher).fetch(cred(whmcs8), BY_ID)
    assert fields_of(view)["Attachments"] == "2"
    assert view.entries == ()


@pytest.mark.parametrize(
    ("typed", "called"),
    [
        ("https://billing.example.com", "https://billing.example.com/includes/api.php"),
        ("https://example.com/whmcs/", "https://example.com/whmcs/includes/api.php"),
        ("https://example.com/includes/api.php", "https://example.com/includes/api.php"),
    ],
)
def test_the_api_endpoint_is_under_the_install(typed, called):
    """The typed install address gets /includes/api.php (once)."""
    assert endpoint(typed) == called


PHP_TEXT_NOTICE = (
    "\nDeprecated: Creation of dynamic property Foo::$bar is deprecated in "
    "/var/www/whmcs/includes/hooks/custom.php on line 12\n"
)
PHP_HTML_NOTICE = (
    "<br />\n<b>Warning</b>:  Undefined variable $x in "
    "<b>/var/www/whmcs/includes/hooks/custom.php</b> on line <b>3</b><br />\n"
)


@pytest.mark.parametrize("prefix", ["\ufeff", PHP_TEXT_NOTICE, PHP_HTML_NOTICE, "\ufeff\ufeff"])
async def test_bom_or_php_notices_before_the_json_are_read_past(whmcs, fetcher, prefix):
    """An install whose answers start with a UTF-8 BOM or PHP notices still works, at save
    time and for lookups (both used to say no WHMCS API answered)."""
    whmcs.prefix = prefix
    provider = provider_for(fetcher)
    await provider.verify(cred(whmcs))
    view = await provider.fetch(cred(whmcs), BY_ID)
    assert view.ticket_id


async def test_php_notices_without_data_say_so(whmcs8, fetcher):
    """PHP notices and no WHMCS answer after them: the admin is told what to check, at save
    time and at lookup, never "no WHMCS API answered"."""
    whmcs8.raw = (200, "text/html", PHP_TEXT_NOTICE + PHP_HTML_NOTICE)
    provider = provider_for(fetcher)
    with pytest.raises(BadAnswer) as caught:
        await provider.fetch(cred(whmcs8), BY_ID)
    assert "PHP warnings before the data" in caught.value.detail
    assert "error display settings" in caught.value.detail
    assert "Display Errors" in (provider.explain(caught.value) or "")
    with pytest.raises(BadInput) as refused:
        await provider.verify(cred(whmcs8))
    assert "PHP warnings" in refused.value.detail
    assert "no WHMCS API answered" not in refused.value.detail


# -- in the reader's language ----------------------------------------------------------------


def german() -> Translator:
    """The shipped catalogs with this package's own words, as the running bot has them."""
    translator = Translator()
    translator.add_catalogs(package_catalogs("cogs.whmcs"))
    return translator


def plain(view):
    """`view` with every text a plain `str`: what it read like before texts were `Msg`s."""
    return dataclasses.replace(
        view,
        title=str(view.title),
        footer=str(view.footer),
        entries_title=str(view.entries_title),
        fields=tuple(
            dataclasses.replace(f, name=str(f.name), value=str(f.value)) for f in view.fields
        ),
        entries=tuple(
            dataclasses.replace(e, author=str(e.author), body=str(e.body)) for e in view.entries
        ),
    )


def rendered(view, **kwargs) -> str:
    return all_text([e.to_dict() for page in render_pages(view, **kwargs) for e in page])


async def test_a_view_reads_in_german_with_whmcs_own_words_untouched(whmcs, fetcher):
    """German for `de`: our labels, fallbacks and footer; the subject, messages, names and
    WHMCS's own status name as sent. English reads exactly as before."""
    whmcs.tickets[42].messages[0].attachments += [f"log{n}.txt" for n in range(11)]
    view = await provider_for(fetcher).fetch(cred(whmcs), BY_ID)
    translator = german()
    text = rendered(view, tr=translator.bind("de"))
    for word in (
        "Abteilung",
        "Priorität",
        "Hoch",
        "Anfragende Person",
        "Letzte Antwort",
        "Zugewiesen an",
        "Dienst #118",
        "Anhänge",
        "Unterhaltung",
        "und 2 weitere",
        "Zeiten in WHMCS-Serverzeit",
    ):
        assert word in text, word
    for data in (
        "Ticket #QKD-804113: Site down after DNS change",
        "Answered",
        "Technical Support",
        "I've changed the **A record**",
        "📎 dns.png",
        "Propagation takes up to 24h",
        "Checked zone, looks fine.",
        "Sam Operator",
    ):
        assert data in text, data
    assert "WHMCS · Ticket #QKD-804113 (ID 42) · Answered · Zeiten" in text
    for english_word in ("Department", "Priority", "Conversation", "and 2 more", "server time"):
        assert english_word not in text, english_word

    before = rendered(plain(view))
    assert rendered(view) == before
    assert rendered(view, tr=translator.bind("en-US")) == before
    assert "times are WHMCS server time" in before


async def test_advice_refusals_and_form_labels_read_in_german(whmcs8, fetcher):
    """What the provider says of errors and asks in its form has German; values stay."""
    de = german().bind("de")
    provider = provider_for(fetcher)
    with pytest.raises(TicketNotFound) as caught:
        await provider.fetch(cred(whmcs8), WhmcsRef("ticketid", "999"))
    assert "`nummer:`" in worded(provider.explain(caught.value) or "", de)
    whmcs8.raw = (404, "text/html", "<html>Not found</html>")
    with pytest.raises(BadInput) as refused:
        await provider.verify(cred(whmcs8))
    assert isinstance(refused.value.detail, Msg)
    assert worded(refused.value.detail, de) == (
        "Unter dieser URL hat keine WHMCS-API geantwortet (HTTP 404)."
    )
    assert "WHMCS-Installation" in worded(provider.explain(refused.value) or "", de)
    ip_advice = worded(provider.explain(NotPermitted(f"Invalid IP {CALLER_IP}")) or "", de)
    assert "**Zugangsschlüssel (optional)**" in ip_advice
    assert "`/ticketconfig einrichten anbieter:whmcs`" in ip_advice
    labels = [worded(field.label, de) for field in Whmcs.credential_fields]
    assert labels == ["WHMCS-URL", "API-Identifier", "API-Secret", "Zugangsschlüssel (optional)"]
    assert [field.label for field in Whmcs.credential_fields] == [
        "WHMCS URL",
        "API identifier",
        "API secret",
        "Access key (optional)",
    ]
