"""Tests for bot.text: untrusted ticket text to safe Discord markdown."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.providers.base import TextFormat
from bot.text import ZWSP, neutralise, to_discord, truncate

EVERYONE = re.compile(r"@(everyone|here)", re.IGNORECASE)
USER_OR_ROLE = re.compile(r"<@[!&]?\d+>")
CHANNEL = re.compile(r"<#\d+>")
COMMAND = re.compile(r"</[^\s>]+:\d+>")
MASKED_LINK = re.compile(r"\[[^\]]*\]\([^)]*\)")
# A line Discord would render as a heading, subtext or block quote (also inside a list item).
UI_LINE = re.compile(r"^[ \t]*(?:(?:[-*+]|\d+[.)])[ \t]+)*(?:#{1,3}[ \t]|-#[ \t]|>)", re.MULTILINE)

HOSTILE_PIECES = [
    "@everyone",
    "@here",
    "@",
    "everyone",
    "<@123>",
    "<@!123>",
    "<@&5>",
    "<#7>",
    "</cmd:123>",
    "<",
    ">",
    "123",
    "#",
    "# ",
    "## ",
    "### ",
    "-# ",
    "> ",
    ">>> ",
    "- ",
    "1. ",
    "[",
    "]",
    "(",
    ")",
    "](",
    "[x](https://evil.example)",
    "[x](<https://evil.example>)",
    "```",
    "`",
    "\\",
    "\n",
    "\r\n",
    "\r",
    "\u2028",
    "<br/>",
    "<br>",
    "\\n",
    "&amp;",
    "&#039;",
    "&lt;@123&gt;",
    "<b>",
    "</b>",
    "<a href='https://evil.example'>",
    "</a>",
    "<h1>",
    "<pre>",
    "*",
    "_",
    "~",
    "|",
    ZWSP,
    "\x00",
    "\x1b",
    " ",
    "\t",
    "😀",
    "e\u0301",
]
hostile_text = st.lists(
    st.one_of(st.sampled_from(HOSTILE_PIECES), st.text(max_size=12)), max_size=40
).map("".join)
formats = st.sampled_from(list(TextFormat))


def assert_inert(text: str) -> None:
    """Fail if `text` holds a live mention, a masked link or a UI-looking line start."""
    for pattern in (EVERYONE, USER_OR_ROLE, CHANNEL, COMMAND, MASKED_LINK, UI_LINE):
        assert not pattern.search(text), (pattern.pattern, text)


# --- conversion -----------------------------------------------------------------------------


@pytest.mark.parametrize("br", ["<br/>", "<br>", "<br />", "<BR/>"])
@pytest.mark.parametrize("fmt", [TextFormat.PLAIN, TextFormat.HTML])
def test_br_becomes_newline(br: str, fmt: TextFormat) -> None:
    """`<br/>` and its spellings become a newline in plain and HTML text."""
    assert to_discord(f"first{br}second", fmt) == "first\nsecond"


def test_plain_literal_backslash_n_becomes_newline() -> None:
    """The two characters backslash-n in old RetroAchievements notes become a newline."""
    assert to_discord("first\\nsecond\\r\\nthird", TextFormat.PLAIN) == "first\nsecond\nthird"


@pytest.mark.parametrize("fmt", list(TextFormat))
def test_entities_unescaped(fmt: TextFormat) -> None:
    """HTML entities such as &amp; and &#039; are unescaped in every format."""
    assert to_discord("Tom &amp; Jerry&#039;s", fmt).replace("\\", "") == "Tom & Jerry's"


def test_plain_escapes_markdown() -> None:
    """Plain text cannot format: emphasis, underline, spoilers, code and lists are escaped."""
    out = to_discord("*bold* __under__ ||spoiler|| `code` ~~gone~~ a\\b", TextFormat.PLAIN)
    assert out == r"\*bold\* \_\_under\_\_ \|\|spoiler\|\| \`code\` \~\~gone\~\~ a\\b"
    assert to_discord("- item\n  + nested\n3. third", TextFormat.PLAIN) == (
        "\\- item\n  \\+ nested\n3\\. third"
    )


def test_plain_keeps_urls_intact() -> None:
    """Underscores inside a URL are not escaped, so the URL stays clickable."""
    out = to_discord("see https://example.com/a_b?c=d_e and x_y", TextFormat.PLAIN)
    assert out == "see https://example.com/a_b?c=d_e and x\\_y"


def test_html_formatting_kept() -> None:
    """HTML bold, italic, lists, inline code and pre blocks become Discord markdown."""
    out = to_discord(
        "<p><b>bold</b> <i>it</i> <code>a_b</code></p><ul><li>one</li><li>two</li></ul>"
        "<pre>x = 1</pre>",
        TextFormat.HTML,
    )
    assert out == "**bold** *it* `a_b`\n\n- one\n- two\n\n```\nx = 1\n```"


def test_html_links_spelled_out() -> None:
    """Anchors render as `text (url)`, never as masked links; non-web hrefs keep only text."""
    out = to_discord(
        '<a href="https://evil.example">click</a> <a href="https://same.example">'
        'https://same.example</a> <a href="javascript:alert(1)">js</a>',
        TextFormat.HTML,
    )
    assert out == "click (https://evil.example) https://same.example js"


def test_html_images_as_alt_text() -> None:
    """Images become their alt text, or their address without one."""
    out = to_discord(
        '<img alt="screenshot" src="https://x.example/a.png"><br><img src="https://x.example/b.png">',
        TextFormat.HTML,
    )
    assert out == "screenshot\nhttps://x.example/b.png"


def test_html_headings_become_bold() -> None:
    """HTML headings render bold instead of as Discord headings."""
    assert to_discord("<h1>Big</h1><p>text</p>", TextFormat.HTML) == "**Big**\n\ntext"


def test_html_escapes_text_markdown() -> None:
    """Markdown characters in HTML text nodes are escaped, including backslashes."""
    assert to_discord("<p>a*b_c\\*d</p>", TextFormat.HTML) == "a\\*b\\_c\\\\\\*d"


def test_markdown_formatting_kept() -> None:
    """Markdown input keeps bold, italic, code and lists."""
    text = "**bold** *it* `code`\n- item\n```\nblock\n```"
    assert to_discord(text, TextFormat.MARKDOWN) == text


def test_deeply_nested_html_does_not_raise() -> None:
    """Pathologically nested HTML still converts (falls back to tag-stripped text)."""
    out = to_discord("<b>" * 5000 + "deep" + "</b>" * 5000, TextFormat.HTML)
    assert "deep" in out


@pytest.mark.parametrize(
    "text",
    ["[a](" * 5000, "[" * 50_000, "<@" * 25_000, "<p>" * 20_000, "https://" * 6000],
)
@pytest.mark.parametrize("fmt", list(TextFormat))
def test_hostile_input_converts_fast(text: str, fmt: TextFormat) -> None:
    """Inputs that make backtracking regexes explode convert in well under seconds."""
    start = time.perf_counter()
    to_discord(text, fmt)
    assert time.perf_counter() - start < 3


# --- neutralising ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(TextFormat))
@pytest.mark.parametrize(
    "mention",
    ["@everyone", "@here", "@EveryOne", "<@123>", "<@!123>", "<@&5>", "<#7>", "</cmd:123>"],
)
def test_mentions_neutralised(fmt: TextFormat, mention: str) -> None:
    """Mentions no longer match Discord's mention syntax, in every format."""
    out = to_discord(f"hi {mention} there", fmt)
    for pattern in (EVERYONE, USER_OR_ROLE, CHANNEL, COMMAND):
        assert not pattern.search(out)
    # HTML parses `</cmd:123>` as an end tag and drops it; everything else is kept, broken.
    assert ZWSP in out or (fmt is TextFormat.HTML and mention.startswith("</"))


@pytest.mark.parametrize("fmt", list(TextFormat))
@pytest.mark.parametrize(
    "link",
    [
        "[x](https://evil.example)",
        "[x](<https://evil.example>)",
        '[x](https://evil.example "title")',
        "![x](https://evil.example/i.png)",
        "[a [b](https://evil.example)",
        "\\[x](https://evil.example)",
        "[x](https://evil.example/a(b)c)",
    ],
)
def test_masked_links_neutralised(fmt: TextFormat, link: str) -> None:
    """Masked links do not survive, and the destination stays visible."""
    out = to_discord(f"see {link} now", fmt)
    assert not MASKED_LINK.search(out)
    # HTML parses `<https://…>` as a tag and drops it; otherwise the destination stays visible.
    if not (fmt is TextFormat.HTML and "<" in link):
        assert "evil.example" in out


def test_masked_link_spelled_out() -> None:
    """A well-formed masked link reads as `text (url)`."""
    assert neutralise("[x](https://evil.example)") == "x (https://evil.example)"


@pytest.mark.parametrize("fmt", list(TextFormat))
@pytest.mark.parametrize(
    "line", ["# Heading", "## Heading", "### Heading", "-# subtext", "> quote", ">>> quote"]
)
def test_line_start_markup_escaped(fmt: TextFormat, line: str) -> None:
    """Headings, subtext and block quotes at line start are escaped, first line or later."""
    out = to_discord(f"{line}\nok\n  {line}\n- {line}", fmt)
    assert not UI_LINE.search(out), out


def test_heading_escape_is_invisible() -> None:
    """The heading escape is a zero-width space, so it shows nothing (even in code blocks)."""
    assert neutralise("# Heading") == ZWSP + "# Heading"


def test_lone_code_fence_broken() -> None:
    """An unmatched ``` is broken so nothing after it can become code; pairs stay intact."""
    assert neutralise("a ``` b").count("```") == 0
    assert neutralise("```\ncode\n```") == "```\ncode\n```"


@pytest.mark.parametrize("text", ["`````", "a ```` b", "```x``````"])
def test_a_long_odd_backtick_run_is_broken_once_and_for_all(text):
    """A run longer than a fence is broken whole, so a second pass changes nothing
    (found by hypothesis: "`````" used to gain a second zero-width space each pass)."""
    once = neutralise(text)
    assert once.count("```") % 2 == 0
    assert neutralise(once) == once


def test_blank_lines_collapsed() -> None:
    """Three or more blank lines collapse to two."""
    assert neutralise("a\n\n\n\n\n\nb") == "a\n\n\nb"
    assert neutralise("a\n \n\t\n \n\nb") == "a\n\n\nb"
    assert neutralise("a\n\nb") == "a\n\nb"


def test_control_characters_stripped() -> None:
    """Control characters go; tabs and newlines stay; carriage returns become newlines."""
    assert neutralise("a\x00b\x1b[31mc\x7f\td\r\ne\x85") == "ab[31mc\td\ne"


@settings(max_examples=150, deadline=None)
@given(text=hostile_text, fmt=formats)
def test_to_discord_output_inert(text: str, fmt: TextFormat) -> None:
    """Whatever the input, converted text holds no mention, masked link or UI line start."""
    assert_inert(to_discord(text, fmt))


@settings(max_examples=150, deadline=None)
@given(text=hostile_text)
def test_neutralise_idempotent_and_inert(text: str) -> None:
    """Neutralising twice changes nothing more, and the result is inert."""
    once = neutralise(text)
    assert neutralise(once) == once
    assert_inert(once)


# --- truncating -----------------------------------------------------------------------------


def test_truncate_short_text_unchanged() -> None:
    """Text within the limit comes back as it is."""
    assert truncate("hello", 5) == "hello"


def test_truncate_prefers_whitespace() -> None:
    """The cut lands on a nearby word boundary and ends with the ellipsis."""
    assert truncate("alpha beta gamma delta", 15) == "alpha beta…"


def test_truncate_no_dangling_backslash() -> None:
    """A cut right after a backslash drops it, so it cannot escape what follows."""
    assert truncate("abc\\*def", 5) == "abc…"
    assert truncate("ab" + "\\" * 10, 8) == "ab…"


def test_truncate_no_half_zero_width_sequence() -> None:
    """A cut between `@` and the zero-width space after it drops the zero-width space."""
    text = neutralise("xx @everyone")
    assert truncate(text, 5) == "xx @…"


def test_truncate_tiny_limits() -> None:
    """Limits at or below the ellipsis length still respect the limit."""
    assert truncate("hello", 0) == ""
    assert truncate("hello", 1) == "…"
    assert truncate("hello", 2, more="...") == ".."


def test_truncate_closes_cut_code_block() -> None:
    """A cut inside a code block closes it, so the ellipsis and what follows stay outside."""
    out = truncate("```\n" + "code " * 100 + "\n```", 60)
    assert len(out) <= 60
    assert out.count("```") == 2
    assert out.endswith("…\n```")


@settings(max_examples=150, deadline=None)
@given(text=hostile_text, limit=st.integers(min_value=0, max_value=300))
def test_truncate_respects_limit(text: str, limit: int) -> None:
    """truncate never exceeds the limit, never ends on a backslash, and marks every cut."""
    out = truncate(text, limit)
    assert len(out) <= limit
    if len(text) <= limit:
        assert out == text
    elif limit >= 1:
        assert out.endswith(("…", "…\n```"))
        assert not out.removesuffix("\n```").removesuffix("…").endswith(("\\", ZWSP))
