#!/usr/bin/env python3
"""Python example: an asyncio chat room with groups and broadcast.

A ``netsys.aio.Server`` keeps one room per group: the first message of a
client is "join ROOM"; every later message is relayed to the members of that
room with ``broadcast_to_group``. Three ``netsys.aio.Client`` users join, talk
and leave; the program prints what each of them saw and exits 0 when every
user received exactly the lines of its own room.

    chat_room.py            (runs the server and the users in one process)
"""

from __future__ import annotations

import asyncio
import sys
from typing import Dict, List

import netsys
import netsys.aio

USERS = {"alice": "python", "bob": "python", "carol": "go"}


class Gate:
    """Opens once ``parties`` tasks wait at it (asyncio.Barrier before 3.11)."""

    def __init__(self, parties: int) -> None:
        self._left = parties
        self._open = asyncio.Event()

    async def wait(self) -> None:
        self._left -= 1
        if self._left <= 0:
            self._open.set()
        await self._open.wait()


async def serve() -> netsys.aio.Server:
    server = netsys.aio.Server("chat", port=0, bind_address="127.0.0.1")

    @server.on_message
    async def relay(session: netsys.Session, data: bytes) -> None:
        text = data.decode()
        if text.startswith("join "):
            room = text[5:]
            session.data["room"] = room
            session.join_group(room)
            server.broadcast_to_group(room, f"* {session.client_id} joined {room}")
            return
        room = session.data.get("room")
        if room is None:
            session.send("join a room first: 'join ROOM'")
            return
        server.broadcast_to_group(room, f"<{session.client_id}> {text}")

    @server.on_disconnect
    def left(session: netsys.Session, reason: str) -> None:
        print(f"server: {session.client_id} left ({reason})")

    await server.start()
    return server


async def main() -> int:
    server = await serve()
    try:
        members: Dict[str, int] = {}
        for room in USERS.values():
            members[room] = members.get(room, 0) + 1
        ready = Gate(len(USERS))
        # Each user reads until it has one greeting per member of its room;
        # join notices arrive too, depending on who joined first.
        tasks = {}
        for name, room in USERS.items():
            tasks[name] = asyncio.create_task(collect(name, room, server.port, members[room], ready))
        ok = True
        for name, task in tasks.items():
            lines = await asyncio.wait_for(task, 20)
            greetings = sorted(line for line in lines if line.startswith("<"))
            want = sorted(f"<{other}> hello from {other}" for other, r in USERS.items() if r == USERS[name])
            print(f"{name} ({USERS[name]}): " + " | ".join(lines))
            ok = ok and greetings == want
        print("chat room:", "every user got exactly its room's messages" if ok else "MISMATCH")
        return 0 if ok else 1
    finally:
        await server.close()


async def collect(name: str, room: str, port: int, room_size: int, ready: "Gate") -> List[str]:
    lines: List[str] = []
    async with netsys.aio.Client(name) as client:
        await client.connect("127.0.0.1", port)
        await client.send(f"join {room}")
        await ready.wait()
        await asyncio.sleep(0.05)  # let every join be relayed first
        await client.send(f"hello from {name}")
        greetings = 0
        while greetings < room_size:
            line = (await client.recv(timeout=10)).decode()
            lines.append(line)
            greetings += line.startswith("<")
    return lines


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except netsys.NetsysError as exc:
        print(f"chat room: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
