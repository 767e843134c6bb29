"""An asyncio networking client: the client engine driven over TCP (or TLS) by asyncio.

    async with imr.aio.connect(["relay-a:7700", "relay-b:7700"], token=token, node_id=7) as client:
        message_id = await client.send("general", b"hello")
        async for event in client.events():
            ...

It connects at once and keeps connecting: each failure moves to the next address after a delay
that doubles with jitter up to ``reconnect_delays[1]``. ``send`` returns the message id once the
engine has recorded the message (durably with ``store_path``); the engine retransmits it until
the relay acks it, across reconnects and relays. ``events()`` yields the engine's ``imr.Event``s
and ``Connected`` / ``Disconnected`` notices, in order. Events wait for a slow consumer up to
``max_events``; past it the newest are dropped and counted (``dropped_events``), while the
engine's state (``outbox()``, ``timeline()``) stays complete.

The engine is sans-IO: after every input (a frame, a send, a timer, a (dis)connect) the client
writes every frame the engine wants sent, queues every event and re-arms the one timer at the
engine's next deadline. Everything runs on the event loop's thread.
"""

from __future__ import annotations

import asyncio
import random
import ssl as ssl_module
import time
from dataclasses import dataclass
from typing import AsyncIterator, Optional, Sequence, Tuple, Union

from .client import Client
from .errors import ImrError
from .events import Event, Message, OutboxEntry
from .framing import Splitter, delimit

__all__ = ["connect", "AsyncClient", "Connected", "Disconnected", "parse_address"]


@dataclass(frozen=True)
class Connected:
    """The connection to ``server`` (host, port) is up; the engine's CONNECTION_READY follows."""
    server: Tuple[str, int]


@dataclass(frozen=True)
class Disconnected:
    """The connection failed or closed; the next attempt, to the next address, is in ``retry_in`` s."""
    reason: str
    retry_in: float


Update = Union[Event, Connected, Disconnected]


def parse_address(address: Union[str, Tuple[str, int]]) -> Tuple[str, int]:
    """("host", port) from "host:port" or "[::1]:port" (a tuple passes through)."""
    if isinstance(address, tuple):
        host, port = address
    else:
        host, sep, port_text = address.rpartition(":")
        if not sep or not port_text.isdigit():
            raise ValueError(f"not host:port: {address!r}")
        port = int(port_text)
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
    if not host or not 0 < int(port) < 65536:
        raise ValueError(f"not host:port: {address!r}")
    return host, int(port)


def _now_ms() -> int:
    return int(time.monotonic() * 1000)


class AsyncClient:
    """See the module's documentation; made by :func:`connect`."""

    def __init__(self, servers: Sequence[Union[str, Tuple[str, int]]], *, ssl: Optional[ssl_module.SSLContext] = None,
                 reconnect_delays: Tuple[float, float] = (0.1, 5.0), connect_timeout: float = 5.0,
                 max_events: int = 10_000, **settings):
        if not servers:
            raise ValueError("no server address")
        self._servers = [parse_address(s) for s in servers]
        self._ssl = ssl
        self._delays = (max(0.001, reconnect_delays[0]), max(reconnect_delays[0], reconnect_delays[1]))
        self._connect_timeout = connect_timeout
        self._engine = Client(**settings)
        self._max_events = max(1, max_events)
        self._events: asyncio.Queue = asyncio.Queue()  # bounded by _put, which leaves room for the end
        self.dropped_events = 0
        self._writer: Optional[asyncio.StreamWriter] = None
        self._timer: Optional[asyncio.TimerHandle] = None
        self._task: Optional[asyncio.Task] = None
        self._closed = False

    # -- life cycle -------------------------------------------------------------------

    def start(self) -> None:
        """Starts connecting (``connect`` and ``async with`` do this)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        """Closes the connection and the engine; ``events()`` ends after what it holds."""
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._timer is not None:
            self._timer.cancel()
        self._engine.close()
        self._put(None)

    async def __aenter__(self) -> "AsyncClient":
        self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    # -- the app's calls --------------------------------------------------------------

    async def send(self, conversation: str, payload: Union[bytes, str]) -> bytes:
        """Sends ``payload`` into ``conversation``; returns the 16-byte message id once recorded."""
        self._check_open()
        data = payload.encode() if isinstance(payload, str) else bytes(payload)
        message_id = self._engine.send(conversation, data, _now_ms())
        self._drive()
        return message_id

    async def retry(self, message_id: bytes) -> None:
        """Sends a failed message again, with the same id."""
        self._check_open()
        self._engine.retry(message_id, _now_ms())
        self._drive()

    def outbox(self) -> list[OutboxEntry]:
        self._check_open()
        return self._engine.outbox()

    def timeline(self, conversation: str, history: bool = False, offset: int = 0,
                 limit: Optional[int] = None) -> list[Message]:
        self._check_open()
        return self._engine.timeline(conversation, history=history, offset=offset, limit=limit)

    @property
    def connected(self) -> bool:
        return self._writer is not None

    async def events(self) -> AsyncIterator[Update]:
        """Every engine event and connection notice, in order; ends after ``close()``."""
        while True:
            update = await self._events.get()
            if update is None:
                self._events.put_nowait(None)  # later iterations end too
                return
            yield update

    # -- the driving loop ---------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the client is closed")

    def _put(self, update: Optional[Update]) -> None:
        """Queues an update, or drops it (counted) when ``max_events`` wait; the end marker
        (None) always goes in."""
        if update is not None and self._events.qsize() >= self._max_events:
            self.dropped_events += 1
            return
        self._events.put_nowait(update)

    def _drive(self) -> None:
        """After every input: write what the engine sends, queue its events, re-arm the timer."""
        for frame in self._engine.transmits():
            if self._writer is not None:
                self._writer.write(delimit(frame))
        for event in self._engine.events():
            self._put(event)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self._engine.next_timeout
        if deadline is not None and not self._closed:
            delay = max(0, deadline - _now_ms()) / 1000
            self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._closed:
            return
        self._engine.handle_timeout(_now_ms())
        self._drive()

    async def _run(self) -> None:
        index = 0
        delay = self._delays[0]
        self._drive()
        while True:
            host, port = self._servers[index]
            reason = await self._session(host, port)
            if reason is None:  # it was up: start the backoff over
                delay = self._delays[0]
                reason = "disconnected"
            index = (index + 1) % len(self._servers)
            wait = delay / 2 + random.uniform(0, delay / 2)
            self._put(Disconnected(reason, wait))
            await asyncio.sleep(wait)
            delay = min(self._delays[1], delay * 2)

    async def _session(self, host: str, port: int) -> Optional[str]:
        """One connection: None once it was up, else why it never came up."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=self._ssl,
                                        server_hostname=host if self._ssl is not None else None),
                self._connect_timeout)
        except (OSError, asyncio.TimeoutError, ssl_module.SSLError) as e:
            return f"cannot connect to {host}:{port}: {e or type(e).__name__}"
        self._writer = writer
        self._put(Connected((host, port)))
        self._engine.connected(_now_ms())
        self._drive()
        try:
            with Splitter() as splitter:
                while data := await reader.read(65536):
                    for frame in splitter.feed(data):
                        try:
                            self._engine.handle_frame(frame, _now_ms())
                        except ImrError:
                            pass  # counted by the engine; the connection goes on
                    self._drive()
                    await writer.drain()
        except (ImrError, OSError):
            pass  # a framing error or a reset: the stream is unusable
        finally:
            self._writer = None
            writer.close()
            if not self._closed:
                self._engine.disconnected(_now_ms())
                self._drive()
        return None


def connect(servers: Sequence[Union[str, Tuple[str, int]]], **options) -> AsyncClient:
    """A client for ``servers`` (tried in order). Use as ``async with connect(...) as client``,
    or call ``start()`` and ``close()`` yourself. ``options``: ``ssl`` (an ``ssl.SSLContext``),
    ``reconnect_delays`` (first, largest; seconds), ``connect_timeout``, ``max_events``, and
    every engine setting of ``imr.Client`` (``token``, ``node_id``, ``store_path``, ...)."""
    return AsyncClient(servers, **options)
