"""app.codec on the real relay capture and a repository export (fixtures read in place), and on inputs
that strict DAG-CBOR or CARv1 forbid: every bad input raises CodecError, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.codec import CodecError
from app.codec.car import read_car
from app.codec.dagcbor import cid_for_block, decode_frame, decode_lexicon, decode_raw
from tests.support.capture import CORPUS, expected_records, frames


def test_capture_records_decode_to_what_jetstream_served(fixtures_dir: Path) -> None:
    """Every create/update of the capture: the block its op names, decoded, is Jetstream's record, and
    the block hashes to that CID."""
    by_key = {(op.did, op.collection, op.rkey): op for op in expected_records(fixtures_dir)}
    checked = 0
    for frame in frames(fixtures_dir):
        header, body = decode_frame(frame)
        if header["t"] != "#commit":
            continue
        roots, blocks = read_car(body["blocks"])
        assert roots == [body["commit"]]
        for op in body["ops"]:
            if op["action"] == "delete":
                continue
            block = blocks[op["cid"]]
            assert cid_for_block(block) == op["cid"]
            collection, rkey = op["path"].split("/")
            expected = by_key[(body["repo"], collection, rkey)]
            assert (expected.cid, expected.record) == (op["cid"], decode_lexicon(block))
            checked += 1
    assert checked == 146  # manifest: 144 creates + 2 updates


def test_lexicon_form_keeps_links_and_bytes_apart() -> None:
    link = bytes.fromhex("0001711220") + bytes(32)
    # {"b": h'01', "l": 42(h'00 01711220 00..00')}
    item = bytes([0xA2, 0x61, 0x62, 0x41, 0x01, 0x61, 0x6C, 0xD8, 0x2A, 0x58, len(link)]) + link
    lexicon = decode_lexicon(item)
    assert lexicon == {
        "b": {"$bytes": "AQ"},
        "l": {"$link": "bafyreiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
    }
    assert decode_raw(item) == {"b": b"\x01", "l": lexicon["l"]["$link"]}


def test_repository_export_lists_every_record(fixtures_dir: Path) -> None:
    data = (fixtures_dir / CORPUS / "repo.car").read_bytes()
    roots, blocks = read_car(data)
    commit = decode_raw(blocks[roots[0]])
    expected_commit = (fixtures_dir / CORPUS / "car_expected_commit.txt").read_text()
    assert f"Data CID: {commit['data']}" in expected_commit
    assert f"Revision: {commit['rev']}" in expected_commit
    assert all(cid_for_block(block) == cid for cid, block in blocks.items())
    listed = (fixtures_dir / CORPUS / "car_expected_records.tsv").read_text().split()
    assert set(listed[1::2]) <= set(blocks)


NOT_STRICT_DAG_CBOR = {
    "integer not minimal": bytes([0x18, 0x05]),
    "length not minimal": bytes([0x78, 0x01, 0x61]),
    "map keys out of order": bytes([0xA2, 0x62, 0x62, 0x62, 0x01, 0x61, 0x61, 0x02]),
    "duplicate map key": bytes([0xA2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02]),
    "indefinite array": bytes([0x9F, 0x01, 0xFF]),
    "non-string key": bytes([0xA1, 0x01, 0x02]),
    "tag 1": bytes([0xC1, 0x01]),
    "half float": bytes([0xF9, 0x3C, 0x00]),
    "NaN": bytes([0xFB, 0x7F, 0xF8, 0, 0, 0, 0, 0, 0]),
    "undefined": bytes([0xF7]),
    "bad UTF-8": bytes([0x62, 0xC3, 0x28]),
    "truncated": bytes([0x65, 0x61, 0x62]),
    "trailing byte": bytes([0x01, 0x01]),
    "link without multibase prefix": bytes([0xD8, 0x2A, 0x42, 0x01, 0x71]),
    "empty": b"",
}


@pytest.mark.parametrize("data", NOT_STRICT_DAG_CBOR.values(), ids=NOT_STRICT_DAG_CBOR.keys())
def test_not_strict_dag_cbor_is_rejected(data: bytes) -> None:
    for decode in (decode_lexicon, decode_raw):
        with pytest.raises(CodecError):
            decode(data)


def test_raw_form_checks_the_cid_inside_a_link() -> None:
    with pytest.raises(CodecError):
        decode_raw(bytes([0xD8, 0x2A, 0x43, 0x00, 0x01, 0x71]))  # CIDv1 cut before its hash


def test_frames_need_a_header_and_a_body_and_nothing_after() -> None:
    header, body = bytes([0xA1, 0x61, 0x74, 0x61, 0x78]), bytes([0xA0])
    assert decode_frame(header + body) == ({"t": "x"}, {})
    for bad in (header, header + body + b"\x00", b"\xff" + body, b""):
        with pytest.raises(CodecError):
            decode_frame(bad)


def test_non_bytes_input_is_a_codec_error() -> None:
    for decode in (decode_lexicon, decode_raw, decode_frame, read_car):
        with pytest.raises(CodecError):
            decode("text")  # type: ignore[arg-type]


def test_malformed_cars_are_rejected(fixtures_dir: Path) -> None:
    data = (fixtures_dir / CORPUS / "repo.car").read_bytes()
    header_length = data[0]
    bad = {
        "truncated in a block": data[:-5],
        "header length past the end": bytes([0x7F]) + data[1:20],
        "header not a map": bytes([1, 0x01]),
        "version 2 header": bytes([len(b"\xa2eroots\x80gversion\x02")]) + b"\xa2eroots\x80gversion\x02",
        "CIDv0 block": data[: 1 + header_length] + bytes([36, 0x12, 0x20]) + bytes(34),
        "block shorter than its CID": data[: 1 + header_length] + bytes([3, 0x01, 0x71, 0x12]),
        "overlong varint": bytes([0x80] * 12),
        "empty": b"",
    }
    accepted = []
    for name, car in bad.items():
        try:
            read_car(car)
        except CodecError:
            continue
        accepted.append(name)
    assert not accepted, f"read_car accepted: {accepted}"
