"""A TCP proxy the test controls, to cut a worker off from PostgreSQL or Redis without touching the
machine's shared servers (which other test runs and colleagues use, and which must never restart).

The worker is pointed at the proxy's port; `cut()` closes every proxied connection at once (both
ends, abortively) and stops listening, so new connections are refused as by a server that is down;
`restore()` listens again on the same port. `freeze_after(pattern)` lets the first client chunk
that contains `pattern` through and then holds every byte in both directions, as a network that
stopped delivering between two commands of the client would. It runs on the test's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

_CHUNK = 1 << 16


class Proxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.connections = 0  # accepted since start, for the tests' own checks
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._freeze_pattern: bytes | None = None
        self.frozen = asyncio.Event()

    async def start(self) -> Proxy:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        await self._listen()
        return self

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)

    @property
    def cut_off(self) -> bool:
        return self._server is None

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        self.connections += 1
        self._writers.update((client_writer, server_writer))
        links = [
            asyncio.create_task(self._pump(client_reader, server_writer, watch=True)),
            asyncio.create_task(self._pump(server_reader, client_writer)),
        ]
        self._links.update(links)
        try:
            await asyncio.gather(*links, return_exceptions=True)
        finally:
            self._links.difference_update(links)
            for writer in (client_writer, server_writer):
                self._writers.discard(writer)
                writer.transport.abort()

    def freeze_after(self, pattern: bytes) -> None:
        """Hold all traffic once a client chunk containing `pattern` has been forwarded."""
        self._freeze_pattern = pattern

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, watch: bool = False
    ) -> None:
        """Copy one direction until EOF, then half-close, as the peers would see without a proxy."""
        with contextlib.suppress(OSError, ConnectionError):
            tail = b""
            while data := await reader.read(_CHUNK):
                if self.frozen.is_set():
                    await asyncio.Event().wait()  # held until the link is cut or cancelled
                writer.write(data)
                await writer.drain()
                pattern = self._freeze_pattern
                if watch and pattern is not None:
                    if pattern in tail + data:
                        self.frozen.set()
                    tail = (tail + data)[-len(pattern) :]
            if writer.can_write_eof():
                writer.write_eof()

    async def cut(self) -> None:
        """Refuse new connections and drop every open one (the server vanished from the network)."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for link in list(self._links):
            link.cancel()
        if server is not None:
            await server.wait_closed()
        await asyncio.sleep(0)

    async def restore(self) -> None:
        if self._server is None:
            await self._listen()

    async def close(self) -> None:
        await self.cut()


@contextlib.asynccontextmanager
async def proxy_to(host: str, port: int) -> AsyncIterator[Proxy]:
    proxy = await Proxy(host, port).start()
    try:
        yield proxy
    finally:
        await proxy.close()
