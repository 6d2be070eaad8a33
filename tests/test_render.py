"""Tests for bot.render: ticket views to embeds that always fit Discord's limits."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import discord
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.providers.base import EntryKind, TextFormat, TicketView, ViewEntry, ViewField
from bot.render import (
    AUTHOR_NAME_LIMIT,
    DESCRIPTION_LIMIT,
    EMBEDS_PER_MESSAGE,
    FIELD_COUNT_LIMIT,
    FIELD_NAME_LIMIT,
    FIELD_VALUE_LIMIT,
    FOOTER_LIMIT,
    MESSAGE_TOTAL_LIMIT,
    TITLE_LIMIT,
    embeds_size,
    render_error,
    render_notice,
    render_pages,
    render_ticket,
    safe_url,
    site_link,
)

EVERYONE = re.compile(r"@(everyone|here)", re.IGNORECASE)
USER_OR_ROLE = re.compile(r"<@[!&]?\d+>")
CHANNEL = re.compile(r"<#\d+>")
COMMAND = re.compile(r"</[^\s>]+:\d+>")
MASKED_LINK = re.compile(r"\[[^\]]*\]\([^)]*\)")
UI_LINE = re.compile(r"^[ \t]*(?:(?:[-*+]|\d+[.)])[ \t]+)*(?:#{1,3}[ \t]|-#[ \t]|>)", re.MULTILINE)
TIMESTAMP = re.compile(r"<t:-?\d+:f> \(<t:-?\d+:R>\)")

HOSTILE_PIECES = [
    "@everyone",
    "@here",
    "@",
    "<@123>",
    "<@!123>",
    "<@&5>",
    "<#7>",
    "</cmd:123>",
    "<",
    ">",
    "#",
    "# ",
    "-# ",
    "> ",
    ">>> ",
    "- ",
    "[",
    "]",
    "(",
    ")",
    "](",
    "[x](https://evil.example)",
    "[x](<https://evil.example>)",
    "[view on the site](https://evil.example)",
    "```",
    "`",
    "\\",
    "\n",
    "\r\n",
    "<br/>",
    "\\n",
    "&amp;",
    "&lt;@123&gt;",
    "<b>",
    "</b>",
    "<a href='https://evil.example'>",
    "<h1>",
    "*",
    "_",
    "|",
    "\u200b",
    "\x00",
    " ",
    "😀",
]
piece = st.one_of(st.sampled_from(HOSTILE_PIECES), st.text(max_size=12))
short_text = st.lists(piece, max_size=6).map("".join)
hostile_text = st.lists(piece, max_size=25).map("".join)
# Up to ~25 000 characters: a hostile snippet repeated.
huge_text = st.tuples(hostile_text, st.integers(min_value=50, max_value=2500)).map(
    lambda pair: (pair[0] * pair[1])[:25_000]
)
any_text = st.one_of(short_text, hostile_text, huge_text)
formats = st.sampled_from(list(TextFormat))
zones = st.one_of(
    st.none(),
    st.just(UTC),
    st.integers(min_value=-23 * 60, max_value=23 * 60).map(
        lambda minutes: timezone(timedelta(minutes=minutes))
    ),
)
moments = st.datetimes(timezones=zones)
urls = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "https://retroachievements.org/ticket/123",
            "http://example.com/a_(b)",
            "https://example.com/@everyone/<@123>",
            "https://x.example/a) [evil](https://evil.example)",
            "javascript:alert(1)",
            "https://user:pw@example.com/",
            "https://example.com:99999/",
            "https://bücher.example/ä ö",
            "not a url",
            "https://example.com/" + "a" * 3000,
        ]
    ),
    st.text(max_size=40).map(lambda tail: "https://example.com/" + tail),
)

fields = st.builds(
    ViewField,
    name=short_text,
    value=st.one_of(short_text, hostile_text, moments),
    inline=st.booleans(),
    format=formats,
)
# Many fields at once: cheaper parts, since hypothesis spends its time drawing, not rendering.
many_fields = st.lists(
    st.builds(
        ViewField,
        name=st.sampled_from(HOSTILE_PIECES),
        value=st.one_of(st.sampled_from(HOSTILE_PIECES), st.just(datetime(2024, 1, 1, tzinfo=UTC))),
        format=formats,
    ),
    min_size=24,
    max_size=30,
)
entries = st.builds(
    ViewEntry,
    author=short_text,
    body=st.one_of(short_text, hostile_text, hostile_text, huge_text),
    format=formats,
    kind=st.sampled_from(list(EntryKind)),
    at=st.one_of(st.none(), moments),
)
views = st.builds(
    TicketView,
    provider=st.just("test"),
    provider_label=short_text,
    ticket_id=short_text,
    title=st.one_of(short_text, huge_text),
    url=urls,
    colour=st.one_of(st.none(), st.integers(min_value=-5, max_value=2**25)),
    description=any_text,
    description_format=formats,
    thumbnail_url=urls,
    fields=st.one_of(
        st.lists(fields, max_size=6),
        st.lists(fields, max_size=6),
        many_fields,
        many_fields.map(lambda fs: [dataclasses.replace(f, value=f"{f.value}" * 300) for f in fs]),
    ).map(tuple),
    entries=st.lists(entries, max_size=14).map(tuple),
    entries_title=short_text,
    timestamp=st.one_of(st.none(), moments),
    footer=st.one_of(st.none(), short_text, huge_text),
)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def text_parts(embed: discord.Embed) -> Iterator[tuple[str, str]]:
    """Every piece of text in an embed that Discord shows, with where it came from."""
    yield "title", embed.title or ""
    yield "description", embed.description or ""
    for field in embed.fields:
        yield "field name", field.name or ""
        yield "field value", field.value or ""
    yield "footer", embed.footer.text or ""
    yield "author", embed.author.name or ""


def assert_message_fits(embeds: list[discord.Embed]) -> None:
    """Fail unless one message's embeds fit every Discord limit."""
    assert 1 <= len(embeds) <= EMBEDS_PER_MESSAGE
    total = 0
    for embed in embeds:
        assert len(embed.title or "") <= TITLE_LIMIT
        assert len(embed.description or "") <= DESCRIPTION_LIMIT
        assert len(embed.fields) <= FIELD_COUNT_LIMIT
        for field in embed.fields:
            assert 1 <= len(field.name or "") <= FIELD_NAME_LIMIT
            assert 1 <= len(field.value or "") <= FIELD_VALUE_LIMIT
            assert (field.name or "").strip()
            assert (field.value or "").strip()
        assert len(embed.footer.text or "") <= FOOTER_LIMIT
        assert len(embed.author.name or "") <= AUTHOR_NAME_LIMIT
        assert embed.colour is None or 0 <= embed.colour.value <= 0xFFFFFF
        total += sum(len(text) for _, text in text_parts(embed))
        # Discord rejects the whole message for one malformed URL.
        for url in (embed.url, embed.thumbnail.url):
            assert url is None or safe_url(url) == url
    assert total <= MESSAGE_TOTAL_LIMIT
    assert embeds_size(embeds) == total == sum(len(e) for e in embeds)


def assert_message_safe(embeds: list[discord.Embed], view: TicketView) -> None:
    """Fail if any text holds a live mention, a UI line start or a masked link not ours."""
    ours = site_link(view.url)
    for embed in embeds:
        for where, text in text_parts(embed):
            for pattern in (EVERYONE, USER_OR_ROLE, CHANNEL, COMMAND):
                assert not pattern.search(text), (where, pattern.pattern, text)
            if where in {"description", "field value"}:
                assert not UI_LINE.search(text), (where, text)
            # Our own link is allowed, in descriptions only; a sentinel stands in for it so
            # text around it cannot join into a false match.
            if ours is not None and where == "description":
                text = text.replace(ours, "\x00")
            assert not MASKED_LINK.search(text), (where, text)


def entry_embeds(embeds: list[discord.Embed]) -> list[discord.Embed]:
    """The conversation entries among a message's embeds (they carry an author line)."""
    return [e for e in embeds if e.author.name]


# --- properties -----------------------------------------------------------------------------


@PROPERTY
@given(view=views)
def test_render_ticket_fits_and_is_safe(view: TicketView) -> None:
    """render_ticket stays within every Discord limit and leaks no mention or foreign link."""
    embeds = render_ticket(view)
    assert_message_fits(embeds)
    assert_message_safe(embeds, view)
    shown = len(entry_embeds(embeds))
    assert shown <= len(view.entries)
    if shown < len(view.entries):
        note = f"\n{len(view.entries) - shown} more message"
        assert note in f"\n{embeds[-1].description}"


@PROPERTY
@given(view=views, per_page=st.one_of(st.none(), st.integers(min_value=0, max_value=12)))
def test_render_pages_fit_and_are_safe(view: TicketView, per_page: int | None) -> None:
    """Every page fits every limit, is safe, is numbered (when there are pages), and all
    entries appear once."""
    pages = render_pages(view, per_page=per_page)
    for number, page in enumerate(pages, start=1):
        assert_message_fits(page)
        assert_message_safe(page, view)
        footer = page[-1].footer.text or ""
        if len(pages) > 1:
            assert footer.endswith(f"Page {number}/{len(pages)}")
        else:
            assert not footer.endswith("Page 1/1")
        if per_page is not None:
            assert len(entry_embeds(page)) <= max(1, per_page)
        if number > 1:
            assert entry_embeds(page) == page  # later pages hold entries only
    assert pages[0][0].author.name is None  # page 1 starts with the ticket
    assert sum(len(entry_embeds(p)) for p in pages) == len(view.entries)


@settings(max_examples=150, deadline=None)
@given(url=st.one_of(urls, st.text(max_size=60)))
def test_safe_url_output_is_inert(url: str | None) -> None:
    """A URL safe_url accepts is http(s) and holds nothing that breaks markdown or mentions."""
    safe = safe_url(url)
    if safe is not None:
        assert safe.startswith(("http://", "https://"))
        assert not re.search(r"[\s()<>\[\]@\"`\\]", safe)
        assert safe_url(safe) == safe


# --- examples -------------------------------------------------------------------------------


# Providers hand over naive datetimes meaning UTC; the renderer must read them that way.
NAIVE_REPORTED = datetime(2024, 5, 1, 12, 0)  # noqa: DTZ001
NAIVE_NEW_YEAR = datetime(2024, 1, 1)  # noqa: DTZ001


def ra_view(**changes: object) -> TicketView:
    """A RetroAchievements-like ticket view."""
    view = TicketView(
        provider="retroachievements",
        provider_label="RetroAchievements",
        ticket_id="4242",
        title="Ticket #4242: Super Mario Bros. – World 1-1",
        url="https://retroachievements.org/ticket/4242",
        colour=0x1E90FF,
        description="Did not trigger at the flagpole.<br/>Tried twice &amp; it&#039;s stuck.",
        description_format=TextFormat.PLAIN,
        thumbnail_url="https://media.retroachievements.org/Images/000001.png",
        fields=(
            ViewField(name="State", value="Open"),
            ViewField(name="Reporter", value="mario_fan"),
            ViewField(name="Reported", value=NAIVE_REPORTED),
        ),
        timestamp=NAIVE_REPORTED,
    )
    return dataclasses.replace(view, **changes)


def test_ra_view_renders() -> None:
    """A normal view renders its title, link, fields, timestamps and footer."""
    embeds = render_ticket(ra_view())
    assert len(embeds) == 1
    embed = embeds[0]
    assert embed.title == "Ticket #4242: Super Mario Bros. – World 1-1"
    assert embed.url == "https://retroachievements.org/ticket/4242"
    assert embed.colour == discord.Colour(0x1E90FF)
    assert embed.description == "Did not trigger at the flagpole.\nTried twice & it's stuck."
    assert embed.thumbnail.url == "https://media.retroachievements.org/Images/000001.png"
    assert [(f.name, f.value) for f in embed.fields][:2] == [
        ("State", "Open"),
        ("Reporter", "mario\\_fan"),
    ]
    unix = int(datetime(2024, 5, 1, 12, 0, tzinfo=UTC).timestamp())
    assert embed.fields[2].value == f"<t:{unix}:f> (<t:{unix}:R>)"
    assert TIMESTAMP.fullmatch(embed.fields[2].value or "")
    assert embed.timestamp == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert embed.footer.text == "RetroAchievements · #4242"


def test_naive_datetimes_are_utc() -> None:
    """Naive and aware datetimes meaning the same instant render the same timestamp."""
    naive = render_ticket(ra_view(fields=(ViewField(name="At", value=NAIVE_NEW_YEAR),)))
    plus_two = timezone(timedelta(hours=2))
    aware = render_ticket(
        ra_view(fields=(ViewField(name="At", value=datetime(2024, 1, 1, 2, tzinfo=plus_two)),))
    )
    assert naive[0].fields[0].value == aware[0].fields[0].value


def test_empty_values_and_custom_footer() -> None:
    """Empty field values become a dash; the view's footer replaces the default one."""
    embed = render_ticket(ra_view(fields=(ViewField(name="", value="  "),), footer="Custom"))[0]
    assert (embed.fields[0].name, embed.fields[0].value) == ("—", "—")
    assert embed.footer.text == "Custom"


def test_internal_notes_marked() -> None:
    """Entries carry author and kind; internal notes say they are staff-only."""
    view = ra_view(
        entries=(
            ViewEntry(author="alice", body="It breaks", kind=EntryKind.CUSTOMER),
            ViewEntry(author="bob", body="Looking", kind=EntryKind.STAFF),
            ViewEntry(author="bob", body="Ban them?", kind=EntryKind.INTERNAL_NOTE),
            ViewEntry(author="system", body="Closed", kind=EntryKind.SYSTEM),
        )
    )
    embeds = render_ticket(view)
    assert [e.author.name for e in embeds[1:]] == [
        "alice · Customer",
        "bob · Staff",
        "bob · Staff · internal note",
        "system · System",
    ]
    assert embeds[1].title == "Messages"
    assert embeds[3].title == "🔒 Internal note (staff only)"
    assert [e.title for e in embeds[1:]].count("🔒 Internal note (staff only)") == 1
    assert embeds[3].description == "Ban them?"


def test_huge_description_truncated_with_site_link() -> None:
    """A 20 000-character description is cut and ends with our "view on the site" link."""
    embeds = render_ticket(ra_view(description="word " * 4000))
    description = embeds[0].description or ""
    assert len(description) <= DESCRIPTION_LIMIT
    assert description.endswith("… [view on the site](https://retroachievements.org/ticket/4242)")
    assert_message_fits(embeds)


def test_huge_description_without_url_just_cut() -> None:
    """Without a usable URL a cut description ends with the ellipsis and no link."""
    embeds = render_ticket(ra_view(description="word " * 4000, url="javascript:alert(1)"))
    assert embeds[0].url is None
    assert (embeds[0].description or "").endswith("…")
    assert "](" not in (embeds[0].description or "")


def test_hostile_title_and_link_neutralised() -> None:
    """Mentions and masked links in the title and description do not survive."""
    view = ra_view(
        title="@everyone [free nitro](https://evil.example)",
        description="# SYSTEM NOTICE\n<@&1> [view on the site](https://evil.example)",
    )
    embeds = render_ticket(view)
    assert_message_safe(embeds, view)
    assert "evil.example" in (embeds[0].title or "")


def test_too_many_fields_summarised() -> None:
    """More than 25 fields keep 24 and say how many more exist."""
    view = ra_view(fields=tuple(ViewField(name=f"F{i}", value=str(i)) for i in range(40)))
    embed = render_ticket(view)[0]
    assert len(embed.fields) == FIELD_COUNT_LIMIT
    assert embed.fields[-1].value == "16 more fields on the site"


def test_dropped_entries_noted_with_link() -> None:
    """Entries past the message budget are dropped and the last embed links to the rest."""
    view = ra_view(
        entries=tuple(ViewEntry(author=f"u{i}", body="x " * 900) for i in range(30)),
    )
    embeds = render_ticket(view)
    assert_message_fits(embeds)
    dropped = 30 - len(entry_embeds(embeds))
    assert dropped > 0
    assert (embeds[-1].description or "").endswith(
        f"\n\n{dropped} more messages on the site — "
        "[view on the site](https://retroachievements.org/ticket/4242)"
    )


def test_pages_hold_everything() -> None:
    """render_pages spreads many entries over numbered pages, in order."""
    view = ra_view(entries=tuple(ViewEntry(author=f"u{i}", body=f"m{i}") for i in range(25)))
    pages = render_pages(view, per_page=5)
    assert len(pages) == 5
    authors = [e.author.name for page in pages for e in entry_embeds(page)]
    assert authors == [f"u{i} · Customer" for i in range(25)]
    assert pages[0][-1].footer.text == "Page 1/5"
    assert pages[1][0].title == "Messages (continued)"


def test_a_single_page_says_nothing_of_pages() -> None:
    """A one-page answer's footer is the ticket's own, without "Page 1/1"."""
    assert render_pages(ra_view())[0][0].footer.text == "RetroAchievements · #4242"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://retroachievements.org/ticket/1", "https://retroachievements.org/ticket/1"),
        ("HTTP://Example.com/a_(b)", "http://example.com/a_%28b%29"),
        ("https://example.com/@everyone", "https://example.com/%40everyone"),
        ("https://x.example/a) [e](https://e)", "https://x.example/a%29%20%5Be%5D%28https://e%29"),
        ("https://bücher.example/ä", "https://xn--bcher-kva.example/%C3%A4"),
        ("https://example.com/100%", "https://example.com/100%25"),
        ("javascript:alert(1)", None),
        ("https://user:pw@example.com/", None),
        ("https://example.com:99999/", None),
        ("ftp://example.com/", None),
        ("", None),
        (None, None),
    ],
)
def test_safe_url_examples(url: str | None, expected: str | None) -> None:
    """safe_url keeps good URLs, encodes dangerous characters and rejects the rest."""
    assert safe_url(url) == expected


def test_render_error_and_notice() -> None:
    """Polite embeds keep our markdown but neutralise mentions and links in user input."""
    error = render_error("Not found", "**Ticket** `<@123>` @everyone [x](https://e.example)")
    assert error.colour == discord.Colour(0xE74C3C)
    assert (error.description or "").startswith("**Ticket** `")
    for pattern in (EVERYONE, USER_OR_ROLE, MASKED_LINK):
        assert not pattern.search(error.description or "")
    notice = render_notice("Saved @here", "x" * 10_000)
    assert len(notice.description or "") <= DESCRIPTION_LIMIT
    assert not EVERYONE.search(notice.title or "")
    assert_message_fits([error, notice])


def test_embeds_size_counts_every_part() -> None:
    """embeds_size sums titles, descriptions, fields, footers and author names."""
    embed = discord.Embed(title="ab", description="cde")
    embed.add_field(name="f", value="gh")
    embed.set_footer(text="ijkl")
    embed.set_author(name="mn")
    assert embeds_size([embed, discord.Embed(title="x")]) == 2 + 3 + 1 + 2 + 4 + 2 + 1


_LABEL = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
_PART = st.text(alphabet="abcXYZ019/?&=+,;:!$'*~._-%@()[]<> #", max_size=30)


@PROPERTY
@given(
    scheme=st.sampled_from(["http", "https", "HTTPS", "ftp"]),
    labels=st.lists(_LABEL, min_size=1, max_size=4),
    path=_PART,
    query=st.one_of(st.none(), _PART),
)
def test_safe_url_shortcut_agrees_with_the_full_rebuild(scheme, labels, path, query) -> None:
    """The fast path for already-clean URLs returns exactly what the full parse-and-encode
    would, for clean and unclean URLs alike."""
    from bot.render import _rebuild_url

    url = f"{scheme}://{'.'.join(labels)}/{path}" + (f"?{query}" if query is not None else "")
    assert safe_url(url) == _rebuild_url(url.strip())
