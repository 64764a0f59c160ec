"""Run a platform behind its two HTTP surfaces (gateway and control API) on one event loop.

Sockets are bound and listening before anything is announced, so the printed URLs are true (port 0 is resolved)
and a client that connects right after reading them waits in the backlog instead of being refused.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import socket
from collections.abc import Callable

from hearth.api.app import ControlApi
from hearth.api.auth import Lookup
from hearth.gateway.app import Gateway
from hearth.http_server import HttpServer
from hearth.platform import Platform

BACKLOG = 2048
GC_YOUNG_THRESHOLD = 10_000  # above the objects of a few hundred requests in flight (the default is 700)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(BACKLOG)
    return sock


def tune_gc() -> None:
    """Keep the cyclic collector off the request path of a serving process.

    Each request in flight holds a few dozen young container objects (scope, event, task, futures), and with
    64 requests in flight the default young-generation threshold (700) is crossed over and over: a collection
    every ~400 requests, each scanning and promoting the requests in flight, and then middle and full
    collections over everything (~30 ms each). With the threshold above the objects in flight, collections only
    follow real growth; ``freeze`` moves what start-up built into the permanent generation, out of every scan.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def run(platform: Platform, gateway_sock: socket.socket, control_sock: socket.socket,
              announce: Callable[[str, str], None], stop: asyncio.Event | None = None, *,
              lookup: Lookup | None = None) -> None:
    """Start ``platform``, announce the URLs, serve until ``stop`` is set (or SIGINT/SIGTERM), then drain.

    ``lookup`` finds the credentials the control API accepts; None turns authentication off.
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    platform.control_url = url(control_sock)
    await platform.start()
    tune_gc()
    try:
        control = ControlApi(platform, lookup)
        servers = [HttpServer(Gateway(platform)), HttpServer(control)]
        for server, sock in zip(servers, (gateway_sock, control_sock), strict=True):
            await server.start(sock, BACKLOG)
        platform.gateway_url = url(gateway_sock)
        announce(platform.gateway_url, url(control_sock))
        await stop.wait()
        await platform.queues.close()  # long polls end now, so the servers drain at once
        platform.logs.end_follows()  # and so do `hearth logs --follow` streams
        await asyncio.gather(*(server.shutdown() for server in servers))
    finally:
        await platform.close()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
