"""Guild-supplied URLs: the address and https rules, at save time and at connect time."""

from __future__ import annotations

import socket

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver
from aiohttp.test_utils import TestServer

from bot.errors import BadInput
from bot.http import Http, make_session
from bot.netguard import (
    AddressRefused,
    GuardedResolver,
    UrlRefused,
    address_problem,
    check_url,
    url_problem,
)
from bot.redact import Redactor


class MapResolver(AbstractResolver):
    """Resolves names from a dict (a list of answers per name is used in turn)."""

    def __init__(self, names):
        self.names = {k: list(v) if isinstance(v, list) else [v] for k, v in names.items()}
        self.asked = []

    async def resolve(self, host, port=0, family=socket.AF_INET):
        self.asked.append(host)
        answers = self.names.get(host)
        if not answers:
            raise OSError("no such name")
        address = answers.pop(0) if len(answers) > 1 else answers[0]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [
            {"hostname": host, "host": address, "port": port, "family": family, "proto": 0,
             "flags": 0}
        ]  # fmt: skip

    async def close(self):
        pass


@pytest.fixture
async def upstream():
    """A local server counting the requests that reach it."""
    hits = []

    async def handle(request):
        hits.append(request.path)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    server = TestServer(app)
    await server.start_server(access_log=None)
    server.hits = hits
    yield server
    await server.close()


@pytest.fixture
async def session():
    """A plain session, as the bot has."""
    async with make_session(2.0) as session:
        yield session


async def send(fetcher, url, **kwargs):
    """An untrusted-URL POST through `fetcher`."""
    return await fetcher.request(
        "POST", url, rate_key="k", rate_per_s=1000, untrusted_url=True, **kwargs
    )


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),  # noqa: S104
        ("::", "unspecified"),
        ("240.0.0.1", "private"),
        ("100.64.0.1", "non-public"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.1.2.3", "private"),
        ("2002:7f00:1::", "loopback"),
        ("64:ff9b::a00:1", "private"),
    ],
)
def test_non_public_addresses_are_named(address, kind):
    """Loopback, private, link-local, multicast, unspecified, reserved and tunnels to them."""
    assert address_problem(address) == f"a{'n' if kind[0] in 'aeiou' else ''} {kind} address"


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_addresses_pass(address):
    """Public unicast addresses, also written as IPv4-mapped or NAT64, have no problem."""
    assert address_problem(address) is None


@pytest.mark.parametrize(
    ("url", "allow", "expected"),
    [
        ("http://billing.example.com", False, "https://"),
        ("ftp://billing.example.com", True, "https://"),
        ("billing.example.com", False, "https://"),
        ("https://user:pw@billing.example.com", False, "user name or password"),
        ("https://10.0.0.1", False, "a private address (10.0.0.1)"),
        ("https://[::1]:8443/", False, "a loopback address (::1)"),
        ("https://127.1/", False, "not a valid IP address"),
        ("https://billing.example.com/whmcs", False, None),
        ("http://127.0.0.1:8080", True, None),
    ],
)
def test_url_rules_without_resolving(url, allow, expected):
    """https only, no user info, IP literals must be public; ALLOW_PRIVATE_URLS lifts both."""
    problem = url_problem(url, allow_private=allow)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None
        assert expected in problem


async def test_check_url_resolves_the_name_now():
    """At save: a name resolving to a private address is refused, a public one passes."""
    resolver = MapResolver({"good.example": "93.184.216.34", "inside.example": "10.1.2.3"})
    await check_url("https://good.example", allow_private=False, resolver=resolver)
    with pytest.raises(UrlRefused) as caught:
        await check_url("https://inside.example", allow_private=False, resolver=resolver)
    assert "resolves to a private address (10.1.2.3)" in caught.value.reason
    with pytest.raises(UrlRefused, match="could not be resolved"):
        await check_url("https://nowhere.example", allow_private=False, resolver=resolver)
    await check_url("http://inside.example", allow_private=True, resolver=resolver)


async def test_check_url_with_the_system_resolver_refuses_localhost():
    """The real resolver: `localhost` is loopback, so it is refused without the setting."""
    with pytest.raises(UrlRefused, match="loopback"):
        await check_url("https://localhost/", allow_private=False)


async def test_guarded_resolver_refuses_mixed_answers():
    """One non-public address among the answers is enough to refuse the name."""

    class Mixed(MapResolver):
        async def resolve(self, host, port=0, family=socket.AF_INET):
            good = await super().resolve("good", port, family)
            bad = await super().resolve("bad", port, family)
            return good + bad

    guard = GuardedResolver(Mixed({"good": "93.184.216.34", "bad": "192.168.0.9"}))
    with pytest.raises(AddressRefused, match=r"192\.168\.0\.9"):
        await guard.resolve("mixed.example", 443)


async def test_save_time_check_refuses_private_urls(session):
    """Http.check_url: http://127.0.0.1 and https://10.0.0.1 are BadInput with the reason."""
    fetcher = Http(session, redactor=Redactor())
    with pytest.raises(BadInput, match="https://"):
        await fetcher.check_url("http://127.0.0.1")
    with pytest.raises(BadInput, match=r"private address \(10\.0\.0\.1\)"):
        await fetcher.check_url("https://10.0.0.1")
    open_fetcher = Http(session, redactor=Redactor(), allow_private_urls=True)
    await open_fetcher.check_url("http://127.0.0.1")


async def test_untrusted_request_to_a_private_literal_is_never_sent(session, upstream):
    """A literal loopback URL is refused before connecting: the server sees nothing."""
    fetcher = Http(session, redactor=Redactor())
    https_url = str(upstream.make_url("/includes/api.php")).replace("http://", "https://")
    with pytest.raises(BadInput, match="loopback"):
        await send(fetcher, https_url)
    with pytest.raises(BadInput, match="https://"):
        await send(fetcher, str(upstream.make_url("/")))
    assert upstream.hits == []
    await fetcher.close()


async def test_dns_rebinding_is_refused_at_connect_time(session, upstream):
    """A name that was public at save and resolves to 127.0.0.1 later is refused on connect."""
    resolver = MapResolver({"rebind.example": ["93.184.216.34", "127.0.0.1"]})
    fetcher = Http(session, redactor=Redactor(), untrusted_resolver=resolver)
    url = f"https://rebind.example:{upstream.port}/includes/api.php"
    await fetcher.check_url(url)  # first answer: public, so it would be saved
    with pytest.raises(BadInput) as caught:
        await send(fetcher, url, data={"secret": "S3cretValue"})
    assert "loopback address (127.0.0.1)" in caught.value.detail
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None
    assert resolver.asked == ["rebind.example", "rebind.example"]
    assert upstream.hits == []
    await fetcher.close()


async def test_allow_private_urls_lifts_both_rules(session, upstream):
    """With ALLOW_PRIVATE_URLS, plain http to 127.0.0.1 is sent."""
    fetcher = Http(session, redactor=Redactor(), allow_private_urls=True)
    answer = await send(fetcher, str(upstream.make_url("/includes/api.php")))
    assert answer.status == 200
    assert upstream.hits == ["/includes/api.php"]


async def test_untrusted_requests_never_follow_redirects(session, upstream):
    """A redirect to another host comes back as the 3xx answer, even if following was asked."""

    async def redirect(request):
        raise web.HTTPFound(str(upstream.make_url("/elsewhere")))

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", redirect)
    origin = TestServer(app)
    await origin.start_server(access_log=None)
    try:
        fetcher = Http(session, redactor=Redactor(), allow_private_urls=True)
        url = str(origin.make_url("/includes/api.php")).replace("127.0.0.1", "localhost")
        answer = await send(fetcher, url, follow_redirects=True)
    finally:
        await origin.close()
    assert answer.status == 302
    assert upstream.hits == []


async def test_close_releases_the_guarded_session(session):
    """The guarded session is opened on demand and closed by Http.close()."""
    resolver = MapResolver({"inside.example": "10.0.0.8"})
    fetcher = Http(session, redactor=Redactor(), untrusted_resolver=resolver)
    with pytest.raises(BadInput):
        await send(fetcher, "https://inside.example/")
    guarded = fetcher._guarded
    assert guarded is not None
    assert guarded is not session
    await fetcher.close()
    assert guarded.closed
    assert not session.closed
