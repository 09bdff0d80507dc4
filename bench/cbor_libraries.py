"""libipld against cbrrr on the real relay capture: decode speed, and what each rejects.

    .venv/bin/python -m bench.cbor_libraries [--fixtures ../shared/fixtures] [--rounds 20]

Speed: every frame of `jetstream/internal/corpus/testdata/frames.bin.zst` decoded — header and body,
then the commit's CAR and every block in it — `--rounds` times; prints frames/s and MB/s per library.
libipld decodes the CAR itself (`decode_car`); cbrrr has no CAR reader, so the CAR framing (varints,
CIDs) is walked here in Python and each block decoded by cbrrr in its atjson mode (lexicon JSON
straight out of the decoder). `libipld+walk` adds the Python walk that turns libipld's values into
lexicon-shaped JSON; `cbrrr-ops` decodes only the blocks the ops point at (what the reader needs).

Fidelity: whether a decoded value still tells a CID link from a byte string (lexicon JSON needs
`{"$link"}` and `{"$bytes"}` apart).

Strictness: hand-made inputs that strict DAG-CBOR forbids (non-minimal integers, unsorted or
duplicate map keys, indefinite lengths, other tags, NaN, trailing bytes, …); prints which library
rejects which. Not a test: the speed depends on the machine.
"""

from __future__ import annotations

import argparse
import os
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cbrrr
import libipld
import zstandard

CAPTURE = Path("jetstream/internal/corpus/testdata/frames.bin.zst")


def capture_frames(fixtures: Path) -> list[bytes]:
    raw = zstandard.ZstdDecompressor().stream_reader((fixtures / CAPTURE).read_bytes()).read()
    frames, pos = [], 0
    while pos < len(raw):
        (length,) = struct.unpack_from("<I", raw, pos)
        frames.append(raw[pos + 4 : pos + 4 + length])
        pos += 4 + length
    return frames


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def with_libipld(frame: bytes) -> int:
    header, body = libipld.decode_dag_cbor_multi(frame)
    if header.get("t") == "#commit":
        _, blocks = libipld.decode_car(body["blocks"])
        return len(blocks)
    return 0


def _lexicon(value: Any) -> Any:
    """libipld's output made lexicon-shaped by a Python walk (bytes only: links cannot be told apart)."""
    if isinstance(value, bytes):
        return {"$bytes": value}
    if isinstance(value, dict):
        return {key: _lexicon(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_lexicon(item) for item in value]
    return value


def with_libipld_walked(frame: bytes) -> int:
    """libipld plus the Python walk the reader would need to turn its values into lexicon JSON."""
    header, body = libipld.decode_dag_cbor_multi(frame)
    if header.get("t") == "#commit":
        _, blocks = libipld.decode_car(body["blocks"])
        for op in body["ops"]:
            if op.get("cid") is not None:
                _lexicon(blocks[op["cid"]])
        return len(blocks)
    return 0


def car_offsets(car: bytes) -> dict[bytes, tuple[int, int]]:
    header_length, pos = _varint(car, 0)
    pos += header_length
    found = {}
    while pos < len(car):
        length, pos = _varint(car, pos)
        end = pos + length
        found[car[pos : pos + 36]] = (pos + 36, end)
        pos = end
    return found


def with_cbrrr_ops_only(frame: bytes) -> int:
    """The reader's path: the CAR indexed, only the blocks that ops point at decoded."""
    view = memoryview(frame)
    header, used = cbrrr._cbrrr.decode_dag_cbor(view, cbrrr.CID, True)
    body, _ = cbrrr._cbrrr.decode_dag_cbor(view[used:], cbrrr.CID, False)
    if header.get("t") != "#commit":
        return 0
    car = body["blocks"]
    offsets = car_offsets(car)
    for op in body["ops"]:
        if op.get("cid") is not None:
            start, end = offsets[op["cid"].cid_bytes]
            cbrrr.decode_dag_cbor(car[start:end], atjson_mode=True)
    return len(offsets)


def with_cbrrr(frame: bytes) -> int:
    view = memoryview(frame)
    header, used = cbrrr._cbrrr.decode_dag_cbor(view, cbrrr.CID, True)
    body, _ = cbrrr._cbrrr.decode_dag_cbor(view[used:], cbrrr.CID, False)
    if header.get("t") != "#commit":
        return 0
    car = body["blocks"]
    header_length, pos = _varint(car, 0)
    pos += header_length
    count = 0
    while pos < len(car):
        length, pos = _varint(car, pos)
        end = pos + length
        pos += 36  # CIDv1 dag-cbor sha2-256: 1 + 1 + 1 + 1 + 32 bytes
        cbrrr.decode_dag_cbor(car[pos:end], atjson_mode=True)
        count += 1
        pos = end
    return count


def speed(name: str, decode: Callable[[bytes], int], frames: list[bytes], rounds: int) -> None:
    size = sum(map(len, frames))
    blocks = 0
    started = time.perf_counter()
    for _ in range(rounds):
        for frame in frames:
            blocks += decode(frame)
    elapsed = time.perf_counter() - started
    rate = len(frames) * rounds / elapsed
    megabytes = size * rounds / elapsed / 1e6
    print(
        f"{name:12} {rate:10,.0f} frames/s  {megabytes:6.1f} MB/s  ({blocks // rounds} CAR blocks per pass)"
    )


# Each case: a description and bytes that strict DAG-CBOR rejects.
STRICTNESS: list[tuple[str, bytes]] = [
    ("integer not minimally encoded (0x18 0x05)", bytes([0x18, 0x05])),
    ("text length not minimally encoded", bytes([0x78, 0x01, 0x61])),
    ("map keys not in length-first order", bytes([0xA2, 0x62, 0x62, 0x62, 0x01, 0x61, 0x61, 0x02])),
    ("duplicate map key", bytes([0xA2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02])),
    ("indefinite-length array", bytes([0x9F, 0x01, 0xFF])),
    ("indefinite-length text", bytes([0x7F, 0x61, 0x61, 0xFF])),
    ("non-string map key", bytes([0xA1, 0x01, 0x02])),
    ("tag other than 42 (tag 1)", bytes([0xC1, 0x01])),
    ("half-precision float", bytes([0xF9, 0x3C, 0x00])),
    ("NaN (64-bit)", bytes([0xFB, 0x7F, 0xF8, 0, 0, 0, 0, 0, 0])),
    ("undefined (0xf7)", bytes([0xF7])),
    ("text that is not UTF-8", bytes([0x62, 0xC3, 0x28])),
    ("truncated text", bytes([0x65, 0x61, 0x62])),
    ("trailing byte after the item", bytes([0x01, 0x01])),
    ("CID link without the 0x00 multibase prefix", bytes([0xD8, 0x2A, 0x42, 0x01, 0x71])),
    ("empty input", b""),
]


def rejects(decode: Callable[[bytes], Any], data: bytes) -> bool:
    try:
        decode(data)
    except Exception:
        return True
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--fixtures", type=Path, default=Path(os.environ.get("FIXTURES_DIR", "../shared/fixtures"))
    )
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    frames = capture_frames(args.fixtures)
    print(f"{len(frames)} frames, {sum(map(len, frames)):,} bytes, {args.rounds} rounds")
    for _ in range(2):  # a warm-up pass each, then the measured one
        speed("libipld", with_libipld, frames, args.rounds)
        speed("libipld+walk", with_libipld_walked, frames, args.rounds)
        speed("cbrrr", with_cbrrr, frames, args.rounds)
        speed("cbrrr-ops", with_cbrrr_ops_only, frames, args.rounds)

    link = cbrrr.CID.cidv1_dag_cbor_sha256_32_from(b"x")
    sample = cbrrr.encode_dag_cbor({"link": link, "bytes": bytes(link)})
    print("\nfidelity: a CID link and a byte string with the same content")
    print(f"  libipld  {libipld.decode_dag_cbor(sample)}")
    print(f"  cbrrr    {cbrrr.decode_dag_cbor(sample, atjson_mode=True)}")

    print("\nstrictness (rejected?)")
    print(f"  {'input':48} libipld  cbrrr")
    for description, data in STRICTNESS:
        by_libipld = rejects(libipld.decode_dag_cbor, data)
        by_cbrrr = rejects(cbrrr.decode_dag_cbor, data)
        print(f"  {description:48} {'yes' if by_libipld else 'NO':8} {'yes' if by_cbrrr else 'NO'}")


if __name__ == "__main__":
    main()
