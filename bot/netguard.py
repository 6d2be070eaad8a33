"""
Guild-supplied URLs: https only, and only hosts with public addresses.

A URL typed by a guild's admin (a self-hosted ticket system) must not turn the bot into a way
into the network it runs in: loopback, private, link-local, multicast, reserved, unspecified
and other non-public addresses are refused, and plain http is refused. The rule is checked
twice: when the URL is saved (`check_url` resolves the name now) and at connect time for every
request (`GuardedResolver`, the resolver of the connector that sends guild-supplied URLs), so a
name that later resolves somewhere else (DNS rebinding) is refused then, before any byte is
sent. aiohttp does not ask a resolver about IP literals, so `url_problem` checks those; they
cannot change. `allow_private=True` (the ALLOW_PRIVATE_URLS setting) lifts both the address
rule and the https rule.

Reasons are short phrases safe to show to the admin: they never contain the URL or its host
(a secret pasted into the wrong field would otherwise be echoed), only the offending address.
"""

from __future__ import annotations

import ipaddress
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

__all__ = [
    "AddressRefused",
    "GuardedResolver",
    "UrlRefused",
    "address_problem",
    "check_url",
    "url_problem",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: NAT64's well-known prefix: the last 32 bits are the IPv4 address it reaches.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class UrlRefused(ValueError):
    """A guild-supplied URL that may not be used; `reason` says why (safe to show)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AddressRefused(OSError):
    """Raised by `GuardedResolver` for a name resolving to a non-public address."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries and reaches (mapped, 6to4, Teredo, NAT64)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _kind(ip: IPAddress) -> str | None:
    if ip.is_unspecified:
        return "an unspecified"
    if ip.is_loopback:
        return "a loopback"
    if ip.is_link_local:
        return "a link-local"
    if ip.is_multicast:
        return "a multicast"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "a site-local"
    if ip.is_private:
        return "a private"
    if ip.is_reserved:
        return "a reserved"
    if not ip.is_global:
        return "a non-public"
    return None


def address_problem(address: str | IPAddress) -> str | None:
    """
    Why `address` is not a public unicast address ("a private address"), or None if it is.

    IPv6 addresses that carry an IPv4 address (IPv4-mapped, 6to4, Teredo, NAT64) are judged by
    the IPv4 address they lead to as well.
    """
    if isinstance(address, str):
        try:
            ip: IPAddress = ipaddress.ip_address(address.strip())
        except ValueError:
            return "not an IP address"
    else:
        ip = address
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            inner = _kind(embedded)
            if inner is not None:
                return f"{inner} address"
            if ip.ipv4_mapped is not None or ip in _NAT64:
                # Only a way of writing (or reaching) the IPv4 address, which is public.
                return None
    kind = _kind(ip)
    return f"{kind} address" if kind is not None else None


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _looks_numeric(host: str) -> bool:
    # aiohttp treats these as IP literals (and refuses non-canonical ones such as 127.1).
    return ":" in host or host.replace(".", "").isdigit()


def url_problem(url: str, *, allow_private: bool) -> str | None:
    """
    What is wrong with `url` without resolving anything, or None.

    https only (http too when `allow_private`), a host name, no user info; an IP literal must
    be a public address unless `allow_private`.
    """
    try:
        parsed = URL(url.strip())
    except (TypeError, ValueError):
        return "it is not a valid URL"
    scheme = (parsed.scheme or "").lower()
    if scheme not in ("http", "https") or not parsed.absolute:
        return "it must start with https://"
    if scheme == "http" and not allow_private:
        return "it must start with https:// (plain http is refused)"
    if parsed.user is not None or parsed.password is not None:
        return "it must not contain a user name or password"
    host = parsed.host
    if not host:
        return "it has no host name"
    literal = _literal(host)
    if literal is None and _looks_numeric(host):
        return "its host is not a valid IP address"
    if literal is not None and not allow_private:
        problem = address_problem(literal)
        if problem is not None:
            return f"it points to {problem} ({literal})"
    return None


async def check_url(
    url: str, *, allow_private: bool, resolver: AbstractResolver | None = None
) -> None:
    """
    Check a guild-supplied URL now: `url_problem`, then the host must resolve, and (unless
    `allow_private`) only to public addresses. Raises `UrlRefused`.
    """
    problem = url_problem(url, allow_private=allow_private)
    if problem is not None:
        raise UrlRefused(problem)
    parsed = URL(url.strip())
    host = parsed.host or ""
    if _literal(host) is not None:
        return
    own = resolver is None
    active = resolver if resolver is not None else ThreadedResolver()
    results: list[ResolveResult] = []
    try:
        results = await active.resolve(host, parsed.port or 0, family=socket.AF_UNSPEC)
    except OSError:
        results = []
    finally:
        if own:
            await active.close()
    if not results:
        raise UrlRefused("its host name could not be resolved")
    if not allow_private:
        reason = _refusal(results)
        if reason is not None:
            raise UrlRefused(reason)


def _refusal(results: list[ResolveResult]) -> str | None:
    # Every address must be public: a name with one private address among public ones is
    # refused rather than filtered, the admin is better off knowing.
    for result in results:
        problem = address_problem(result["host"])
        if problem is not None:
            return f"its host name resolves to {problem} ({result['host']})"
    return None


class GuardedResolver(AbstractResolver):
    """
    A resolver that refuses names resolving to non-public addresses (`AddressRefused`).

    Put on the connector of the session that sends guild-supplied URLs: aiohttp resolves when
    it opens a connection, so the check happens at connect time, for the addresses it then
    connects to. Its DNS cache only ever holds addresses this resolver let through.
    """

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner
        self._owns = inner is None

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The inner resolver's answer, if every address in it is public."""
        if self._inner is None:
            self._inner = ThreadedResolver()
        results = await self._inner.resolve(host, port, family)
        reason = _refusal(results)
        if reason is not None:
            raise AddressRefused(reason)
        return results

    async def close(self) -> None:
        """Close the inner resolver if this one created it."""
        if self._owns and self._inner is not None:
            await self._inner.close()
