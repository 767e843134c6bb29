#!/usr/bin/env python3
"""A line-based chat client on asyncio and the imr Python package.

    python3 chat_asyncio.py --server 127.0.0.1:7700 --token TOKEN --conversation general

Typed lines are sent; each shows its state (sending / sent / failed) and received
messages appear as they arrive. One TCP connection to the relay (`imrctl relay`) with
varint-delimited frames; it reconnects with backoff and catches up by sync.

The engine is sans-IO: after every input (a frame, a line, a timer, a (dis)connect) the
client calls drive(), which writes every frame the engine wants to send, shows every
event, and re-arms the one timer at the engine's next deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

import imr
from imr import EventKind


def now_ms() -> int:
    return int(time.monotonic() * 1000)


class Chat:
    def __init__(self, args):
        self.args = args
        self.client = imr.Client(
            node_id=args.node or int.from_bytes(os.urandom(8), "little") or 1,
            seed=int.from_bytes(os.urandom(8), "little"),
            token=args.token,
            store_path=args.store,
        )
        self.writer: asyncio.StreamWriter | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.sent = 0
        self.done = asyncio.Event()

    # -- the driving loop: after every input --------------------------------------

    def drive(self) -> None:
        for frame in self.client.transmits():
            if self.writer is not None:
                self.writer.write(imr.delimit(frame))
        for event in self.client.events():
            self.show(event)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        deadline = self.client.next_timeout
        if deadline is not None:
            loop = asyncio.get_running_loop()
            delay = max(0, deadline - now_ms()) / 1000
            self.timer = loop.call_later(delay, self.on_timer)

    def on_timer(self) -> None:
        self.timer = None
        self.client.handle_timeout(now_ms())
        self.drive()

    def show(self, e: imr.Event) -> None:
        short = e.message_id[-4:].hex()
        if e.kind == EventKind.CONNECTION_READY:
            print("-- ready", file=sys.stderr)
        elif e.kind == EventKind.MESSAGE_SENDING:  # a retried message
            print(f"   {short} sending again")
        elif e.kind == EventKind.MESSAGE_SENT:
            print(f"   {short} sent (#{e.seq})")
            self.sent += 1
            if self.args.quit_after_sent is not None and self.sent >= self.args.quit_after_sent:
                self.done.set()
        elif e.kind == EventKind.MESSAGE_FAILED:
            print(f"   {short} FAILED ({imr.Failure(e.code).name.lower()})")
        elif e.kind == EventKind.MESSAGE_RECEIVED and e.conversation == self.args.conversation:
            print(f"[{e.seq}] {e.user}: {e.payload.decode('utf-8', 'replace')}")
        elif e.kind == EventKind.SERVER_ERROR:
            print(f"-- server error {e.code}{' (fatal)' if e.fatal else ''}: {e.detail}", file=sys.stderr)
        elif e.kind == EventKind.ERROR:
            print(f"-- {imr.strerror(e.code)}: {e.detail}", file=sys.stderr)
        sys.stdout.flush()

    # -- inputs ----------------------------------------------------------------------

    async def connection(self) -> None:
        host, port = self.args.server.rsplit(":", 1)
        backoff = 0.5
        while True:
            try:
                reader, writer = await asyncio.open_connection(host, int(port))
            except OSError as e:
                print(f"-- cannot connect ({e}); retrying in {backoff:.1f} s", file=sys.stderr)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10)
                continue
            print(f"-- connected to {host}:{port}", file=sys.stderr)
            backoff = 0.5
            self.writer = writer
            self.client.connected(now_ms())
            self.drive()
            with imr.Splitter() as splitter:
                try:
                    while data := await reader.read(65536):
                        for frame in splitter.feed(data):
                            try:
                                self.client.handle_frame(frame, now_ms())
                            except imr.ImrError as e:
                                print(f"-- frame refused: {e}", file=sys.stderr)
                        self.drive()
                        await writer.drain()
                except (imr.ImrError, OSError) as e:  # a framing error is fatal for the stream
                    print(f"-- connection lost: {e}", file=sys.stderr)
            self.writer = None
            writer.close()
            self.client.disconnected(now_ms())
            self.drive()
            print(f"-- disconnected; reconnecting in {backoff:.1f} s", file=sys.stderr)
            await asyncio.sleep(backoff)

    async def keyboard(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():
            text = line.decode("utf-8", "replace").rstrip("\n")
            if text:
                try:
                    message_id = self.client.send(self.args.conversation, text.encode(), now_ms())
                    print(f"   {message_id[-4:].hex()} sending")
                except imr.ImrError as e:
                    print(f"-- not sent: {e}", file=sys.stderr)
                self.drive()
        if self.args.quit_after_sent is None:
            # End of input: leave once nothing waits for an ack.
            while any(entry.state == imr.State.SENDING for entry in self.client.outbox()):
                await asyncio.sleep(0.05)
            self.done.set()

    async def run(self) -> None:
        tasks = [asyncio.create_task(self.connection()), asyncio.create_task(self.keyboard())]
        await self.done.wait()
        if self.writer is not None:
            await self.writer.drain()
        for t in tasks:
            t.cancel()
        self.client.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", required=True, help="relay address, host:port")
    p.add_argument("--token", required=True)
    p.add_argument("--conversation", required=True)
    p.add_argument("--node", type=lambda s: int(s, 0), default=0, help="device node id (random by default)")
    p.add_argument("--store", help="SQLite file for a durable outbox and timeline")
    p.add_argument("--quit-after-sent", type=int, help="exit after this many messages are sent (for scripts)")
    asyncio.run(Chat(p.parse_args()).run())


if __name__ == "__main__":
    main()
