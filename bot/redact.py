"""
Keeping secrets out of log lines, exception texts and Discord messages.

A `Redactor` knows the credentials the bot holds (the access module adds them as they are
opened) and masks them wherever they show up, plus the generic shapes a credential takes in text
we did not write ourselves: credential-like query parameters, `Authorization`/`Bearer` values,
`apikey: ...` header-ish text and passwords in URLs. Names only one provider uses for its
credential (a query parameter `y`, a form field `identifier`) are learnt from that provider's
contract when it registers (`learn_names`), so no provider is named here.
`install_log_redaction` puts it in front of every log handler.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

__all__ = ["MASK", "MIN_SECRET_LENGTH", "RedactingFilter", "Redactor", "install_log_redaction"]

MASK = "[redacted]"

#: Shorter values are ignored: masking every "abc" would mangle ordinary text, and such a value
#: is no secret worth the name anyway.
MIN_SECRET_LENGTH = 4

# Known secrets are found through an index of their first MIN_SECRET_LENGTH characters: a scan
# costs one dict lookup per character of text whatever the number of secrets, and adding a
# secret costs O(1). A single alternation regex of 10 000 literals is ~100x slower per line in
# `re`, and a prefix-trie regex takes over a second to rebuild each time a secret is added.
_PREFIX = MIN_SECRET_LENGTH

# Names of query parameters (`name=value`) that carry credentials whoever sends them. The bare
# names are matched only as whole words, so `issue_key=PROJ-1` keeps its value while `key=...`
# and `access_token=...` do not.
_QUERY_NAMES = (
    r"key|apikey|api[_-]key|accesskey|access[_-]key"
    r"|(?:[a-z0-9]+[_-])?(?:token|secret|password|passwd)"
)


def _query_re(names: str) -> re.Pattern[str]:
    return re.compile(
        rf"(?<![A-Za-z0-9_-])(?P<name>{names})=(?P<value>[^&\s#\"'<>]+)", re.IGNORECASE
    )


_QUERY_RE = _query_re(_QUERY_NAMES)

# `name: value` text (headers, YAML, JSON, dict reprs). Narrower than the query names: `y: 2`
# and `identifier: 123` are ordinary in logs, `apikey: ...` never is.
_HEADER_NAMES = (
    r"(?:x-)?api[_-]?key|accesskey|access[_-]key"
    r"|(?:[a-z0-9]+[_-])?(?:token|secret|password|passwd)"
)


def _header_re(names: str) -> re.Pattern[str]:
    return re.compile(
        rf"(?<![A-Za-z0-9_-])(?P<name>{names})(?P<sep>[\"']?\s*:\s*[\"']?)"
        r"(?P<value>[^\s\"',;}&]+)",
        re.IGNORECASE,
    )


_HEADER_RE = _header_re(_HEADER_NAMES)


def _alternatives(names: Iterable[str], built_in: str) -> str:
    # Longest first, so a name that is a prefix of another never wins the alternation.
    learnt = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return f"{learnt}|{built_in}"


# `Authorization: <scheme> <value>`: the value is a credential whatever the scheme.
_AUTHORIZATION_RE = re.compile(
    r"(?P<head>\bauthorization[\"']?\s*[:=]\s*[\"']?)"
    r"(?:(?P<scheme>bearer|basic|token|digest|bot)\s+)?(?P<value>[^\s\"',;}]+)",
    re.IGNORECASE,
)
_BEARER_RE = re.compile(r"\b(?P<scheme>bearer)\s+(?P<value>[A-Za-z0-9._~+/=-]+)", re.IGNORECASE)

# `scheme://user:password@host`: the password part.
_URL_PASSWORD_RE = re.compile(
    r"(?P<head>\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)(?P<value>[^@\s/]+)@", re.IGNORECASE
)


def _mask_authorization(match: re.Match[str]) -> str:
    scheme = match["scheme"]
    return f"{match['head']}{scheme} {MASK}" if scheme else f"{match['head']}{MASK}"


class Redactor:
    """
    A bounded set of known secrets, and the masking of them and of generic secret shapes.

    Thread-safe: `add` may run while a logging thread redacts. Readers never lock; they see
    either the old or the new immutable candidate tuple of a prefix.
    """

    def __init__(self, max_size: int = 10_000) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self._max_size = max_size
        # Insertion/refresh order is the eviction order: the secrets still in use stay.
        self._known: OrderedDict[str, None] = OrderedDict()
        # prefix -> secrets starting with it, longest first so the longest match wins.
        self._index: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()
        self._query_names: frozenset[str] = frozenset()
        self._header_names: frozenset[str] = frozenset()
        self._query_re = _QUERY_RE
        self._header_re = _HEADER_RE

    def learn_names(self, *, params: Iterable[str] = (), headers: Iterable[str] = ()) -> None:
        """Also mask the values of these query/form parameters and headers (a provider's own
        credential names, from its contract)."""
        with self._lock:
            query = self._query_names | {p.lower() for p in params if p}
            header = self._header_names | {h.lower() for h in headers if h}
            if query != self._query_names:
                self._query_names = query
                self._query_re = _query_re(_alternatives(query, _QUERY_NAMES))
            if header != self._header_names:
                self._header_names = header
                self._header_re = _header_re(_alternatives(header, _HEADER_NAMES))

    def __len__(self) -> int:
        return len(self._known)

    def add(self, *secrets: str) -> None:
        """Remember secrets (and their URL-encoded forms) so `redact` masks them."""
        with self._lock:
            for secret in secrets:
                if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH:
                    continue
                # A secret with reserved characters reaches URLs (and their logs) encoded.
                for form in dict.fromkeys((secret, quote(secret, safe=""), quote_plus(secret))):
                    self._remember(form)
            while len(self._known) > self._max_size:
                oldest, _ = self._known.popitem(last=False)
                self._unindex(oldest)

    def _remember(self, secret: str) -> None:
        if secret in self._known:
            self._known.move_to_end(secret)
            return
        self._known[secret] = None
        prefix = secret[:_PREFIX]
        candidates = (*self._index.get(prefix, ()), secret)
        self._index[prefix] = tuple(sorted(candidates, key=len, reverse=True))

    def _unindex(self, secret: str) -> None:
        prefix = secret[:_PREFIX]
        remaining = tuple(s for s in self._index.get(prefix, ()) if s != secret)
        if remaining:
            self._index[prefix] = remaining
        else:
            self._index.pop(prefix, None)

    def redact(self, text: str) -> str:
        """Return `text` with every known secret and generic secret shape masked."""
        text = self._mask_known(text)
        text = _AUTHORIZATION_RE.sub(_mask_authorization, text)
        text = _BEARER_RE.sub(rf"\g<scheme> {MASK}", text)
        text = _URL_PASSWORD_RE.sub(rf"\g<head>{MASK}@", text)
        text = self._query_re.sub(rf"\g<name>={MASK}", text)
        return self._header_re.sub(rf"\g<name>\g<sep>{MASK}", text)

    def _mask_known(self, text: str) -> str:
        index = self._index
        if not index or len(text) < _PREFIX:
            return text
        get = index.get
        # Matches are merged into spans so that overlapping or adjacent secrets are masked
        # whole: skipping past the first match would leak the tail of one overlapping it.
        spans: list[tuple[int, int]] = []
        start = end = -1
        for i in range(len(text) - _PREFIX + 1):
            candidates = get(text[i : i + _PREFIX])
            if candidates is None:
                continue
            for secret in candidates:
                if text.startswith(secret, i):
                    if i <= end:
                        end = max(end, i + len(secret))
                    else:
                        if start >= 0:
                            spans.append((start, end))
                        start, end = i, i + len(secret)
                    break
        if start < 0:
            return text
        spans.append((start, end))
        parts: list[str] = []
        last = 0
        for span_start, span_end in spans:
            parts.append(text[last:span_start])
            parts.append(MASK)
            last = span_end
        parts.append(text[last:])
        return "".join(parts)


# Where the filter keeps a record's redacted traceback. Some formatters (discord.py's colour
# formatter) clear `exc_text` after use, so the next handler's filter restores it from here.
_STASH = "_ticketlens_redacted_exc_text"


class RedactingFilter(logging.Filter):
    """Redacts a record's message, arguments, traceback and stack before any handler sees it."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        redact = self.redactor.redact
        try:
            message = record.getMessage()
        except Exception:
            # A broken format string must not lose the record; the args might hold a secret,
            # so only the template is kept.
            message = f"{record.msg} (unformattable arguments)"
        record.msg = redact(message)
        record.args = None

        if record.exc_info:
            if not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            # Formatters that re-render exc_info themselves (discord.py's does) would print
            # the unredacted text; without exc_info they print our exc_text.
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
            setattr(record, _STASH, record.exc_text)
        elif stashed := getattr(record, _STASH, None):
            record.exc_text = stashed
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


#: discord.py logs whole payloads at DEBUG on these: gateway events carry interaction data
#: (modal values are the credentials admins type), HTTP and webhook logs carry request bodies.
_PAYLOAD_LOGGERS = (
    "discord.gateway",
    "discord.http",
    "discord.webhook.async_",
    "discord.webhook.sync",
)


def install_log_redaction(redactor: Redactor, level: int) -> None:
    """
    Put a `RedactingFilter` in front of every handler of the root logger.

    Call it after logging is configured (e.g. after `discord.utils.setup_logging`, and run the
    client with `log_handler=None` so it adds no handler of its own later): a handler added
    afterwards is not covered unless this is called again (calling it twice is harmless). If the
    root logger has no handler yet, a stderr handler at `level` is added, so records never fall
    through to logging's unfiltered last-resort handler.
    """
    root = logging.getLogger()
    if not root.handlers:
        fallback = logging.StreamHandler(sys.stderr)
        fallback.setFormatter(logging.Formatter("%(asctime)s %(levelname)-8s %(name)s %(message)s"))
        fallback.setLevel(level)
        root.addHandler(fallback)
    for handler in root.handlers:
        existing = [f for f in handler.filters if isinstance(f, RedactingFilter)]
        if existing:
            for redacting in existing:
                redacting.redactor = redactor
        else:
            handler.addFilter(RedactingFilter(redactor))

    # Even with the filter, a payload is JSON we cannot reliably redact (a modal value is just
    # a string among others), so these loggers never go below INFO.
    for name in _PAYLOAD_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.INFO))
