"""A raw RFC 6455 websocket client over a plain TCP stream, for fault and fuzz tests.

Unlike the ``websockets`` client it sends any frame (unmasked, reserved bits,
bad opcodes, a declared length it never sends, invalid UTF-8) and it can stop
reading altogether: ``stop_reading()`` pauses the transport, so the kernel's
receive buffer fills and the server's writes back up, as with a peer that
hangs without closing.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import struct
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from tests.support.server import seconds

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


@dataclass(frozen=True)
class Frame:
    """One frame from the server."""

    fin: bool
    opcode: int
    payload: bytes

    @property
    def close_code(self) -> int | None:
        """The code of a close frame (1005 when it carries none)."""
        if self.opcode != OP_CLOSE:
            return None
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else 1005


def encode_frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bool = True,
    declared_length: int | None = None,
) -> bytes:
    """A frame as the client would send it; every field may be made wrong on purpose."""
    length = len(payload) if declared_length is None else declared_length
    head = bytearray([(0x80 if fin else 0) | (rsv & 0x7) << 4 | (opcode & 0xF)])
    mask_bit = 0x80 if mask else 0
    if length < 126:
        head.append(mask_bit | length)
    elif length < 1 << 16:
        head.append(mask_bit | 126)
        head += struct.pack("!H", length)
    else:
        head.append(mask_bit | 127)
        head += struct.pack("!Q", length)
    if not mask:
        return bytes(head) + payload
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return bytes(head) + key + masked


class RawWebSocket:
    """One client connection: the handshake by hand, then frames by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.status: int | None = None
        self.response_head = b""

    @classmethod
    async def connect(
        cls,
        url: str,
        token: str | None,
        *,
        rcvbuf: int | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> RawWebSocket:
        """Open TCP to ``url`` (127.0.0.1 only) and perform the opening handshake."""
        parts = urlsplit(url)
        assert parts.hostname == "127.0.0.1", url
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before connect, so the window is small from the start
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", parts.port)), seconds(5))
        except BaseException:
            sock.close()
            raise
        reader, writer = await asyncio.open_connection(sock=sock)
        raw = cls(reader, writer)
        await raw._handshake(parts, token, extra_headers or {})
        return raw

    async def _handshake(
        self, parts: SplitResult, token: str | None, extra: dict[str, str]
    ) -> None:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {target} HTTP/1.1",
            f"Host: 127.0.0.1:{parts.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if token is not None:
            lines.append(f"Authorization: Bearer {token}")
        lines += [f"{name}: {value}" for name, value in extra.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.writer.drain()
        self.response_head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), seconds(5))
        self.status = int(self.response_head.split(b" ", 2)[1])

    @property
    def accepted(self) -> bool:
        """Whether the server switched protocols."""
        return self.status == 101

    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are."""
        self.writer.write(data)

    def send_frame(
        self,
        opcode: int,
        payload: bytes,
        *,
        fin: bool = True,
        rsv: int = 0,
        mask: bool = True,
        declared_length: int | None = None,
    ) -> None:
        """Write one frame (see ``encode_frame`` for the options)."""
        frame = encode_frame(
            opcode, payload, fin=fin, rsv=rsv, mask=mask, declared_length=declared_length
        )
        self.writer.write(frame)

    def send_text(self, text: str) -> None:
        """Write one masked text frame."""
        self.send_frame(OP_TEXT, text.encode())

    async def drain(self) -> None:
        """Wait until the written bytes were handed to the kernel (bounded)."""
        await asyncio.wait_for(self.writer.drain(), seconds(5))

    async def read_frame(self, timeout: float = 5) -> Frame:
        """The next frame from the server (server frames are never masked)."""
        return await asyncio.wait_for(self._read_frame(), seconds(timeout))

    async def _read_frame(self) -> Frame:
        first, second = await self.reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", await self.reader.readexactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", await self.reader.readexactly(8))[0]
        if second & 0x80:
            await self.reader.readexactly(4)
        payload = await self.reader.readexactly(length)
        return Frame(bool(first & 0x80), first & 0x0F, payload)

    async def read_until_close(self, timeout: float = 5) -> tuple[list[Frame], int | None]:
        """Frames until the server's close frame (its code) or the end of the stream (None)."""
        frames: list[Frame] = []

        async def collect() -> int | None:
            while True:
                try:
                    frame = await self._read_frame()
                except (asyncio.IncompleteReadError, ConnectionError):
                    return None
                if frame.opcode == OP_CLOSE:
                    return frame.close_code
                frames.append(frame)

        code = await asyncio.wait_for(collect(), seconds(timeout))
        return frames, code

    def stop_reading(self) -> None:
        """Never read again: the receive buffer fills and the server's writes back up."""
        self.writer.transport.pause_reading()

    def abort(self) -> None:
        """Drop the TCP connection at once, without a close frame."""
        self.writer.transport.abort()

    async def close(self) -> None:
        """Close the TCP connection (no close handshake) and wait for it to be gone."""
        self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), seconds(5))


def shrink_peer_send_buffer(client: RawWebSocket, size: int = 4096) -> bool:
    """Shrink the in-process server's send buffer on this connection; False if not found.

    The server runs in this process, so its end of the connection is one of
    our file descriptors: the socket whose peer is the client's own address.
    A small, locked ``SO_SNDBUF`` makes a non-reading client back the server's
    writes up after a few kilobytes instead of the megabytes autotuning allows.
    """
    sock = client.writer.get_extra_info("socket")
    assert sock is not None
    mine = sock.getsockname()
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            probe = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        with probe:
            try:
                if probe.type != socket.SOCK_STREAM or probe.getpeername() != mine:
                    continue
            except OSError:
                continue
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
            return True
    return False
