"""Hand-encoded client frames (protobuf) for the server tests: the tests talk to the
engine in bytes, as a remote client would."""

import struct


def varint(v: int) -> bytes:
    out = bytearray()
    while v >= 0x80:
        out.append(v & 0x7F | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def field_bytes(field: int, data: bytes) -> bytes:
    return varint(field << 3 | 2) + varint(len(data)) + data


def field_varint(field: int, v: int) -> bytes:
    return varint(field << 3) + varint(v)


def field_fixed64(field: int, v: int) -> bytes:
    return varint(field << 3 | 1) + struct.pack("<Q", v)


def frame(body_field: int, body: bytes) -> bytes:
    return field_varint(1, 1) + field_bytes(body_field, body)


def hello(token: str, node: int) -> bytes:
    return frame(10, field_bytes(1, token.encode()) + field_varint(2, 1) + field_fixed64(3, node))


def send(conversation: str, message_id: bytes, node: int, payload: bytes) -> bytes:
    # The clock {node: 1}: a packed node list (fixed64) and a packed counter list (varint).
    clock = field_bytes(2, struct.pack("<Q", node)) + field_bytes(3, varint(1))
    body = (field_bytes(1, conversation.encode()) + field_bytes(2, message_id) + field_bytes(3, clock)
            + field_bytes(4, payload))
    return frame(12, body)
