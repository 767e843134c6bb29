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


def ping(nonce: int) -> bytes:
    return frame(19, field_varint(1, nonce))


def add_member(request_id: int, conversation: str, user: str, role: int) -> bytes:
    body = (field_varint(1, request_id) + field_bytes(2, conversation.encode()) + field_bytes(3, user.encode())
            + field_varint(4, role))
    return frame(23, body)


def create_conversation(request_id: int, conversation: str, members) -> bytes:
    body = field_varint(1, request_id) + field_bytes(2, conversation.encode())
    for m in members:
        body += field_bytes(3, m.encode())
    return frame(22, body)


def delivered(conversation: str, count: int) -> bytes:
    mark = field_bytes(1, conversation.encode()) + field_varint(2, 1)
    return frame(16, field_bytes(1, mark) * count)


# Reading the server's replies.

PONG = 20
ERROR = 21
CONVERSATION_RESULT = 25
# ResultCode of a ConversationResult (proto/imr.proto).
RESULT_OK = 0
RESULT_NOT_OWNER = 5


def read_varint(data: bytes, i: int):
    value = shift = 0
    while True:
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def fields(data: bytes) -> dict:
    """field number -> its last value (an int for varints, bytes for length-delimited)."""
    out, i = {}, 0
    while i < len(data):
        key, i = read_varint(data, i)
        kind = key & 7
        if kind == 0:
            out[key >> 3], i = read_varint(data, i)
        elif kind == 1:
            out[key >> 3], i = data[i:i + 8], i + 8
        elif kind == 2:
            n, i = read_varint(data, i)
            out[key >> 3], i = data[i:i + n], i + n
        elif kind == 5:
            out[key >> 3], i = data[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {kind}")
    return out


def result_code(data: bytes):
    """The code of a ConversationResult frame (proto3 leaves out 0), or None for another frame."""
    body = fields(data).get(CONVERSATION_RESULT)
    return None if body is None else fields(body).get(3, RESULT_OK)
