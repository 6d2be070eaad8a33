"""Secrets never reach a log line: the Redactor, the logging filter and its installation."""

from __future__ import annotations

import io
import logging
import string

import pytest
from discord.utils import _ColourFormatter
from hypothesis import assume, given
from hypothesis import strategies as st

from bot.redact import MASK, RedactingFilter, Redactor, install_log_redaction

SECRET = "s3cr3t-Key_0123456789abcdef"


@pytest.fixture
def redactor():
    redactor = Redactor()
    redactor.add(SECRET)
    return redactor


@pytest.fixture
def restore_logging():
    """Give the test the root logger and discord's loggers back as they were."""
    root = logging.getLogger()
    handlers, root_level = root.handlers[:], root.level
    filters = {h: h.filters[:] for h in handlers}
    names = ("discord.gateway", "discord.http", "discord.webhook.async_", "discord.webhook.sync")
    levels = {name: logging.getLogger(name).level for name in names}
    yield root
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    for handler, kept in filters.items():
        handler.filters[:] = kept
    root.setLevel(root_level)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def _logger_to(stream, redactor, formatter=None):
    logger = logging.getLogger(f"test_redact.{id(stream)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter or logging.Formatter("%(message)s"))
    handler.addFilter(RedactingFilter(redactor))
    logger.addHandler(handler)
    return logger, handler


def test_known_secret_replaced_everywhere_in_text(redactor):
    """Every occurrence of a registered secret becomes [redacted], the rest of the text stays."""
    text = f"key {SECRET} then again:{SECRET}."
    assert redactor.redact(text) == f"key {MASK} then again:{MASK}."


def test_url_encoded_form_of_a_secret_is_masked_too():
    """A secret with reserved characters is also masked in its URL-encoded form."""
    redactor = Redactor()
    redactor.add("p@ss w/rd+1")
    out = redactor.redact("GET /login?u=me&x=p%40ss%20w%2Frd%2B1 and form x=p%40ss+w%2Frd%2B1")
    assert "p%40ss" not in out
    assert out.count(MASK) == 2


def test_short_and_empty_values_are_ignored():
    """Values under 4 characters are not registered, so ordinary words are left alone."""
    redactor = Redactor()
    redactor.add("", "a", "abc")
    assert len(redactor) == 0
    assert redactor.redact("a cab abc") == "a cab abc"


def test_overlapping_secrets_are_masked_whole():
    """Two secrets overlapping in the text leave no tail of either behind."""
    redactor = Redactor()
    redactor.add("abcdef", "defghi")
    assert redactor.redact("x abcdefghi y") == f"x {MASK} y"


def test_the_set_of_secrets_is_bounded_and_keeps_the_recent_ones():
    """Past its size the redactor forgets the oldest secrets, not the ones used lately."""
    redactor = Redactor(max_size=3)
    redactor.add("old-secret-1", "old-secret-2", "old-secret-3")
    redactor.add("old-secret-1")  # used again: stays
    redactor.add("new-secret-4")
    assert len(redactor) == 3
    assert redactor.redact("old-secret-2") == "old-secret-2"
    assert redactor.redact("old-secret-1 new-secret-4") == f"{MASK} {MASK}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://h/api?u=bob&KEY=abc123", f"https://h/api?u=bob&KEY={MASK}"),
        ("?apikey=1&api_key=2&Token=3", f"?apikey={MASK}&api_key={MASK}&Token={MASK}"),
        ("secret=s&password=p&accesskey=a", f"secret={MASK}&password={MASK}&accesskey={MASK}"),
        ("?access_token=t1&client_secret=t2", f"?access_token={MASK}&client_secret={MASK}"),
        ("?issue_key=PROJ-1&day=5&monkey=9", "?issue_key=PROJ-1&day=5&monkey=9"),
    ],
)
def test_credential_query_parameters_are_masked(text, expected):
    """Query parameters named like credentials lose their value; other parameters keep theirs."""
    assert Redactor().redact(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://h/api?y=abc123&u=bob", f"https://h/api?y={MASK}&u=bob"),
        ("?identifier=me@x.org&page=2", f"?identifier={MASK}&page=2"),
        ("sent Y=abc123", f"sent Y={MASK}"),
        ("X-Team-Token: abc123", f"X-Team-Token: {MASK}"),
        ("?key_y=1&by=2", "?key_y=1&by=2"),
    ],
)
def test_names_learnt_from_a_provider_contract_are_masked(text, expected):
    """A provider's own secret parameter and header names are masked once learnt, and only
    as whole names; before that, `y=` is ordinary text."""
    redactor = Redactor()
    assert redactor.redact("?y=abc123") == "?y=abc123"
    redactor.learn_names(params={"y", "identifier"}, headers={"X-Team-Token"})
    assert redactor.redact(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer eyJhbGci.x-y_z", f"Authorization: Bearer {MASK}"),
        (
            "headers={'Authorization': 'Basic dXNlcjpwdw=='}",
            f"headers={{'Authorization': 'Basic {MASK}'}}",
        ),
        ("sent bearer abc.def", f"sent bearer {MASK}"),
        ("apikey: 0123abcd", f"apikey: {MASK}"),
        ('{"X-API-Key": "0123abcd", "n": 1}', f'{{"X-API-Key": "{MASK}", "n": 1}}'),
        ("https://bob:hunter22@host/path", f"https://bob:{MASK}@host/path"),
        ("x: 1, y: 2, identifier: 3", "x: 1, y: 2, identifier: 3"),
    ],
)
def test_bearer_authorization_and_header_text_are_masked(text, expected):
    """Bearer tokens, Authorization values, apikey headers and URL passwords are masked."""
    assert Redactor().redact(text) == expected


@given(
    secret=st.text(alphabet=string.ascii_letters + string.digits, min_size=4, max_size=40),
    before=st.text(max_size=40),
    after=st.text(max_size=40),
)
def test_a_registered_secret_never_survives_redaction(secret, before, after):
    """Whatever surrounds a registered secret, the redacted text does not contain it."""
    assume(secret not in MASK)
    redactor = Redactor()
    redactor.add(secret)
    assert secret not in redactor.redact(before + secret + after)


def test_filter_redacts_message_and_args(redactor):
    """A secret passed as a %-argument is redacted in the emitted line."""
    stream = io.StringIO()
    logger, _ = _logger_to(stream, redactor)
    logger.info("calling %s with %r", "https://h/x?apikey=abc", {"key": SECRET})
    line = stream.getvalue()
    assert SECRET not in line
    assert "abc" not in line
    assert line.startswith("calling https://h/x?apikey=[redacted] with")


def test_filter_redacts_exception_text(redactor):
    """A secret in an exception message is redacted in the logged traceback."""
    stream = io.StringIO()
    logger, _ = _logger_to(stream, redactor)
    try:
        raise RuntimeError(f"upstream refused {SECRET}")
    except RuntimeError:
        logger.exception("lookup failed")
    out = stream.getvalue()
    assert SECRET not in out
    assert "Traceback" in out
    assert f"RuntimeError: upstream refused {MASK}" in out


def test_traceback_redacted_for_every_handler_even_with_discord_formatter(redactor):
    """discord.py's colour formatter re-renders exc_info; it still prints only redacted text."""
    first, second = io.StringIO(), io.StringIO()
    logger, _ = _logger_to(first, redactor, _ColourFormatter())
    handler = logging.StreamHandler(second)
    handler.addFilter(RedactingFilter(redactor))
    logger.addHandler(handler)
    try:
        raise RuntimeError(SECRET)
    except RuntimeError:
        logger.exception("boom")
    for out in (first.getvalue(), second.getvalue()):
        assert SECRET not in out
        assert f"RuntimeError: {MASK}" in out


def test_filter_never_drops_records(redactor):
    """Records with broken format arguments are still emitted (without their arguments)."""
    stream = io.StringIO()
    logger, _ = _logger_to(stream, redactor)
    logger.warning("two %s %s", SECRET)
    out = stream.getvalue()
    assert "two %s %s" in out
    assert SECRET not in out


def test_install_covers_root_handlers_and_keeps_discord_payloads_out(restore_logging):
    """At DEBUG, root handlers redact and discord's payload loggers stay at INFO."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    restore_logging.addHandler(handler)
    restore_logging.setLevel(logging.DEBUG)
    redactor = Redactor()
    redactor.add(SECRET)

    install_log_redaction(redactor, logging.DEBUG)
    install_log_redaction(redactor, logging.DEBUG)  # twice: still one filter per handler

    assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
    for name in ("discord.gateway", "discord.http", "discord.webhook.async_"):
        assert logging.getLogger(name).getEffectiveLevel() == logging.INFO
    logging.getLogger("discord.gateway").debug("WebSocket Event: %s", {"value": SECRET})
    logging.getLogger("ticketlens.test").debug("got %s", SECRET)
    out = stream.getvalue()
    assert "WebSocket Event" not in out
    assert f"got {MASK}" in out
    assert SECRET not in out


def test_install_with_warning_level_keeps_it(restore_logging):
    """A level above INFO is applied as is to discord's payload loggers."""
    install_log_redaction(Redactor(), logging.WARNING)
    assert logging.getLogger("discord.http").level == logging.WARNING
