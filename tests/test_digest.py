"""lead_hf._digest: content digests for cache keys (whole files, sampled big files, byte sequences)."""

from __future__ import annotations

import hashlib

import numpy as np

from lead_hf import _digest


def _sampled_by_hand(data: bytes, block: int, blocks: int) -> str:
    """The sampled digest written out independently: size, then the first block and ``blocks`` evenly spaced ones."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(len(data).to_bytes(8, "little"))
    step = (len(data) - block) // blocks
    for offset in [0] + [step * (i + 1) for i in range(blocks)]:
        digest.update(data[offset : offset + block])
    return digest.hexdigest()


def test_small_files_are_hashed_whole(tmp_path):
    path = tmp_path / "weights.bin"
    data = np.random.default_rng(0).bytes(3000)
    path.write_bytes(data)
    whole = hashlib.blake2b(len(data).to_bytes(8, "little") + data, digest_size=16).hexdigest()
    assert _digest.file_digest(path) == whole
    path.write_bytes(data[:1500] + bytes([data[1500] ^ 1]) + data[1501:])  # one bit anywhere
    assert _digest.file_digest(path) != whole


def test_big_files_are_sampled(tmp_path, monkeypatch):
    monkeypatch.setattr(_digest, "BLOCK_BYTES", 64)
    monkeypatch.setattr(_digest, "FULL_HASH_BYTES", 1024)
    monkeypatch.setattr(_digest, "SAMPLED_BLOCKS", 8)
    data = bytearray(np.random.default_rng(1).bytes(10_000))
    path = tmp_path / "model.safetensors"
    path.write_bytes(bytes(data))
    original = _digest.file_digest(path)
    assert original == _sampled_by_hand(bytes(data), 64, 8)
    data[10] ^= 1  # the header block (a safetensors header: names, shapes, offsets)
    path.write_bytes(bytes(data))
    assert _digest.file_digest(path) == _sampled_by_hand(bytes(data), 64, 8) != original
    new_weights = np.random.default_rng(2).bytes(10_000 - 64)  # same header, every weight rewritten
    path.write_bytes(bytes(data[:64]) + new_weights)
    assert _digest.file_digest(path) not in (original, _sampled_by_hand(bytes(data), 64, 8))


def test_bytes_digest_counts_boundaries():
    assert _digest.bytes_digest([b"ab", b"c"]) != _digest.bytes_digest([b"a", b"bc"])
    assert _digest.bytes_digest([b"ab", b"c"]) == _digest.bytes_digest(iter([b"ab", b"c"]))


def test_json_digest_ignores_key_order():
    assert _digest.json_digest({"a": 1, "b": [2, 3]}) == _digest.json_digest({"b": [2, 3], "a": 1})
    assert len(_digest.json_digest({"a": 1})) == 16
