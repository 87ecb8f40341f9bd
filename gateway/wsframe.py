"""RFC 6455 framing for what the gateway sends: one unmasked, final text frame.

Server-to-client frames are never masked, so the complete wire frame of an event (header and
payload) is the same for every subscriber: built once, written to every socket as is.
"""

from __future__ import annotations

import struct

__all__ = ["text_frame"]

_FIN_TEXT = 0x81


def text_frame(payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        return bytes((_FIN_TEXT, n)) + payload
    if n < 1 << 16:
        return struct.pack("!BBH", _FIN_TEXT, 126, n) + payload
    return struct.pack("!BBQ", _FIN_TEXT, 127, n) + payload
