"""
Untrusted ticket text to Discord markdown that cannot ping, phish or impersonate.

Ticket bodies are written by strangers. Whatever the upstream format, the result of
`to_discord` is safe to put in an embed: mentions do not render as mentions, masked links are
spelled out, headings/subtext/block quotes cannot start a line, and an unmatched code fence is
broken so nothing we append after the text can be swallowed into a code block. `neutralise` is
that last step alone, for text we write ourselves that may quote user input; `truncate` cuts
text without leaving half an escape behind.

Neutralising inserts a zero-width space (U+200B) rather than a backslash wherever it can: a
backslash shows up literally inside code blocks and in embed parts that do not render markdown
(author names, footers), a zero-width space is invisible everywhere and breaks the syntax just
as well.
"""

from __future__ import annotations

import html
import re
import warnings
from typing import Any

from bs4 import MarkupResemblesLocatorWarning
from markdownify import MarkdownConverter

from bot.providers.base import TextFormat

__all__ = ["ZWSP", "neutralise", "to_discord", "truncate"]

ZWSP = "\u200b"

# BeautifulSoup warns when the markup "looks like a URL or file name" - a one-line ticket body
# often does. The warning is advice for scrapers, not a fault here; it would only fill the log.
warnings.filterwarnings("ignore", category=MarkupResemblesLocatorWarning)

#: Longest input we convert at all. We never show more than 4096 characters, and markdownify,
#: BeautifulSoup and the regexes below are linear-ish but not free: a multi-megabyte body must
#: not stall the event loop (realistic HTML converts at roughly 4 ms per 1000 characters).
#: Generous, because HTML spends characters on markup.
MAX_INPUT_CHARS = 50_000

# C0 and C1 control characters except tab and newline (carriage returns are normalised to
# newlines before this runs). They render as nothing or as tofu and can hide text.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Unicode line/paragraph separators: JavaScript (Discord's client) treats them as line breaks,
# so a heading after one would start a "line" our line-start rules did not see.
_LINE_SEPARATOR_RE = re.compile(r"\r\n|[\r\u2028\u2029]")

# `[text](url)`, `[text](<url>)`, `[text](url "title")` and images `![alt](src)`; text without
# brackets or newlines so the match stays linear. Not preceded by a backslash: an escaped bracket
# is no link start, and rewriting it would leave the backslash escaping the link text's first
# character.
_MASKED_LINK_RE = re.compile(
    r"(?<!\\)!?\[(?P<text>[^\[\]\n]*)\]\(\s*<?(?P<url>[^\s()<>]*)>?(?:\s+\"[^\"\n]*\")?\s*\)"
)
# Whatever the rewrite above did not catch: Discord needs `](` adjacent for a masked link.
_LINK_JOIN_RE = re.compile(r"\](?=\()")
# @everyone / @here, case-insensitively because clients are lenient about case.
_EVERYONE_RE = re.compile(r"@(?=everyone|here)", re.IGNORECASE)
# <@user>, <@!user>, <@&role>, <#channel>, </command:id> and <id:customize>-style guild links.
_ANGLE_MENTION_RE = re.compile(r"<(?=[@#/]|id:)", re.IGNORECASE)
# A line that starts (after indentation and list markers) with a heading `#`, subtext `-#` or
# a block quote `>`/`>>>`. List markers are skipped because `- # text` nests a heading.
_LINE_START_RE = re.compile(
    r"^(?P<lead>[ \t]*(?:(?:[-*+]|\d{1,9}[.)])[ \t]+)*)(?=#|-#|>)", re.MULTILINE
)
_FENCE_RE = re.compile(r"(?<!\\)```")
# Three or more blank lines (whitespace-only lines count as blank).
#: Any character one of `neutralise`'s rules starts from; text without one is left as it is.
_NEEDS_WORK_RE = re.compile(r"[@<\]\[#>\-`\n\r\u2028\u2029\x00-\x08\x0b-\x1f\x7f-\x9f]")
_BLANK_LINES_RE = re.compile(r"\n(?:[ \t]*\n){3,}")

# PLAIN input: markup-ish line breaks RetroAchievements and friends send in "plain" text.
_BR_RE = re.compile(r"<br\s*/?>", re.IGNORECASE)
_LITERAL_NEWLINE_RE = re.compile(r"\\r\\n|\\n")
# PLAIN escaping. discord.utils.escape_markdown is not used on untrusted text: its masked-link
# pattern `\[.+\]\(.+\)` backtracks catastrophically (a 20 000-character "[a](" run takes
# minutes). This is the same idea in one linear pass: URLs are left alone (an escaped
# underscore would break the link), markdown punctuation gets a backslash.
_URL_PART = r"https?://[^\s<]+[^<.,:;\"'\]\s]"
_PLAIN_ESCAPE_RE = re.compile(rf"(?P<url>{_URL_PART})|(?P<md>[\\*_~|`])")
# List markers at line start (`- `, `+ `, `1. `): escaped so plain text cannot become a list.
_PLAIN_LIST_RE = re.compile(r"^(?P<lead>[ \t]*)(?P<marker>[-+]|\d{1,9}[.)])(?=[ \t])", re.MULTILINE)

# PLAIN text without any of these characters needs no conversion at all: no rule of the PLAIN
# conversion (`<br>`, literal `\n`, entities, markdown punctuation, list markers) nor of
# `neutralise` starts from one of them. Most field values ("Open", a name) are such text.
_PLAIN_WORK_RE = re.compile(r"[<\\&*_~|`.)+\-@\[\]#>\n\r\u2028\u2029\x00-\x08\x0b-\x1f\x7f-\x9f]")

# What truncate() strips from the end of a cut: a lone backslash would escape whatever we append
# (the ellipsis, a link), and a trailing zero-width space or joiner is half of a sequence.
_DANGLING = "\\" + ZWSP + "\u200d"


def _escape_punctuation(text: str) -> str:
    """Backslash-escape markdown punctuation outside URLs."""

    def replace(match: re.Match[str]) -> str:
        url = match.group("url")
        return url if url is not None else "\\" + match.group("md")

    return _PLAIN_ESCAPE_RE.sub(replace, text)


def _is_web_url(url: str) -> bool:
    return url.lower().startswith(("http://", "https://", "mailto:"))


class _DiscordConverter(MarkdownConverter):
    """markdownify, adjusted to what Discord renders and to what must not render."""

    def escape(self, text: str, parent_tags: Any) -> str:
        # Replaces markdownify's escaper, which leaves backslashes, `~`, `|` and backticks
        # alone: "a\*b" would turn into "a\\*b" and the asterisk would format again.
        return _escape_punctuation(text) if text else ""

    def convert_a(self, el: Any, text: str, parent_tags: Any) -> str:
        # Never a masked link: a stranger's "click here" must show where it goes.
        href = str(el.get("href") or "").strip()
        label = text.strip()
        if not href or not _is_web_url(href):
            return text
        if not label or label.replace("\\", "") == href:
            return href
        return f"{label} ({href})"

    def convert_img(self, el: Any, text: str, parent_tags: Any) -> str:
        # An image cannot show inside an embed's text; its alt text (or address) can.
        alt = str(el.attrs.get("alt") or "").strip()
        src = str(el.attrs.get("src") or "").strip()
        if alt:
            return _escape_punctuation(alt)
        return src if _is_web_url(src) else ""

    def convert_video(self, el: Any, text: str, parent_tags: Any) -> str:
        src = str(el.attrs.get("src") or "").strip()
        return text or (src if _is_web_url(src) else "")

    def convert_hN(self, n: int, el: Any, text: str, parent_tags: Any) -> str:
        # Discord headings are huge and could pass for our own UI; bold keeps the emphasis.
        text = " ".join(text.split())
        if not text:
            return ""
        if "_inline" in parent_tags:
            return text
        return f"\n\n**{text}**\n\n"

    def convert_br(self, el: Any, text: str, parent_tags: Any) -> str:
        # Discord keeps newlines as they are; markdownify's "two trailing spaces" or backslash
        # styles would waste budget or show a literal backslash.
        if "_inline" in parent_tags:
            return " "
        return "\n"

    def convert_hr(self, el: Any, text: str, parent_tags: Any) -> str:
        # "---" is harmless but reads as noise; a box-drawing rule reads as a separator.
        return "\n\n────────\n\n"


def _converter() -> _DiscordConverter:
    # strong_em_symbol "*": Discord reads `__x__` as underline, not bold.
    # bullets "-": the list marker Discord renders; "*" would compete with emphasis.
    # escape_misc False: our own `escape` and `neutralise` decide what to escape.
    # code_language "": no language guess; Discord highlights nothing it is not told.
    return _DiscordConverter(
        strong_em_symbol="*",
        bullets="-",
        escape_misc=False,
        code_language="",
        strip_document="strip",
    )


def _html_to_markdown(text: str) -> str:
    try:
        result = _converter().convert(text)
    except Exception:  # third-party parser on hostile input: we must not fail.
        # Deep nesting exceeds markdownify's recursion, and a parser bug must not cost the user
        # their answer: fall back to the text with its tags removed, escaped like plain text.
        stripped = re.sub(r"<[^>]*>", " ", text)
        return _plain_to_markdown(stripped)
    return str(result)


def _plain_to_markdown(text: str) -> str:
    if "<" in text:
        text = _BR_RE.sub("\n", text)
    if "\\" in text:
        text = _LITERAL_NEWLINE_RE.sub("\n", text)
    text = html.unescape(text)
    text = _escape_punctuation(text)
    # The backslash goes before the punctuation: "\\3." would show the backslash, digits
    # cannot be escaped.
    return _PLAIN_LIST_RE.sub(
        lambda m: f"{m.group('lead')}{m.group('marker')[:-1]}\\{m.group('marker')[-1]}", text
    )


def to_discord(text: str, fmt: TextFormat, *, max_input: int = MAX_INPUT_CHARS) -> str:
    """
    Convert untrusted ticket text in `fmt` to safe Discord markdown.

    HTML goes through markdownify (links spelled out, images as alt text, headings as bold).
    PLAIN may still hold `<br/>` and literal `\\n` (RetroAchievements does that); it is escaped
    fully so it cannot format. MARKDOWN keeps its formatting. All three then go through
    `neutralise`. HTML entities are unescaped in every format: the APIs we read escape their
    text far more often than a ticket contains a literal entity.

    Only the first `max_input` characters are converted (a caller showing 1024 characters need
    not pay for converting 50 000); a cut input ends the result with " …".
    """
    max_input = max(0, min(max_input, MAX_INPUT_CHARS))
    cut = len(text) > max_input
    if fmt is TextFormat.PLAIN and not cut and not _PLAIN_WORK_RE.search(text):
        return text.strip()
    text = text[:max_input]
    if fmt is TextFormat.HTML:
        converted = _html_to_markdown(text)
    elif fmt is TextFormat.MARKDOWN:
        converted = html.unescape(text)
    else:
        converted = _plain_to_markdown(text)
    result = neutralise(converted).strip()
    # Say so when the input was too long to convert whole, even if the rest would have fitted.
    return f"{result} …" if cut else result


def _balance_fences(text: str) -> str:
    # An odd fence is one Discord would show literally; breaking it with zero-width spaces keeps
    # that look and guarantees nothing appended later (ours) can close it into a code block.
    # The whole run of backticks around the last fence is broken, not just three of them: a
    # longer run ("`````") would otherwise still hold a fence, and a second pass would find
    # an odd count again (neutralise must be idempotent).
    while True:
        fences = list(_FENCE_RE.finditer(text))
        if len(fences) % 2 == 0:
            return text
        start = end = fences[-1].start()
        while start > 0 and text[start - 1] == "`":
            start -= 1
        while end < len(text) and text[end] == "`":
            end += 1
        text = text[:start] + ZWSP.join(text[start:end]) + text[end:]


def neutralise(text: str) -> str:
    """
    Make text safe to render whatever wrote it: no mentions, masked links or UI look-alikes.

    Mentions get a zero-width space (`@\u200beveryone`, `<\u200b@123>`); masked links become
    `text (url)` and any other `](` is split; headings, subtext and block quotes at line start
    get a zero-width space in front; an unmatched code fence is broken; 3+ blank lines collapse
    to 2; control characters other than newline and tab go. Idempotent, and it leaves every
    other character of the text alone, so our own bold/italic/code survive.
    """
    if not _NEEDS_WORK_RE.search(text):
        # Most field values ("Open", a user name) hold nothing any rule below would touch.
        return text
    # Each rule runs only when the characters it starts from are there (a substring test is
    # far cheaper than a regex pass, and a lookup renders some 20 pieces of text).
    if "\r" in text or "\u2028" in text or "\u2029" in text:
        text = _LINE_SEPARATOR_RE.sub("\n", text)
    text = _CONTROL_RE.sub("", text)

    def spell_out(match: re.Match[str]) -> str:
        label, url = match.group("text").strip(), match.group("url")
        if not url:
            return label
        if not label or label == url:
            return url
        return f"{label} ({url})"

    if "](" in text:
        text = _MASKED_LINK_RE.sub(spell_out, text)
        text = _LINK_JOIN_RE.sub("]" + ZWSP, text)
    if "@" in text:
        text = _EVERYONE_RE.sub("@" + ZWSP, text)
    if "<" in text:
        text = _ANGLE_MENTION_RE.sub("<" + ZWSP, text)
    if "#" in text or ">" in text:
        text = _LINE_START_RE.sub(lambda m: m.group("lead") + ZWSP, text)
    if "```" in text:
        text = _balance_fences(text)
    if text.count("\n") > 3:
        text = _BLANK_LINES_RE.sub("\n\n\n", text)
    return text


def truncate(text: str, limit: int, *, more: str = "…") -> str:
    """
    Cut `text` to at most `limit` characters, ending with `more` when anything was cut.

    The cut prefers a whitespace boundary in the last third of the room (at most 80
    characters back), never leaves a trailing backslash or zero-width character, and closes a
    code block it cut open (after the ellipsis) so anything appended later stays outside it.
    """
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    if len(more) >= limit:
        return more[:limit]
    closer = "\n```"
    for reserve in (0, len(closer)):
        room = limit - len(more) - reserve
        if room <= 0:
            return more[:limit]
        cut = text[:room]
        # A nearby space or newline makes a cleaner cut than the middle of a word.
        window = min(80, room // 3)
        boundary = max(cut.rfind(" "), cut.rfind("\n"), cut.rfind("\t"))
        if boundary > 0 and boundary >= room - window:
            cut = cut[:boundary]
        cut = cut.rstrip().rstrip(_DANGLING).rstrip()
        # Rstrip can reveal another dangling character ("\\\u200b"); repeat until stable.
        while cut and cut[-1] in _DANGLING:
            cut = cut.rstrip(_DANGLING).rstrip()
        fences = len(_FENCE_RE.findall(cut))
        if fences % 2 == 0:
            return cut + more
        if reserve:
            return cut + more + closer
    raise AssertionError("unreachable: the loop returns on its last pass")  # pragma: no cover
