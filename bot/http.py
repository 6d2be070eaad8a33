"""
The one place that touches the network: HTTP only.

`Http.request` sends one logical request: it waits for the credential's turn (`bot.ratelimit`),
retries what is safe to retry, and turns transport failures into `bot.errors` types whose text
holds no URL and no aiohttp message (both may carry a credential in a query string). Everything
the provider must interpret itself (2xx, 3xx, 4xx but 429) comes back as an `HttpAnswer`.

Each provider gets an `Http.bind(...)` client (`ProviderHttp`) fixed to its rate and trust
level, and passes the credential with each request, which makes the rate key. A provider with
a URL credential field is bound untrusted: its requests are https only, never redirected, and
go through a second session whose resolver refuses non-public addresses at connect time
(`bot.netguard`); `Http.check_url` applies the same rule when such a URL is saved.
`allow_private_urls` (ALLOW_PRIVATE_URLS) lifts the address and https rules.

With `Http.instrument(metrics)` (the bot does it), each attempt is measured under its
provider's key: its time, how it failed (timeouts, connection failures, 429, 5xx; an answer
the provider interprets, such as a 404, is not a failure here), and the rate limiter's wait.
"""

from __future__ import annotations

import asyncio
import codecs
import email.message
import email.utils
import enum
import functools
import json
import logging
import math
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Final

import aiohttp
import stamina
from aiohttp.abc import AbstractResolver
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from bot import netguard
from bot.errors import BadAnswer, BadInput, RateLimited, UpstreamUnavailable
from bot.metrics import Metrics
from bot.providers.base import fingerprint_of
from bot.ratelimit import RateLimits, check_rate
from bot.redact import Redactor
from bot.usage import Usage

__all__ = [
    "MAX_BODY_BYTES",
    "USER_AGENT",
    "Http",
    "HttpAnswer",
    "ProviderHttp",
    "make_session",
    "parse_retry_after",
]

_log = logging.getLogger(__name__)

USER_AGENT: Final = "TicketLens/0.1 (+discord bot)"

#: A ticket is a few hundred KiB at worst; a self-hosted URL must not make us buffer gigabytes.
MAX_BODY_BYTES: Final = 8 * 1024 * 1024

_IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD"})
_RETRY_AFTER_STATUSES: Final = frozenset({429, 503})
_CHUNK_BYTES: Final = 64 * 1024
#: The provider label of a request made without one (not through a `ProviderHttp`).
NO_PROVIDER: Final = "unknown"


@dataclass(frozen=True)
class HttpAnswer:
    """An upstream answer, read in full."""

    status: int
    headers: Mapping[str, str]
    """Case-insensitive (a `CIMultiDictProxy`)."""
    body: bytes

    def json(self) -> Any:
        """The body as JSON; `BadAnswer("not JSON")` if it is not."""
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):
            pass
        # Raised outside the except block: a JSONDecodeError holds the whole body in `.doc`,
        # and the body may echo what we sent (credentials included).
        raise BadAnswer("not JSON")

    @property
    def text(self) -> str:
        """The body decoded with the charset the server declared (UTF-8 if none or unknown)."""
        return self.body.decode(self._charset(), errors="replace")

    def _charset(self) -> str:
        message = email.message.Message()
        message["content-type"] = self.headers.get("Content-Type", "")
        charset = message.get_content_charset() or "utf-8"
        try:
            codecs.lookup(charset)
        except LookupError:
            return "utf-8"
        return charset


def make_session(
    timeout_s: float, *, resolver: AbstractResolver | None = None
) -> aiohttp.ClientSession:
    """
    The process's one HTTP session; create it inside the running event loop, close it on exit.

    Certificates are checked against the system trust store through OpenSSL's default paths,
    so `SSL_CERT_FILE`/`SSL_CERT_DIR` work for self-hosted systems behind a private CA.
    `resolver` replaces aiohttp's (the guarded session for guild-supplied URLs passes a
    `bot.netguard.GuardedResolver`).
    """
    timeout = aiohttp.ClientTimeout(total=timeout_s, connect=min(timeout_s, 5.0))
    return _new_session(timeout, resolver)


def _new_session(
    timeout: aiohttp.ClientTimeout, resolver: AbstractResolver | None
) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(ssl=ssl.create_default_context(), resolver=resolver)
    return aiohttp.ClientSession(
        timeout=timeout, connector=connector, headers={"User-Agent": USER_AGENT}
    )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a `Retry-After` value (delay-seconds or HTTP-date); None if unusable."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)  # HTTP-dates are always GMT.
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


class _Failure(enum.Enum):
    """How an attempt failed; the values are safe to show."""

    TIMEOUT = "timed out"
    TLS = "TLS verification failed"
    CUT_SHORT = "answer cut short"
    CONNECTION = "connection failed"
    INVALID = "invalid HTTP answer"
    TOO_LARGE = "answer too large"


#: `ticketlens_upstream_errors_total{kind}` of each failure (`bot.metrics.UPSTREAM_ERROR_KINDS`).
_ERROR_KIND: Final = {
    _Failure.TIMEOUT: "timeout",
    _Failure.TLS: "tls",
    _Failure.CUT_SHORT: "cut_short",
    _Failure.CONNECTION: "connect",
    _Failure.INVALID: "invalid",
    _Failure.TOO_LARGE: "too_large",
}


#: What a refused guild-supplied URL reads like (after the reason from `bot.netguard`).
_REFUSED_HINT: Final = (
    "TicketLens only connects to https URLs of public addresses (the bot's operator can allow "
    "private ones with ALLOW_PRIVATE_URLS)"
)


def _refused(reason: str) -> BadInput:
    return BadInput(f"The URL was refused: {reason}. {_REFUSED_HINT}.")


def _error_kind(outcome: HttpAnswer | _Failure) -> str | None:
    """The metrics' kind of a failed attempt; None for an answer the provider interprets."""
    if isinstance(outcome, _Failure):
        return _ERROR_KIND[outcome]
    if outcome.status == 429:
        return "http_429"
    if outcome.status >= 500:
        return "http_5xx"
    return None


class _AttemptFailed(Exception):
    """
    A failed attempt, and whether another one may succeed. Internal: it never leaves
    `Http.request`.

    Its text is safe (stamina logs its repr when it schedules a retry).
    """

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        retryable: bool = True,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.retry_after = retry_after
        self.retryable = retryable

    def to_error(self) -> RateLimited | UpstreamUnavailable:
        if self.status == 429:
            return RateLimited(retry_after=self.retry_after, detail=self.detail)
        if self.retry_after is not None:
            return UpstreamUnavailable(f"{self.detail}, retry after {self.retry_after:.0f} s")
        return UpstreamUnavailable(self.detail)


class Http:
    """Rate-limited, retrying, redacting HTTP requests over the process's one session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        redactor: Redactor,
        attempts: int = 3,
        retry_timeout_s: float = 20.0,
        wait_initial_s: float = 0.2,
        wait_max_s: float = 5.0,
        max_retry_after_s: float = 30.0,
        limiter_slots: int = 10_000,
        max_body_bytes: int = MAX_BODY_BYTES,
        allow_private_urls: bool = False,
        untrusted_resolver: AbstractResolver | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        """
        `allow_private_urls` lifts the address and https rules for guild-supplied URLs;
        `untrusted_resolver` is the name resolver behind their guard (tests inject one; by
        default aiohttp's threaded resolver, i.e. the system's getaddrinfo); `metrics`, if
        given, is measured into (see `instrument`).
        """
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self._session = session
        self._redactor = redactor
        self._attempts = attempts
        self._retry_timeout_s = retry_timeout_s
        self._wait_initial_s = wait_initial_s
        self._wait_max_s = wait_max_s
        self._max_retry_after_s = max_retry_after_s
        self._max_body_bytes = max_body_bytes
        self._limits = RateLimits(max_wait_s=retry_timeout_s, slots=limiter_slots)
        self.allow_private_urls = allow_private_urls
        self._untrusted_resolver = untrusted_resolver
        self._guarded: aiohttp.ClientSession | None = None
        self.metrics = metrics
        self.usage: Usage | None = None

    def instrument(self, metrics: Metrics) -> None:
        """Measure every request from now on into `metrics` (the bot's own)."""
        self.metrics = metrics

    def count_usage(self, usage: Usage) -> None:
        """Count every request sent with a credential from now on into `usage` (the bot's
        own; `/ticketconfig show` reads it)."""
        self.usage = usage

    @property
    def redactor(self) -> Redactor:
        """The redactor every line about a request goes through."""
        return self._redactor

    def bind(
        self, *, rate_per_s: float, untrusted_urls: bool = False, provider: str = NO_PROVIDER
    ) -> ProviderHttp:
        """A client for one provider: its rate per credential, whether its URLs are a
        guild's (see the module docstring), and its key (the metrics' provider label)."""
        return ProviderHttp(
            self, check_rate(rate_per_s), untrusted_urls=untrusted_urls, provider=provider
        )

    async def close(self) -> None:
        """Close what this opened itself (the guarded session); the caller's session stays."""
        if self._guarded is not None:
            await self._guarded.close()
            self._guarded = None

    # -- guild-supplied URLs ---------------------------------------------------------------------

    async def check_url(self, url: str) -> None:
        """
        Check a guild-supplied URL before it is saved: `BadInput` with the reason if refused.

        https, a host that resolves now, and only to public addresses (both rules lifted by
        `allow_private_urls`). Requests check again at connect time.
        """
        try:
            await netguard.check_url(
                url, allow_private=self.allow_private_urls, resolver=self._untrusted_resolver
            )
        except netguard.UrlRefused as exc:
            reason = exc.reason
        else:
            return
        raise _refused(reason)

    def _session_for(self, url: str, *, untrusted: bool) -> aiohttp.ClientSession:
        if not untrusted or self.allow_private_urls:
            if untrusted:
                problem = netguard.url_problem(url, allow_private=True)
                if problem is not None:
                    raise _refused(problem)
            return self._session
        problem = netguard.url_problem(url, allow_private=False)
        if problem is not None:
            raise _refused(problem)
        if self._guarded is None or self._guarded.closed:
            # Its own connection pool and DNS cache: a connection or an address the main
            # session obtained without the guard is never reused for a guild's URL.
            self._guarded = _new_session(
                self._session.timeout, netguard.GuardedResolver(self._untrusted_resolver)
            )
        return self._guarded

    # -- requests ------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        url: str,
        *,
        rate_key: str,
        rate_per_s: float,
        owner: object = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        follow_redirects: bool = False,
        untrusted_url: bool = False,
        provider: str = NO_PROVIDER,
        usage_key: str | None = None,
    ) -> HttpAnswer:
        """
        Send one request and return its answer; raise only `bot.errors` types.

        GET and HEAD (or `idempotent=True`) are retried on connection failures, timeouts, 5xx
        and 429, honouring `Retry-After` up to `max_retry_after_s`. After that, 429 raises
        `RateLimited`, the rest `UpstreamUnavailable`. At most `rate_per_s` attempts start
        per second for one (owner, rate_key); `rate_key` must not be a secret (see
        `bot.providers.base.fingerprint`). Redirects are not followed unless asked: a
        self-hosted URL must not lead us elsewhere with the credential.

        `untrusted_url=True` marks a URL a guild supplied: it must be https and its host must
        resolve to public addresses, checked when the connection is opened (`BadInput` if not;
        see `bot.netguard`), and redirects are never followed. `provider` labels its metrics.
        With `usage_key` (a credential's fingerprint), each attempt is counted under it and
        `provider` in the bot's `Usage` (`count_usage`).
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in _IDEMPOTENT_METHODS
        safe_url = _loggable_url(url)
        session = self._session_for(url, untrusted=untrusted_url)
        if untrusted_url:
            follow_redirects = False
        turn = partial(self._limits.acquire, owner, rate_key, rate_per_s)
        send = partial(
            self._attempt,
            session,
            method,
            url,
            safe_url,
            turn,
            params=params,
            headers=headers,
            data=data,
            follow_redirects=follow_redirects,
            provider=provider,
            usage_key=usage_key,
        )
        deadline = time.monotonic() + self._retry_timeout_s
        hook = self._backoff_hook(deadline)
        attempts = self._attempts if idempotent else 1
        # The first attempt runs outside stamina: nearly every lookup succeeds at once, and
        # building the retry machinery for each of them cost ~4% of a lookup's CPU (py-spy).
        try:
            return await send(1)
        except _AttemptFailed as exc:
            failure = exc
        first_wait = hook(failure) if attempts > 1 else False
        if first_wait is not False:
            await asyncio.sleep(
                first_wait
                if not isinstance(first_wait, bool)
                # stamina's first wait: the initial wait plus up to as much jitter.
                else self._wait_initial_s * (1 + random.random())  # noqa: S311 - jitter, not a key
            )
            try:
                async for attempt in stamina.retry_context(
                    on=hook,
                    attempts=attempts - 1,
                    timeout=max(0.0, deadline - time.monotonic()),
                    wait_initial=self._wait_initial_s * 2,
                    wait_max=self._wait_max_s,
                    # stamina's default jitter (1 s) would dwarf a 0.2 s initial wait.
                    wait_jitter=self._wait_initial_s,
                ):
                    with attempt:
                        return await send(attempt.num + 1)
            except _AttemptFailed as exc:
                failure = exc
        # Raised outside the except block so nothing (no aiohttp exception) is chained.
        raise failure.to_error() from None

    def _backoff_hook(self, deadline: float) -> Callable[[Exception], bool | float]:
        max_retry_after = self._max_retry_after_s

        def hook(exc: Exception) -> bool | float:
            if not isinstance(exc, _AttemptFailed) or not exc.retryable:
                return False
            if exc.retry_after is None:
                return True  # stamina's exponential backoff with jitter.
            if exc.retry_after > max_retry_after or time.monotonic() + exc.retry_after > deadline:
                # Waiting that long would hold the user's command for nothing: give up now
                # and let the caller show when to try again.
                return False
            return exc.retry_after

        return hook

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: str,
        safe_url: str,
        turn: Callable[[], Awaitable[float]],
        attempt_num: int,
        *,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        data: Mapping[str, str] | None,
        follow_redirects: bool,
        provider: str,
        usage_key: str | None = None,
    ) -> HttpAnswer:
        waited = await turn()
        metrics = self.metrics
        if metrics is not None:
            metrics.observe_ratelimit_wait(waited)
        loop = asyncio.get_running_loop()
        started = loop.time()
        outcome = await self._send(
            session,
            method,
            url,
            params=params,
            headers=headers,
            data=data,
            follow=follow_redirects,
        )
        elapsed = loop.time() - started
        if metrics is not None:
            metrics.observe_upstream(provider, elapsed)
            kind = _error_kind(outcome)
            if kind is not None:
                metrics.upstream_error(provider, kind)
        if self.usage is not None and usage_key is not None:
            # Sent, so counted, answered or not; the headers may announce the allowance left.
            if isinstance(outcome, HttpAnswer):
                self.usage.record(provider, usage_key, outcome.status, outcome.headers)
            else:
                self.usage.record(provider, usage_key)
        if _log.isEnabledFor(logging.DEBUG):
            shown = f"HTTP {outcome.status}" if isinstance(outcome, HttpAnswer) else outcome.value
            line = (
                f"{method} {safe_url} -> {shown} in {elapsed * 1000:.0f} ms (attempt {attempt_num})"
            )
            _log.debug("%s", self._redactor.redact(line))

        if isinstance(outcome, HttpAnswer):
            status = outcome.status
            if status == 429 or status >= 500:
                retry_after = (
                    parse_retry_after(outcome.headers.get("Retry-After"))
                    if status in _RETRY_AFTER_STATUSES
                    else None
                )
                raise _AttemptFailed(f"HTTP {status}", status=status, retry_after=retry_after)
            return outcome
        if outcome in (_Failure.TOO_LARGE, _Failure.INVALID):
            raise BadAnswer(outcome.value)
        if outcome is _Failure.TIMEOUT:
            raise _AttemptFailed(f"timed out after {elapsed:.1f} s")
        # A certificate that failed verification will fail again.
        raise _AttemptFailed(outcome.value, retryable=outcome is not _Failure.TLS)

    async def _send(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        data: Mapping[str, str] | None,
        follow: bool,
    ) -> HttpAnswer | _Failure:
        """
        The answer, or what went wrong (never aiohttp's text: it holds the URL).

        A guild-supplied URL whose host the guard refused raises `BadInput` (not retried).
        """
        refused: str | None = None
        try:
            async with session.request(
                method,
                url,
                params=params,
                headers=headers,
                data=data,
                allow_redirects=follow,
            ) as response:
                body = await self._read_body(response)
                if body is None:
                    return _Failure.TOO_LARGE
                return HttpAnswer(
                    status=response.status,
                    headers=CIMultiDictProxy(CIMultiDict(response.headers)),
                    body=body,
                )
        # ServerTimeoutError and friends are TimeoutErrors too.
        except TimeoutError:
            return _Failure.TIMEOUT
        except aiohttp.ClientConnectorDNSError as exc:
            if not isinstance(exc.os_error, netguard.AddressRefused):
                return _Failure.CONNECTION
            refused = exc.os_error.reason
        # Before ClientConnectionError, which it subclasses: a bad certificate stays bad.
        except aiohttp.ClientSSLError:
            return _Failure.TLS
        except aiohttp.ClientPayloadError:
            return _Failure.CUT_SHORT
        except aiohttp.ClientConnectionError:
            return _Failure.CONNECTION
        except aiohttp.ClientError:
            # Unparseable status line or headers, too many redirects, invalid redirect URL.
            return _Failure.INVALID
        # Raised outside the except blocks so no aiohttp exception (with the URL) is chained.
        raise _refused(refused)

    async def _read_body(self, response: aiohttp.ClientResponse) -> bytes | None:
        limit = self._max_body_bytes
        if response.content_length is not None:
            if response.content_length > limit:
                return None
            # Length known and acceptable: one read, no chunk loop (the common case).
            return await response.read()
        body = bytearray()
        async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
            body += chunk
            if len(body) > limit:
                return None
        return bytes(body)


class ProviderHttp:
    """
    One provider's HTTP client: bound once to its rate (per credential) and trust level.

    `untrusted_urls` (a provider with a URL credential field) makes every request go through
    the URL guard, without redirects. Errors come out without a provider: the lookup and the
    save-time check stamp it on.
    """

    __slots__ = ("_http", "provider", "rate_per_s", "untrusted_urls")

    def __init__(
        self, http: Http, rate_per_s: float, *, untrusted_urls: bool, provider: str = NO_PROVIDER
    ) -> None:
        self._http = http
        self.rate_per_s = rate_per_s
        self.untrusted_urls = untrusted_urls
        self.provider = provider

    async def request(
        self,
        method: str,
        url: str,
        *,
        credential: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> HttpAnswer:
        """Send one request made with `credential` (its fingerprint is the rate key, and
        the key its use is counted under)."""
        key = fingerprint_of(credential)
        return await self._http.request(
            method,
            url,
            rate_key=key,
            rate_per_s=self.rate_per_s,
            owner=self,
            params=params,
            headers=headers,
            data=data,
            idempotent=idempotent,
            untrusted_url=self.untrusted_urls,
            provider=self.provider,
            usage_key=key,
        )

    def quote(self, text: str, secrets: Iterable[str], *, limit: int) -> str:
        """
        An upstream message as it may be shown: `secrets` (the credential's own, which the
        redactor learns here if it did not know them yet) and every other known secret masked,
        on one line, at most `limit` characters.
        """
        redactor = self._http.redactor
        redactor.add(*secrets)
        line = " ".join(redactor.redact(text).split())
        return line if len(line) <= limit else line[: limit - 1] + "…"


@functools.lru_cache(maxsize=1024)
def _loggable_url(url: str) -> str:
    """`url` without query, fragment and user info: what a log line may show."""
    try:
        parsed = URL(url)
    except (TypeError, ValueError):
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        # Not the URL in the detail: it may be a credential pasted in the wrong field.
        raise BadInput("not an http(s) URL")
    return str(parsed.with_user(None).with_query(None).with_fragment(None))
