"""Content digests for cache keys: of JSON payloads, of files (sampled beyond a size), of image bytes.

Keys follow content, not names, sizes or modification times: a checkpoint or an image rewritten in place
with its old mtime gets a new key. Files up to ``FULL_HASH_BYTES`` are hashed whole; a bigger file (a
multi-GB checkpoint) is hashed from its size, its first MiB (which holds a safetensors header, so every
tensor name, dtype, shape and offset) and ``SAMPLED_BLOCKS`` one-MiB blocks spread evenly over it: new
weights change every sampled block, and the cost stays about 65 MiB of reading per file
(``python -m benchmarks.cache_key_cost`` measures it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

BLOCK_BYTES = 1 << 20
FULL_HASH_BYTES = 256 * BLOCK_BYTES
SAMPLED_BLOCKS = 64


def json_digest(payload: Any) -> str:
    """16 hex characters of the SHA-256 of ``payload`` as sorted JSON (``str()`` for other objects)."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def file_digest(path: str | Path) -> str:
    """BLAKE2b digest of a file's content: whole up to ``FULL_HASH_BYTES``, sampled blocks beyond."""
    digest = hashlib.blake2b(digest_size=16)
    size = Path(path).stat().st_size
    digest.update(size.to_bytes(8, "little"))
    with open(path, "rb") as handle:
        if size <= FULL_HASH_BYTES:
            while chunk := handle.read(BLOCK_BYTES):
                digest.update(chunk)
        else:
            step = (size - BLOCK_BYTES) // SAMPLED_BLOCKS
            for offset in [0, *(step * (i + 1) for i in range(SAMPLED_BLOCKS))]:
                handle.seek(offset)
                digest.update(handle.read(BLOCK_BYTES))
    return digest.hexdigest()


def bytes_digest(chunks: Iterable[bytes]) -> str:
    """BLAKE2b digest of a sequence of byte strings, each length-prefixed (so boundaries count)."""
    digest = hashlib.blake2b(digest_size=16)
    for chunk in chunks:
        digest.update(len(chunk).to_bytes(8, "little"))
        digest.update(chunk)
    return digest.hexdigest()
