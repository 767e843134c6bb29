#!/usr/bin/env python3
"""A line-based chat client on imr.aio (asyncio) and the imr Python package.

    python3 chat_asyncio.py --server 127.0.0.1:7700 --token TOKEN --conversation general

Typed lines are sent; each shows its state (sending / sent / failed) and received messages
appear as they arrive. ``--server a:7700,b:7700`` fails over from one relay to the next;
the client reconnects with backoff and catches up by sync.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import sys

import imr
from imr import EventKind
from imr.aio import Connected, Disconnected


def show(update, args, state) -> None:
    if isinstance(update, Connected):
        print(f"-- connected to {update.server[0]}:{update.server[1]}", file=sys.stderr)
    elif isinstance(update, Disconnected):
        print(f"-- {update.reason}; next attempt in {update.retry_in:.1f} s", file=sys.stderr)
    elif update.kind == EventKind.CONNECTION_READY:
        print("-- ready", file=sys.stderr)
    elif update.kind == EventKind.MESSAGE_SENDING:  # a retried message
        print(f"   {update.message_id[-4:].hex()} sending again")
    elif update.kind == EventKind.MESSAGE_SENT:
        print(f"   {update.message_id[-4:].hex()} sent (#{update.seq})")
        state["sent"] += 1
    elif update.kind == EventKind.MESSAGE_FAILED:
        print(f"   {update.message_id[-4:].hex()} FAILED ({imr.Failure(update.code).name.lower()})")
    elif update.kind == EventKind.MESSAGE_RECEIVED and update.conversation == args.conversation:
        print(f"[{update.seq}] {update.user}: {update.payload.decode('utf-8', 'replace')}")
    elif update.kind == EventKind.SERVER_ERROR:
        print(f"-- server error {update.code}{' (fatal)' if update.fatal else ''}: {update.detail}", file=sys.stderr)
    elif update.kind == EventKind.ERROR:
        print(f"-- {imr.strerror(update.code)}: {update.detail}", file=sys.stderr)
    sys.stdout.flush()


async def chat(args) -> None:
    state = {"sent": 0}
    context = ssl.create_default_context(cafile=args.ca_file) if args.ca_file or args.tls else None
    async with imr.aio.connect(args.server.split(","), token=args.token, store_path=args.store, ssl=context,
                               node_id=args.node or int.from_bytes(os.urandom(8), "little") or 1,
                               seed=int.from_bytes(os.urandom(8), "little")) as client:
        async def updates():
            async for update in client.events():
                show(update, args, state)
                if args.quit_after_sent is not None and state["sent"] >= args.quit_after_sent:
                    return

        async def keyboard():
            loop = asyncio.get_running_loop()
            reader = asyncio.StreamReader()
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
            while line := await reader.readline():
                if text := line.decode("utf-8", "replace").rstrip("\n"):
                    try:
                        message_id = await client.send(args.conversation, text)
                        print(f"   {message_id[-4:].hex()} sending")
                    except imr.ImrError as e:
                        print(f"-- not sent: {e}", file=sys.stderr)
            # End of input: leave once nothing waits for an ack.
            while any(entry.state == imr.State.SENDING for entry in client.outbox()):
                await asyncio.sleep(0.05)

        tasks = [asyncio.create_task(updates()), asyncio.create_task(keyboard())]
        if args.quit_after_sent is not None:
            await tasks[0]
        else:
            await tasks[1]
            await asyncio.sleep(0.2)  # the last updates
        for task in tasks:
            task.cancel()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", required=True, help="relay address, host:port; several, comma-separated, fail over")
    p.add_argument("--token", required=True)
    p.add_argument("--conversation", required=True)
    p.add_argument("--node", type=lambda s: int(s, 0), default=0, help="device node id (random by default)")
    p.add_argument("--store", help="SQLite file for a durable outbox and timeline")
    p.add_argument("--ca-file", help="TLS, trusting the CA certificates in this PEM file")
    p.add_argument("--tls", action="store_true", help="TLS, trusting the system's CA certificates")
    p.add_argument("--quit-after-sent", type=int, help="exit after this many messages are sent (for scripts)")
    asyncio.run(chat(p.parse_args()))


if __name__ == "__main__":
    main()
