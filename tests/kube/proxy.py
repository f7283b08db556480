"""A loopback TCP proxy that tests use to cut a client's connections to the API server.

TLS passes through untouched (the API server's certificate is valid for 127.0.0.1 on any
port), so a `KubeClient` pointed at `proxy.url` behaves as if talking to the server
directly, until the test calls `cut()` (drop every open connection at once) or `block()`
(refuse new connections until `unblock()`), which is what a network failure looks like.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024


class TcpProxy:
    """Forward 127.0.0.1:<port> to (host, port), with connections the test can cut."""

    def __init__(self, target_host: str, target_port: int) -> None:
        """Prepare the proxy; `start()` (or `async with`) opens the listening port."""
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        # Both writers of each open connection, so `cut()` can abort both sides.
        self._open: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._pumps: set[asyncio.Task[None]] = set()
        self._blocked = False
        self.port = 0
        self.accepted = 0
        self.refused = 0

    @property
    def url(self) -> str:
        """The HTTPS URL clients should use."""
        return f"https://127.0.0.1:{self.port}"

    @property
    def open_connections(self) -> int:
        """The number of connections currently forwarded."""
        return len(self._open)

    async def start(self) -> None:
        """Listen on a free loopback port."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening, drop every connection and wait for the forwarding tasks."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self.cut()
        for task in list(self._pumps):
            task.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)

    async def __aenter__(self) -> TcpProxy:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def cut(self) -> int:
        """Reset every open connection (both sides) and return how many there were."""
        count = len(self._open)
        for client, upstream in list(self._open):
            client.transport.abort()
            upstream.transport.abort()
        self._open.clear()
        return count

    def block(self) -> None:
        """Refuse new connections (accept and reset them) until `unblock()`."""
        self._blocked = True

    def unblock(self) -> None:
        """Forward new connections again."""
        self._blocked = False

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._blocked:
            self.refused += 1
            writer.transport.abort()
            return

        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            self.refused += 1
            writer.transport.abort()
            return

        self.accepted += 1
        pair = (writer, up_writer)
        self._open.add(pair)
        n = self.accepted
        pumps = [
            asyncio.create_task(_pump(reader, up_writer), name=f"proxy-{n}-up"),
            asyncio.create_task(_pump(up_reader, writer), name=f"proxy-{n}-down"),
        ]
        self._pumps.update(pumps)
        try:
            await asyncio.gather(*pumps, return_exceptions=True)
        finally:
            self._pumps.difference_update(pumps)
            self._open.discard(pair)
            writer.transport.abort()
            up_writer.transport.abort()


async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    # Either side closing or failing ends this direction; the other pump sees the abort.
    with contextlib.suppress(OSError, ConnectionError):
        while chunk := await source.read(_CHUNK):
            sink.write(chunk)
            await sink.drain()
    sink.transport.abort()
