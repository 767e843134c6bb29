#!/usr/bin/env python3
"""Writes the fuzz seeds that come from the repository's own files (run after the wire
vectors or the schema change; the outputs are committed):

  corpus/decode/seed-*     every golden and malformed frame of Tests/Vectors (up to 16 KiB)
  corpus/splitter/seed-*   the golden frames as streams (each delimited, and all of them in
                           one stream, in chunks) and the malformed streams
  dict/imr.dict            the protobuf tag of every field of proto/imr.proto, and the frame
                           envelope's version and body tags

The engine and ABI targets read their input as a script, not as frames: their corpora are
the minimised corpora of fuzzing campaigns (libFuzzer's -merge=1), committed beside these.
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
VECTORS = os.path.join(ROOT, "Tests", "Vectors")
PROTO = os.path.join(ROOT, "proto", "imr.proto")
MAX_SEED = 16 << 10
# fuzz-splitter's input: a byte choosing the frame limit (10: the default limit), a byte
# giving the number of chunk sizes, the chunk sizes, then the stream.
SPLITTER_HEADER = bytes([10, 2, 3, 7])


def varint(v):
    out = bytearray()
    while True:
        byte = v & 0x7F
        v >>= 7
        out.append(byte | (0x80 if v else 0))
        if not v:
            return bytes(out)


def vectors(folder):
    path = os.path.join(VECTORS, folder)
    for name in sorted(os.listdir(path)):
        if name.endswith(".bin"):
            with open(os.path.join(path, name), "rb") as f:
                yield name[:-4], f.read()


def write(folder, name, data):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def clear_seeds(folder):
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            if name.startswith("seed-"):
                os.remove(os.path.join(folder, name))


def seeds():
    decode = os.path.join(HERE, "corpus", "decode")
    splitter = os.path.join(HERE, "corpus", "splitter")
    clear_seeds(decode)
    clear_seeds(splitter)
    golden = [(n, d) for n, d in vectors("") if len(d) <= MAX_SEED]
    for name, data in golden:
        write(decode, "seed-" + name, data)
        write(splitter, "seed-" + name, SPLITTER_HEADER + varint(len(data)) + data)
    for name, data in vectors("malformed"):
        if len(data) <= MAX_SEED:
            write(decode, "seed-malformed-" + name, data)
    stream = b"".join(varint(len(d)) + d for _, d in golden if len(d) < 1024)
    write(splitter, "seed-all-golden", SPLITTER_HEADER + stream)
    for name, data in vectors("malformed-stream"):
        write(splitter, "seed-malformed-" + name, SPLITTER_HEADER + data)


def tag(number, wire_type):
    return varint(number << 3 | wire_type)


WIRE_TYPES = {"fixed64": 1, "sfixed64": 1, "double": 1, "fixed32": 5, "sfixed32": 5, "float": 5}
VARINT_TYPES = {"uint32", "uint64", "int32", "int64", "sint32", "sint64", "bool"}


def dictionary():
    """One entry per field: its tag with the wire type its type (and packing) gives."""
    text = open(PROTO).read()
    text = re.sub(r"//[^\n]*", "", text)
    enums = set(re.findall(r"\benum\s+(\w+)", text))
    lines = ["# Protobuf tags of proto/imr.proto (written by Tests/Fuzz/seeds.py)."]
    for message, body in re.findall(r"\bmessage\s+(\w+)\s*\{(.*?)\n\}", text, re.S):
        for repeated, kind, field, number in re.findall(r"(repeated\s+)?([\w.]+)\s+(\w+)\s*=\s*(\d+)", body):
            number = int(number)
            packed = bool(repeated) and (kind in VARINT_TYPES or kind in WIRE_TYPES or kind in enums)
            if packed:
                wire = 2
            elif kind in WIRE_TYPES:
                wire = WIRE_TYPES[kind]
            elif kind in VARINT_TYPES or kind in enums:
                wire = 0
            else:
                wire = 2
            data = tag(number, wire)
            lines.append('%s_%s="%s"' % (message, field, "".join("\\x%02x" % b for b in data)))
    lines.append('version_1="\\x08\\x01"')
    lines.append('send_message_id_of_16_bytes="\\x12\\x10"')
    write(os.path.join(HERE, "dict"), "imr.dict", ("\n".join(lines) + "\n").encode())


if __name__ == "__main__":
    seeds()
    dictionary()
    sys.exit(0)
