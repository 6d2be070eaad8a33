"""The network layer against real aiohttp servers on 127.0.0.1: answers, retries, limits, cache."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
import time
import traceback
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bot.cache import TicketCache
from bot.errors import BadAnswer, BadInput, RateLimited, UpstreamUnavailable
from bot.http import USER_AGENT, Http, make_session, parse_retry_after
from bot.providers.base import fingerprint
from bot.redact import Redactor

SECRET = "QuerySecret0123456789abcdef"


class Upstream:
    """A fake provider: answers from a script (the last answer repeats), records arrivals."""

    def __init__(self, *answers):
        self.answers = list(answers) or [(200, {}, b"{}")]
        self.arrivals = []
        self.requests = []

    async def __call__(self, request):
        self.arrivals.append(time.monotonic())
        self.requests.append(request)
        index = min(len(self.arrivals), len(self.answers)) - 1
        status, headers, body = self.answers[index]
        return web.Response(status=status, headers=headers, body=body)

    @property
    def hits(self):
        return len(self.arrivals)


@pytest.fixture
async def serve():
    servers = []

    async def start(handler, *, ssl_context=None):
        async def handle(request):
            return await handler(request)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        server = TestServer(app)
        # No access log: it is the fake provider's, and it prints what it was sent.
        await server.start_server(ssl=ssl_context, access_log=None)
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def session():
    session = make_session(2.0)
    yield session
    await session.close()


@pytest.fixture
def fetcher(session):
    return Http(session, redactor=Redactor(), wait_initial_s=0.01, wait_max_s=0.05)


async def get(fetcher, url, method="GET", **kwargs):
    kwargs.setdefault("rate_per_s", 1000)
    return await fetcher.request(method, str(url), rate_key="k", **kwargs)


def assert_nothing_leaks(exc, secret):
    text = "".join(traceback.format_exception(exc))
    assert secret not in text
    assert secret not in str(exc)
    assert secret not in repr(exc)
    assert exc.__cause__ is None
    assert exc.__context__ is None


async def test_success_returns_the_answer(serve, fetcher):
    """A 200 comes back with its JSON, case-insensitive headers, and our User-Agent was sent."""
    upstream = Upstream((200, {"Content-Type": "application/json"}, b'{"id": 7}'))
    server = await serve(upstream)
    answer = await get(fetcher, server.make_url("/t/7"), params={"q": "1"})
    assert answer.status == 200
    assert answer.json() == {"id": 7}
    assert answer.headers["content-type"] == "application/json"
    assert upstream.requests[0].headers["User-Agent"] == USER_AGENT
    assert upstream.requests[0].query["q"] == "1"


async def test_text_uses_the_declared_charset(serve, fetcher):
    """`text` decodes with the charset of Content-Type."""
    body = "café".encode("latin-1")
    server = await serve(Upstream((200, {"Content-Type": "text/plain; charset=latin-1"}, body)))
    answer = await get(fetcher, server.make_url("/"))
    assert answer.text == "café"


async def test_404_is_returned_not_raised(serve, fetcher):
    """A 404 is the provider's to interpret: it is returned, and not retried."""
    upstream = Upstream((404, {}, b'{"error": "no such ticket"}'))
    server = await serve(upstream)
    answer = await get(fetcher, server.make_url("/t/1"))
    assert answer.status == 404
    assert upstream.hits == 1


async def test_500_then_success_is_retried_into_one_answer(serve, fetcher):
    """A passing 500 is retried and the caller only sees the good answer."""
    upstream = Upstream((500, {}, b"oops"), (200, {}, b'{"ok": true}'))
    server = await serve(upstream)
    answer = await get(fetcher, server.make_url("/t/1"))
    assert answer.status == 200
    assert upstream.hits == 2


async def test_500_forever_raises_upstream_unavailable_after_all_attempts(serve, fetcher):
    """A server that keeps failing gets exactly `attempts` requests, then UpstreamUnavailable."""
    upstream = Upstream((502, {}, b"bad gateway"))
    server = await serve(upstream)
    with pytest.raises(UpstreamUnavailable) as caught:
        await get(fetcher, server.make_url("/t/1"))
    assert caught.value.detail == "HTTP 502"
    assert upstream.hits == 3


async def test_429_with_retry_after_waits_for_the_hint(serve, fetcher):
    """After a 429 with Retry-After: 1 the retry comes about a second later and succeeds."""
    upstream = Upstream((429, {"Retry-After": "1"}, b""), (200, {}, b"{}"))
    server = await serve(upstream)
    answer = await get(fetcher, server.make_url("/t/1"))
    assert answer.status == 200
    assert upstream.hits == 2
    assert upstream.arrivals[1] - upstream.arrivals[0] >= 0.9


async def test_429_with_a_huge_retry_after_raises_rate_limited_at_once(serve, fetcher):
    """A Retry-After beyond the cap is not waited for: RateLimited carries the hint."""
    upstream = Upstream((429, {"Retry-After": "3600"}, b""))
    server = await serve(upstream)
    with pytest.raises(RateLimited) as caught:
        await get(fetcher, server.make_url("/t/1"))
    assert caught.value.retry_after == pytest.approx(3600)
    assert upstream.hits == 1


async def test_429_without_hint_retries_then_raises_rate_limited(serve, fetcher):
    """Repeated 429s without Retry-After end in RateLimited after all attempts."""
    upstream = Upstream((429, {}, b""))
    server = await serve(upstream)
    with pytest.raises(RateLimited) as caught:
        await get(fetcher, server.make_url("/t/1"))
    assert caught.value.retry_after is None
    assert upstream.hits == 3


def test_retry_after_accepts_seconds_and_http_dates():
    """Retry-After is read as seconds or as an HTTP-date; garbage is ignored."""
    in_two_minutes = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    assert parse_retry_after("7") == 7
    assert parse_retry_after(in_two_minutes) == pytest.approx(120, abs=2)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


async def test_post_is_not_retried_on_500(serve, fetcher):
    """A POST that got a 500 is not sent again (it may have had its effect)."""
    upstream = Upstream((500, {}, b""), (200, {}, b"{}"))
    server = await serve(upstream)
    with pytest.raises(UpstreamUnavailable):
        await get(fetcher, server.make_url("/t"), method="POST", data={"a": "b"})
    assert upstream.hits == 1


async def test_post_marked_idempotent_is_retried(serve, fetcher):
    """A POST the provider declares idempotent (a search) is retried like a GET."""
    upstream = Upstream((503, {}, b""), (200, {}, b"{}"))
    server = await serve(upstream)
    answer = await get(fetcher, server.make_url("/search"), method="POST", idempotent=True)
    assert answer.status == 200
    assert upstream.hits == 2


async def test_slow_answer_times_out_as_upstream_unavailable(serve):
    """An answer slower than the timeout ends in UpstreamUnavailable("timed out ...")."""

    async def slow(request):
        await asyncio.sleep(10)
        return web.Response()

    server = await serve(slow)
    async with make_session(0.3) as session:
        fetcher = Http(session, redactor=Redactor(), attempts=2, wait_initial_s=0.01)
        started = time.monotonic()
        with pytest.raises(UpstreamUnavailable) as caught:
            await get(fetcher, server.make_url(f"/t?y={SECRET}"))
    assert caught.value.detail.startswith("timed out after 0.")
    assert time.monotonic() - started < 5
    assert_nothing_leaks(caught.value, SECRET)


async def test_connection_refused_is_upstream_unavailable(fetcher):
    """Nothing listening: UpstreamUnavailable("connection failed"), with no URL in it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(UpstreamUnavailable) as caught:
        await get(fetcher, f"http://127.0.0.1:{port}/t?y={SECRET}")
    assert caught.value.detail == "connection failed"
    assert_nothing_leaks(caught.value, SECRET)


async def test_malformed_json_raises_bad_answer_without_the_body(serve, fetcher):
    """An answer that is not JSON raises BadAnswer("not JSON"), and the body is not in it."""
    server = await serve(Upstream((200, {}, f"<html>{SECRET}".encode())))
    answer = await get(fetcher, server.make_url("/t/1"))
    with pytest.raises(BadAnswer) as caught:
        answer.json()
    assert caught.value.detail == "not JSON"
    assert_nothing_leaks(caught.value, SECRET)


async def test_oversized_answer_raises_bad_answer(serve, session):
    """An answer bigger than the limit is refused rather than buffered."""
    server = await serve(Upstream((200, {}, b"x" * 5000)))
    fetcher = Http(session, redactor=Redactor(), max_body_bytes=1000)
    with pytest.raises(BadAnswer) as caught:
        await get(fetcher, server.make_url("/big"))
    assert caught.value.detail == "answer too large"


async def test_redirect_to_another_host_is_not_followed(serve, fetcher):
    """A redirect comes back as a 3xx answer; the other host never sees the request."""
    elsewhere = Upstream()
    other = await serve(elsewhere)
    server = await serve(Upstream((302, {"Location": str(other.make_url("/steal"))}, b"")))
    answer = await get(fetcher, server.make_url("/t/1"))
    assert answer.status == 302
    assert elsewhere.hits == 0


async def test_non_http_url_is_bad_input_without_the_url(fetcher):
    """A URL that is not http(s) is refused before anything is sent, without echoing it."""
    with pytest.raises(BadInput) as caught:
        await get(fetcher, f"ftp://host/{SECRET}")
    assert SECRET not in str(caught.value)


async def test_rate_limit_never_exceeds_the_rate_in_any_second(serve, fetcher):
    """60 concurrent requests at 25/s: the server never sees more than 25 in any 1 s window."""
    upstream = Upstream()
    server = await serve(upstream)
    url = server.make_url("/t")
    answers = await asyncio.gather(*(get(fetcher, url, rate_per_s=25) for _ in range(60)))
    assert all(answer.status == 200 for answer in answers)
    arrivals = sorted(upstream.arrivals)
    busiest = max(sum(1 for t in arrivals if start <= t < start + 1.0) for start in arrivals)
    assert busiest <= 25


async def test_rate_limit_is_per_key(serve, fetcher):
    """Another credential's budget is separate: its first request does not wait."""
    upstream = Upstream()
    server = await serve(upstream)
    url = str(server.make_url("/t"))
    await fetcher.request("GET", url, rate_key="a", rate_per_s=1)
    started = time.monotonic()
    await fetcher.request("GET", url, rate_key="b", rate_per_s=1)
    assert time.monotonic() - started < 0.5


async def test_waiting_too_long_for_the_local_limit_raises_rate_limited(serve, session):
    """When our own limiter would hold a request past the retry budget, RateLimited is raised."""
    server = await serve(Upstream())
    fetcher = Http(session, redactor=Redactor(), retry_timeout_s=0.2)
    url = server.make_url("/t")
    await get(fetcher, url, rate_per_s=0.5)
    with pytest.raises(RateLimited) as caught:
        await get(fetcher, url, rate_per_s=0.5)
    assert caught.value.detail == "local rate limit"


@pytest.fixture
def cache():
    return TicketCache(ttl_s=30.0, size=1024)


async def test_concurrent_cached_lookups_make_one_upstream_call(serve, fetcher, cache):
    """100 concurrent lookups of one ticket make one request and all get its answer."""
    upstream = Upstream((200, {}, b'{"id": 1}'))
    server = await serve(upstream)

    async def lookup():
        answer = await get(fetcher, server.make_url("/t/1"))
        return answer.json()

    results = await asyncio.gather(*(cache.get(("fake", 1), lookup) for _ in range(100)))
    assert results == [{"id": 1}] * 100
    assert upstream.hits == 1
    assert await cache.get(("fake", 1), lookup) == {"id": 1}
    assert upstream.hits == 1


async def test_failures_reach_all_waiters_and_are_not_cached(cache):
    """A failing lookup fails for every concurrent waiter; the next lookup tries again."""
    calls = 0

    async def flaky():
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        if calls == 1:
            raise UpstreamUnavailable("HTTP 500")
        return "fine"

    results = await asyncio.gather(
        *(cache.get("k", flaky) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, UpstreamUnavailable) for r in results)
    assert await cache.get("k", flaky) == "fine"
    assert calls == 2


async def test_cancelling_one_waiter_does_not_cancel_the_others(cache):
    """A waiter that gives up (cancelled) leaves the shared lookup running for the rest."""
    release = asyncio.Event()

    async def slow():
        await release.wait()
        return 42

    first = asyncio.create_task(cache.get("k", slow))
    second = asyncio.create_task(cache.get("k", slow))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    release.set()
    assert await second == 42
    assert first.cancelled()


async def test_fresh_skips_the_cached_value(cache):
    """`fresh=True` fetches again and refreshes what later lookups get."""
    values = iter([1, 2])

    async def factory():
        return next(values)

    assert await cache.get("k", factory) == 1
    assert await cache.get("k", factory) == 1
    assert await cache.get("k", factory, fresh=True) == 2
    assert await cache.get("k", factory) == 2


async def test_secret_in_query_never_reaches_logs_or_errors(serve, fetcher, caplog):
    """With DEBUG logging and retries, the query secret is in no log record and no traceback."""
    caplog.set_level(logging.DEBUG)
    upstream = Upstream((500, {}, b""))
    server = await serve(upstream)
    with pytest.raises(UpstreamUnavailable) as caught:
        await get(fetcher, f"{server.make_url('/api/ticket')}?y={SECRET}&id=5")
    assert upstream.requests[0].query["y"] == SECRET  # it was sent, just never shown
    attempt_lines = [r for r in caplog.records if r.name == "bot.http"]
    assert len(attempt_lines) == 3
    assert "/api/ticket -> HTTP 500" in attempt_lines[0].getMessage()
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        assert SECRET not in str(vars(record))
    assert SECRET not in caplog.text
    assert_nothing_leaks(caught.value, SECRET)


async def test_known_secret_in_path_is_redacted_in_the_log_line(serve, session, caplog):
    """A secret the redactor knows is masked even where it sits in the URL path."""
    caplog.set_level(logging.DEBUG, logger="bot.http")
    redactor = Redactor()
    redactor.add(SECRET)
    fetcher = Http(session, redactor=redactor)
    server = await serve(Upstream())
    await get(fetcher, server.make_url(f"/u/{SECRET}/tickets"))
    assert SECRET not in caplog.text
    assert "/u/[redacted]/tickets -> HTTP 200" in caplog.text


def test_fingerprint_is_stable_and_hides_its_parts():
    """The same parts give the same short key; the parts themselves are not in it."""
    key = fingerprint("fake", SECRET)
    assert key == fingerprint("fake", SECRET)
    assert len(key) == 32
    assert SECRET not in key
    assert fingerprint("ab", "c") != fingerprint("a", "bc")


def _self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "TicketLens test CA")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_ssl_cert_file_is_honoured(serve, tmp_path, monkeypatch):
    """A private CA in SSL_CERT_FILE is trusted; without it the same server fails verification."""
    cert_path, key_path = _self_signed(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_path, key_path)
    upstream = Upstream()
    server = await serve(upstream, ssl_context=server_context)
    url = server.make_url("/t")
    assert url.scheme == "https"

    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    async with make_session(2.0) as session:
        with pytest.raises(UpstreamUnavailable) as caught:
            await get(Http(session, redactor=Redactor()), url)
    assert caught.value.detail == "TLS verification failed"
    assert upstream.hits == 0

    monkeypatch.setenv("SSL_CERT_FILE", str(cert_path))
    async with make_session(2.0) as session:
        answer = await get(Http(session, redactor=Redactor()), url)
    assert answer.status == 200
    assert upstream.hits == 1
