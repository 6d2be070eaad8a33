"""
TicketView -> Discord embeds that always fit Discord's limits.

The renderer knows Discord and nothing of providers or audiences: the policy has already removed
what the reader may not see, so everything in the view is rendered. Every piece of ticket text
goes through `bot.text` (converted and neutralised) before it is cut to its limit, and every
message is packed against the per-embed limits, the 6000-character total and the 10-embed cap,
so sending never fails on size. The only masked link in the output is ours,
"[view on the site](url)", with a URL rebuilt by `safe_url`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit, urlunsplit

import discord

from bot.i18n import Translate, english, worded
from bot.providers.base import EntryKind, TextFormat, TicketView, ViewEntry, ViewField
from bot.providers.palette import Colour
from bot.text import neutralise, to_discord, truncate

__all__ = [
    "AUTHOR_NAME_LIMIT",
    "DESCRIPTION_LIMIT",
    "EMBEDS_PER_MESSAGE",
    "FIELD_COUNT_LIMIT",
    "FIELD_NAME_LIMIT",
    "FIELD_VALUE_LIMIT",
    "FOOTER_LIMIT",
    "MESSAGE_TOTAL_LIMIT",
    "SITE_LINK_TEXT",
    "TITLE_LIMIT",
    "embeds_size",
    "render_error",
    "render_notice",
    "render_pages",
    "render_ticket",
    "safe_url",
    "site_link",
]

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FIELD_COUNT_LIMIT = 25
FOOTER_LIMIT = 2048
AUTHOR_NAME_LIMIT = 256
MESSAGE_TOTAL_LIMIT = 6000
"""Sum of titles, descriptions, field names and values, footer texts and author names."""
EMBEDS_PER_MESSAGE = 10

#: Longest URL we hand Discord as an embed or thumbnail URL; longer ones are rejected upstream.
URL_LIMIT = 2048
#: Longest URL we put in our own "view on the site" link: the link is reserved in every
#: description's budget, so an absurd URL must not eat the text it links from.
LINK_URL_LIMIT = 512
#: Our footers stay short, which leaves room for " · Page i/n" under the 2048 limit.
FOOTER_SOFT_LIMIT = 256
#: Longest notice line `render_pages` puts before an answer (it takes room from the ticket).
NOTICE_LIMIT = 300
#: When fields and description compete for the 6000 budget, the description keeps this much.
DESCRIPTION_PRIORITY = 1500
#: Room the ticket embed leaves for conversation entries, so the first reply is visible.
FIRST_ENTRY_RESERVE = 1000
#: A cut entry shorter than this is not worth showing on its own; it goes to the next page.
MIN_ENTRY_BODY = 200
#: How much raw text is converted for a part shown in at most N characters: N times this.
#: Markup and escapes change lengths both ways, so with room to spare; past it the text
#: would be cut for display anyway.
INPUT_FACTOR = 8
#: Cut text gets a site link only if at least this much of the text survives next to it.
MIN_TEXT_WITH_LINK = 40

EPOCH_YEAR = 1970

SITE_LINK_TEXT = "view on the site"
SHARED_ACCOUNT_NOTE = "seen with this server's shared team account"
EMPTY = "—"
DEFAULT_COLOUR = int(Colour.BLURPLE)

_KIND_LABEL: dict[EntryKind, str] = {
    EntryKind.CUSTOMER: "Customer",
    EntryKind.STAFF: "Staff",
    EntryKind.SYSTEM: "System",
    EntryKind.INTERNAL_NOTE: "Staff · internal note",
}
_KIND_COLOUR: dict[EntryKind, int] = {
    EntryKind.CUSTOMER: Colour.BLURPLE,
    EntryKind.STAFF: Colour.GREEN,
    EntryKind.SYSTEM: Colour.GREY,
    EntryKind.INTERNAL_NOTE: Colour.YELLOW,
    EntryKind.ITEM: Colour.BLURPLE,
}
INTERNAL_NOTE_TITLE = "🔒 Internal note (staff only)"


@dataclass(frozen=True, slots=True)
class Words:
    """The renderer's own words in one language (the reader's), looked up once per answer."""

    site_link: str
    shared_account: str
    internal_note: str
    kinds: Mapping[EntryKind, str]
    ticket: str
    unknown: str
    more: str
    tr: Translate

    @classmethod
    def of(cls, tr: Translate) -> Words:
        """The words as `tr` says them."""
        return cls(
            site_link=tr(SITE_LINK_TEXT),
            shared_account=tr(SHARED_ACCOUNT_NOTE),
            internal_note=tr(INTERNAL_NOTE_TITLE),
            kinds={kind: tr(label) for kind, label in _KIND_LABEL.items()},
            ticket=tr("Ticket"),
            unknown=tr("Unknown"),
            more=tr("More"),
            tr=tr,
        )

    def more_fields(self, count: int) -> str:
        """The last field when a ticket has more fields than Discord allows."""
        return self.tr("{count} more fields on the site", count=count)

    def more_messages(self, count: int) -> str:
        """What the last embed says of entries left out."""
        if count == 1:
            return self.tr("1 more message on the site")
        return self.tr("{count} more messages on the site", count=count)

    def page(self, number: int, count: int) -> str:
        """The page marker in a paged answer's footer."""
        return self.tr("Page {number}/{count}", number=number, count=count)


ENGLISH = Words.of(english)

# A DNS name (after IDNA encoding): letters, digits, dots and hyphens.
_HOST_RE = re.compile(r"^[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?$")
# Percent signs that do not start an escape would make the URL malformed.
_BARE_PERCENT_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# Kept as-is in paths and queries: RFC 3986 sub-delimiters and path characters. Everything else
# is percent-encoded, notably ( ) [ ] < > @ " ` \ and whitespace: a URL that holds them could
# end our masked link early, open a new one or spell a mention.
_URL_SAFE_CHARS = "/?&=+,;:!$'*%~-._"
# A URL `_rebuild_url` would return unchanged: lower-case http(s), a host of valid DNS labels,
# no port, user info or fragment, and a path and non-empty query of characters that are either
# unreserved or in `_URL_SAFE_CHARS`, with every `%` starting an escape. Checked first, so the
# common case skips parsing and re-encoding.
_URL_PART_CHAR = r"(?:[A-Za-z0-9/&=+,;:!$'*~._-]|%[0-9A-Fa-f]{2})"
_CLEAN_URL_RE = re.compile(
    r"https?://(?P<host>(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*"
    r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)"
    rf"(?:/{_URL_PART_CHAR}*)?(?:\?(?:\?|{_URL_PART_CHAR})+)?"
)
_MAX_HOST = 253


# Small: thumbnails repeat (one badge per achievement), ticket URLs mostly do not.
@functools.lru_cache(maxsize=256)
def safe_url(url: str | None) -> str | None:
    """
    A well-formed http(s) URL rebuilt from `url`, or None when it is not one.

    Only http and https with a plain host name are accepted (no credentials in the authority,
    which disguise hosts); the path, query and fragment are percent-encoded down to characters
    that cannot break markdown or spell a mention. Discord rejects a whole message whose embed
    URL is malformed, so anything doubtful is dropped rather than passed on.
    """
    if not url:
        return None
    url = url.strip()
    if not url or len(url) > URL_LIMIT:
        return None
    clean = _CLEAN_URL_RE.fullmatch(url)
    if clean is not None and len(clean["host"]) <= _MAX_HOST:
        return url
    return _rebuild_url(url)


def _rebuild_url(url: str) -> str | None:
    """`safe_url`'s work for any stripped URL of at most URL_LIMIT characters."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"}:
        return None
    if parts.username is not None or parts.password is not None or not parts.hostname:
        return None
    try:
        host = parts.hostname.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    if not _HOST_RE.match(host):
        return None
    netloc = host if port is None else f"{host}:{port}"

    def clean(part: str) -> str:
        return _BARE_PERCENT_RE.sub("%25", quote(part, safe=_URL_SAFE_CHARS))

    rebuilt = urlunsplit(
        (parts.scheme.lower(), netloc, clean(parts.path), clean(parts.query), clean(parts.fragment))
    )
    return rebuilt if len(rebuilt) <= URL_LIMIT else None


def site_link(url: str | None, words: Words = ENGLISH) -> str | None:
    """Our own masked link to the ticket's page, or None when there is no usable URL."""
    safe = safe_url(url)
    if safe is None or len(safe) > LINK_URL_LIMIT:
        return None
    return f"[{words.site_link}]({safe})"


def embeds_size(embeds: Sequence[discord.Embed]) -> int:
    """
    Characters counted against the 6000 per-message budget, over all `embeds`.

    Titles, descriptions, field names and values, footer texts and author names, as Discord
    counts them. Written out rather than `sum(map(len, embeds))` so the rule is visible here;
    `discord.Embed.__len__` counts the same parts.
    """
    total = 0
    for embed in embeds:
        total += len(embed.title or "") + len(embed.description or "")
        total += sum(len(f.name or "") + len(f.value or "") for f in embed.fields)
        total += len(embed.footer.text or "") + len(embed.author.name or "")
    return total


# --- small text helpers ---------------------------------------------------------------------


def _one_line(text: str) -> str:
    # Titles, names and footers are single lines; joining with a space never glues two pieces
    # into a mention or a `](` (both need the characters adjacent).
    return " ".join(text.split())


def _markdown_line(text: str, limit: int) -> str:
    """Untrusted text for a part that renders markdown (titles, field names): escaped."""
    # `to_discord` already neutralised it; joining its lines with spaces cannot form a
    # mention, link or fence again (each needs its characters adjacent).
    converted = to_discord(text, TextFormat.PLAIN, max_input=limit * INPUT_FACTOR)
    return truncate(_one_line(converted), limit)


def _plain_line(text: str, limit: int) -> str:
    """Untrusted text for a part shown verbatim (author names, footers): no backslashes."""
    return truncate(neutralise(_one_line(text[: limit * INPUT_FACTOR])), limit)


def _fit_text(text: str, cap: int, link: str | None) -> str:
    """Cut converted text to `cap`; a cut body ends with our site link when it fits."""
    if len(text) <= cap:
        return text
    if link is not None and cap - len(link) - 1 >= MIN_TEXT_WITH_LINK:
        return f"{truncate(text, cap - len(link) - 1)} {link}"
    return truncate(text, cap)


def _as_utc(moment: datetime) -> datetime | None:
    # Naive datetimes from providers are UTC; discord.py would read them as local time.
    try:
        if moment.tzinfo is None or moment.utcoffset() is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):
        return None  # year 1 with a positive offset has no UTC equivalent


def _embed_time(moment: datetime | None) -> datetime | None:
    # An embed timestamp outside the Unix era is a provider's placeholder ("0001-01-01"), not
    # a time worth showing, and Discord's parser is not documented for such dates: drop it.
    utc = _as_utc(moment) if moment is not None else None
    return utc if utc is not None and utc.year >= EPOCH_YEAR else None


def _timestamp_markup(moment: datetime) -> str:
    utc = _as_utc(moment)
    if utc is None:
        return moment.isoformat()
    unix = int(utc.timestamp())
    return f"<t:{unix}:f> (<t:{unix}:R>)"


def _colour(value: int | None, default: int = DEFAULT_COLOUR) -> int:
    # Discord rejects colours outside 24 bits; a provider's bad value must not cost the answer.
    return value if value is not None and 0 <= value <= 0xFFFFFF else default


# --- the ticket embed -----------------------------------------------------------------------


@dataclass(slots=True)
class _Field:
    name: str
    value: str
    inline: bool

    @property
    def size(self) -> int:
        return len(self.name) + len(self.value)


def _prepare_field(field: ViewField, words: Words) -> _Field:
    if isinstance(field.value, datetime):
        value = _timestamp_markup(field.value)
    else:
        value = to_discord(
            worded(field.value, words.tr), field.format, max_input=FIELD_VALUE_LIMIT * INPUT_FACTOR
        )
    name = _markdown_line(worded(field.name, words.tr), FIELD_NAME_LIMIT).strip() or EMPTY
    value = truncate(value.strip() or EMPTY, FIELD_VALUE_LIMIT)
    return _Field(name, value, field.inline)


def _prepare_fields(fields: Sequence[ViewField], words: Words) -> list[_Field]:
    if len(fields) <= FIELD_COUNT_LIMIT:
        return [_prepare_field(f, words) for f in fields]
    kept = [_prepare_field(f, words) for f in fields[: FIELD_COUNT_LIMIT - 1]]
    hidden = len(fields) - len(kept)
    kept.append(_Field(words.more, words.more_fields(hidden), inline=False))
    return kept


def _shrink_fields(fields: list[_Field], budget: int) -> list[_Field]:
    """
    Fit fields into `budget` characters, cutting the longest ones first.

    Water-filling: find the largest per-field cap c with sum(min(size, c)) <= budget, so short
    fields stay whole and long ones are cut evenly. Fields that cannot get even two characters
    (one for the name, one for the value) are dropped from the end.
    """
    if sum(f.size for f in fields) <= budget:
        return fields
    fields = fields[: max(0, budget // 2)]
    if not fields:
        return []
    low, high = 2, max(f.size for f in fields)
    while low < high:
        mid = (low + high + 1) // 2
        if sum(min(f.size, mid) for f in fields) <= budget:
            low = mid
        else:
            high = mid - 1
    cap = low
    shrunk: list[_Field] = []
    for f in fields:
        if f.size <= cap:
            shrunk.append(f)
            continue
        name_cap = min(len(f.name), max(1, cap // 4))
        value_cap = cap - name_cap
        if len(f.value) < value_cap:
            value_cap = len(f.value)
            name_cap = min(len(f.name), cap - value_cap)
        name = truncate(f.name, name_cap) or EMPTY[:1]
        value = truncate(f.value, value_cap) or EMPTY[:1]
        shrunk.append(_Field(name, value, f.inline))
    return shrunk


def _ticket_embed(view: TicketView, *, budget: int, desc_limit: int, words: Words) -> discord.Embed:
    tr = words.tr
    url = safe_url(view.url)
    link = site_link(view.url, words)
    title = (
        _markdown_line(worded(view.title, tr), TITLE_LIMIT).strip()
        or _markdown_line(f"{view.provider_label} #{view.ticket_id}", TITLE_LIMIT).strip()
        or words.ticket
    )
    footer = (
        worded(view.footer, tr) if view.footer else f"{view.provider_label} · #{view.ticket_id}"
    )
    if view.shared_account:
        footer = f"{footer} · {words.shared_account}"
    footer = _plain_line(footer, FOOTER_SOFT_LIMIT)
    description = to_discord(worded(view.description, tr), view.description_format)
    fields = _prepare_fields(view.fields, words)

    rest = max(0, budget - len(title) - len(footer))
    wanted = min(len(description), desc_limit)
    if sum(f.size for f in fields) + wanted > rest:
        fields = _shrink_fields(fields, rest - min(wanted, DESCRIPTION_PRIORITY))
    desc_cap = min(desc_limit, rest - sum(f.size for f in fields))

    embed = discord.Embed(
        title=title,
        url=url,
        colour=_colour(view.colour),
        description=_fit_text(description, desc_cap, link) or None,
        timestamp=_embed_time(view.timestamp),
    )
    thumbnail = safe_url(view.thumbnail_url)
    if thumbnail is not None:
        embed.set_thumbnail(url=thumbnail)
    for field in fields:
        embed.add_field(name=field.name, value=field.value, inline=field.inline)
    if footer:
        embed.set_footer(text=footer)
    return embed


# --- conversation entries -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Entry:
    author: str
    note: bool
    body: str
    colour: int
    at: datetime | None


def _prepare_entry(entry: ViewEntry, words: Words) -> _Entry:
    name = _plain_line(worded(entry.author, words.tr), AUTHOR_NAME_LIMIT) or words.unknown
    label = words.kinds.get(entry.kind, "")
    author = truncate(f"{name} · {label}" if label else name, AUTHOR_NAME_LIMIT)
    return _Entry(
        author=author,
        note=entry.kind is EntryKind.INTERNAL_NOTE,
        body=to_discord(worded(entry.body, words.tr), entry.format) or EMPTY,
        colour=_KIND_COLOUR.get(entry.kind, DEFAULT_COLOUR),
        at=_embed_time(entry.at),
    )


def _entry_title(entry: _Entry, header: str | None, words: Words) -> str | None:
    # The first entry of a page carries the section header; internal notes always say so.
    parts = [p for p in (header, words.internal_note if entry.note else None) if p]
    return truncate(" · ".join(parts), TITLE_LIMIT) if parts else None


def _entry_embed(
    entry: _Entry, title: str | None, body_cap: int, link: str | None
) -> discord.Embed:
    embed = discord.Embed(
        title=title,
        colour=entry.colour,
        description=_fit_text(entry.body, body_cap, link),
        timestamp=entry.at,
    )
    embed.set_author(name=entry.author)
    return embed


def _more_note(count: int, link: str | None, words: Words) -> str:
    # No markdown of our own here: unbalanced emphasis in the ticket text above could pair
    # with it across the blank line.
    note = words.more_messages(count)
    return f"{note} — {link}" if link else note


# --- layout ---------------------------------------------------------------------------------


def _layout(
    view: TicketView, *, paged: bool, per_page: int | None, words: Words, notice_room: int = 0
) -> tuple[list[list[discord.Embed]], int]:
    """Pack the view into messages; returns the pages and how many entries did not fit.
    `notice_room` is kept free in every description for a line put before it afterwards."""
    link = site_link(view.url, words)
    total = len(view.entries)
    # Room kept free on every page for what is added after packing: the "N more" note (in the
    # last description, so also inside the description limit) or the "Page i/n" footer.
    note_room = len(_more_note(total, link, words)) + 2 if total and not paged else 0
    note_room += notice_room
    widest = 10 ** len(str(total + 1)) - 1
    footer_room = len(" · " + words.page(widest, widest)) if paged else 0
    page_budget = MESSAGE_TOTAL_LIMIT - note_room - footer_room
    desc_limit = DESCRIPTION_LIMIT - note_room
    max_entries = None if per_page is None else max(1, per_page)

    ticket_budget = page_budget - (FIRST_ENTRY_RESERVE if total else 0)
    ticket = _ticket_embed(view, budget=ticket_budget, desc_limit=desc_limit, words=words)
    pages: list[list[discord.Embed]] = [[ticket]]
    used = embeds_size([ticket])
    on_page = 0
    header = _markdown_line(worded(view.entries_title, words.tr), TITLE_LIMIT).strip() or None
    entries = (_prepare_entry(e, words) for e in view.entries)
    placed = 0
    pending = next(entries, None)
    while pending is not None:
        page = pages[-1]
        page_header = None
        if on_page == 0 and header:
            page_header = (
                header if len(pages) == 1 else words.tr("{header} (continued)", header=header)
            )
        title = _entry_title(pending, page_header, words)
        head = len(pending.author) + len(title or "")
        left = min(desc_limit, page_budget - used - head)
        has_slot = len(page) < EMBEDS_PER_MESSAGE and (max_entries is None or on_page < max_entries)
        whole = min(len(pending.body), desc_limit) <= left
        # A page holds an entry whole; a single message (not paged) also takes a cut one, since
        # the rest of the conversation is only a link away anyway.
        if not has_slot or not (whole or (not paged and left >= MIN_ENTRY_BODY)):
            if not paged:
                break
            pages.append([])
            used = on_page = 0
            continue
        embed = _entry_embed(pending, title, left, link)
        page.append(embed)
        used += embeds_size([embed])
        on_page += 1
        placed += 1
        pending = next(entries, None)
    return pages, total - placed


def render_ticket(view: TicketView, *, tr: Translate = english) -> list[discord.Embed]:
    """
    One message's embeds for `view`: the ticket, then as many entries as fit.

    Entries that do not fit the 10-embed / 6000-character budget are dropped, and the last embed
    says how many, with our site link when the view has a URL.
    """
    words = ENGLISH if tr is english else Words.of(tr)
    pages, dropped = _layout(view, paged=False, per_page=None, words=words)
    embeds = pages[0]
    if dropped:
        last = embeds[-1]
        note = _more_note(dropped, site_link(view.url, words), words)
        last.description = f"{last.description}\n\n{note}" if last.description else note
    return embeds


def render_pages(
    view: TicketView,
    *,
    per_page: int | None = None,
    tr: Translate = english,
    notice: str | None = None,
) -> list[list[discord.Embed]]:
    """
    Every entry of `view`, paginated: one list of embeds per message.

    Page 1 is the ticket embed plus as many entries as fit; later pages hold the remaining
    entries. `per_page` caps the entry embeds per page (the ticket embed not counted); the
    10-embed and 6000-character limits cap it regardless. When there is more than one page,
    each page's last embed footer ends with "Page i/n"; a single page says nothing of pages.

    `notice` (our own words, one line, markdown and `<t:…:R>` kept: it is not ticket text) is
    the first line of every page's first description, where Discord renders its markup (a
    footer would not), with room kept for it.
    """
    words = ENGLISH if tr is english else Words.of(tr)
    line = _one_line(notice)[:NOTICE_LIMIT] if notice else ""
    room = len(line) + 1 if line else 0
    pages, _ = _layout(view, paged=True, per_page=per_page, words=words, notice_room=room)
    if line:
        for page in pages:
            first = page[0]
            first.description = f"{line}\n{first.description}" if first.description else line
    count = len(pages)
    if count == 1:
        return pages
    for number, page in enumerate(pages, start=1):
        last = page[-1]
        marker = words.page(number, count)
        text = last.footer.text
        last.set_footer(text=f"{text} · {marker}" if text else marker)
    return pages


def _polite(title: str, text: str, colour: int) -> discord.Embed:
    # Our own wording, which may quote what the user typed: neutralised, markdown otherwise kept.
    return discord.Embed(
        title=truncate(_one_line(neutralise(title)), TITLE_LIMIT) or None,
        description=truncate(neutralise(text).strip(), DESCRIPTION_LIMIT) or None,
        colour=_colour(colour),
    )


def render_error(title: str, text: str, *, colour: int = Colour.RED) -> discord.Embed:
    """A polite error embed; mentions and masked links in `title`/`text` are neutralised."""
    return _polite(title, text, colour)


def render_notice(title: str, text: str) -> discord.Embed:
    """A polite informational embed; mentions and masked links are neutralised."""
    return _polite(title, text, Colour.BLUE)
