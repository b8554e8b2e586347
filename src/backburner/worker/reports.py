"""A child's reports to its supervisor: events (`messages.encode`), framed by their length,
over a pipe of their own. The supervisor reads whatever is waiting with one read(), so a
busy child's hundreds of reports cost it one wake-up and a few system calls."""

from __future__ import annotations

import os
import struct

from .messages import Event, decode, encode

_HEADER = struct.Struct("<I")
_CHUNK = 1 << 16


def pipe() -> tuple[Reader, Writer]:
    read_fd, write_fd = os.pipe()
    return Reader(read_fd), Writer(write_fd)


class Writer:
    """The child's end. Not thread-safe: callers hold a lock."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, events: tuple[Event, ...]) -> None:
        """Write one message; OSError (EPIPE) if the supervisor is gone."""
        body = encode(events)
        data = memoryview(_HEADER.pack(len(body)) + body)
        while data:
            data = data[os.write(self.fd, data) :]

    def close(self) -> None:
        os.close(self.fd)


class Reader:
    """The supervisor's end: non-blocking, and usable with multiprocessing's wait()."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.closed = False
        self._buffer = b""
        os.set_blocking(fd, False)

    def fileno(self) -> int:
        return self.fd

    def read(self) -> list[Event]:
        """Every event of every complete message waiting now, in order."""
        chunks = [self._buffer]
        while not self.closed:
            try:
                chunk = os.read(self.fd, _CHUNK)
            except BlockingIOError:
                break
            if not chunk:  # every writer closed: the child is gone
                self.closed = True
                break
            chunks.append(chunk)
        data = b"".join(chunks)
        events: list[Event] = []
        at = 0
        while len(data) - at >= _HEADER.size:
            (size,) = _HEADER.unpack_from(data, at)
            end = at + _HEADER.size + size
            if end > len(data):
                break
            events += decode(data[at + _HEADER.size : end])
            at = end
        self._buffer = data[at:]
        return events

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
            self.closed = True
