"""Webhook sender over HTTP(S) that connects only where it checked.

Each send resolves the URL's host once, refuses unless every address it resolves to is public
(`rebill.domain.destination`; the platform's `webhooks_allow_private` lifts this for tests and
demos), then opens the TCP connection to one of those very addresses while the request keeps
the URL's Host header and TLS server name. A DNS answer that changes between registration and
delivery, or between check and connect, therefore never reaches a private address.

Limits: `connect_timeout_seconds` per connection attempt and `delivery_timeout_seconds` for the
whole send (lookup, connect, TLS, request, response head), enforced on every socket operation,
so a server that trickles bytes cannot hold a worker. No redirects, no proxies or `.netrc` from
the environment, one connection per send (a pooled connection could be reused for another host
name on the same address under the wrong TLS name). Every failure short of an HTTP status reads
`NO_RESPONSE`: refused, timed out, unresolvable and not public look alike to the agency (no
port-scan or internal-DNS oracle); the reason is logged for the operator.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

import httpcore
import httpx

from rebill.domain.destination import is_public_address

connect_timeout_seconds = 3.0
delivery_timeout_seconds = 10.0
NO_RESPONSE = "delivery failed: no response"
logger = logging.getLogger("rebill.webhooks")

Resolve = Callable[[str], list[str]]


class Unreachable(Exception):
    """The send stopped before any HTTP answer (refused destination, lookup failed, ...)."""


def system_resolve(host: str) -> list[str]:
    """The host's addresses from the system resolver, in its order of preference."""
    found: list[str] = []
    for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM):
        address = str(info[4][0])
        if address not in found:
            found.append(address)
    return found


class HttpWebhookSender:
    def __init__(
        self,
        allow_private: bool = False,
        resolve: Resolve = system_resolve,
        connect_timeout_seconds: float = connect_timeout_seconds,
        timeout_seconds: float = delivery_timeout_seconds,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        assert 0 < connect_timeout_seconds <= timeout_seconds
        self.allow_private = allow_private
        self.resolve = resolve
        self.connect_timeout_seconds = connect_timeout_seconds
        self.timeout_seconds = timeout_seconds
        self.ssl_context = ssl_context or httpx.create_ssl_context()

    def post(self, url: str, headers: dict[str, str], body: str) -> str | None:
        deadline = time.monotonic() + self.timeout_seconds
        try:
            request = httpx.Request("POST", url, headers=headers, content=body.encode())
            if request.url.scheme not in ("http", "https") or not request.url.raw_host:
                raise Unreachable("not an http(s) URL with a host")
            addresses = self.addresses(request.url.raw_host.decode("ascii"), deadline)
            status = self._send(request, addresses, deadline)
        except (Unreachable, httpx.InvalidURL, httpcore.TimeoutException) as exc:
            # The host only: a URL's path or query may carry the agency's token.
            logger.info("webhook to %s not sent: %s", _host_of(url), exc)
            return NO_RESPONSE
        except (httpcore.NetworkError, httpcore.ProtocolError, OSError) as exc:
            logger.info("webhook to %s got no answer: %r", _host_of(url), exc)
            return NO_RESPONSE
        return None if 200 <= status < 300 else f"HTTP {status}"

    def addresses(self, host: str, deadline: float) -> list[str]:
        """The addresses to connect to: all of the host's, each checked (Unreachable if any
        is not public, unless the platform allows private ones)."""
        try:
            found = [str(ipaddress.ip_address(host))]  # a literal: nothing to resolve
        except ValueError:
            found = _within(deadline, self.resolve, host)
        if not found:
            raise Unreachable(f"{host} has no address")
        refused = [a for a in found if not is_public_address(a)]
        if refused and not self.allow_private:
            raise Unreachable(f"{host} resolves to {refused[0]}, not a public address")
        return found

    def _send(self, request: httpx.Request, addresses: list[str], deadline: float) -> int:
        """The status of the answer, read from its head only (the body is never read)."""
        backend = _PinnedBackend(addresses, deadline, self.connect_timeout_seconds)
        timeout = self.timeout_seconds
        pool = httpcore.ConnectionPool(
            ssl_context=self.ssl_context,
            network_backend=backend,
            max_connections=1,
            max_keepalive_connections=0,
            retries=0,
        )
        url = httpcore.URL(
            scheme=request.url.raw_scheme,
            host=request.url.raw_host,
            port=request.url.port,
            target=request.url.raw_path,
        )
        extensions = {
            "timeout": {
                "connect": self.connect_timeout_seconds,
                "read": timeout,
                "write": timeout,
                "pool": timeout,
            }
        }
        with (
            pool,
            pool.stream(
                "POST",
                url,
                headers=request.headers.raw,
                content=request.content,
                extensions=extensions,
            ) as response,
        ):
            return response.status


def _host_of(url: str) -> str:
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


def _within(deadline: float, resolve: Resolve, host: str) -> list[str]:
    """`resolve(host)` bounded by the deadline: the system resolver has no timeout of its own,
    and a slow name server must not hold the round. A late answer is dropped."""
    answers: list[list[str]] = []

    def run() -> None:
        try:
            answers.append(resolve(host))
        except (OSError, UnicodeError):
            answers.append([])

    lookup = threading.Thread(target=run, name="rebill-webhook-dns", daemon=True)
    lookup.start()
    lookup.join(max(0.0, deadline - time.monotonic()))
    if not answers:
        raise Unreachable(f"{host} did not resolve in time")
    return answers[0]


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects to the checked addresses, whatever host name httpcore asks for (it keeps
    that name for the Host header and TLS), and keeps every later read and write within
    the deadline."""

    def __init__(self, addresses: list[str], deadline: float, connect_seconds: float) -> None:
        self.addresses = addresses
        self.deadline = deadline
        self.connect_seconds = connect_seconds
        self.system = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        for address in self.addresses:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                stream = self.system.connect_tcp(
                    address,
                    port,
                    timeout=min(self.connect_seconds, remaining),
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout):
                continue
            return _DeadlineStream(stream, self.deadline)
        raise httpcore.ConnectError(f"no address of {host} accepted a connection")

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("webhooks never use unix sockets")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream, deadline: float) -> None:
        self.stream = stream
        self.deadline = deadline

    def _remaining(self, timeout: float | None) -> float:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise httpcore.ReadTimeout("the delivery took too long")
        return remaining if timeout is None else min(timeout, remaining)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.stream.read(max_bytes, self._remaining(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.stream.write(buffer, self._remaining(timeout))

    def close(self) -> None:
        self.stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        secured = self.stream.start_tls(ssl_context, server_hostname, self._remaining(timeout))
        return _DeadlineStream(secured, self.deadline)

    def get_extra_info(self, info: str) -> object:
        return self.stream.get_extra_info(info)
