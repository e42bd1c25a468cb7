"""What content-keyed caching costs: digests of checkpoints of several sizes and of image datasets.

    python -m benchmarks.cache_key_cost            # 64 MB .. 4 GB files, cifar10 (1,000 PNGs), 5,000 x 100 kB files

Files are written to a temporary folder first (random bytes), then digested twice: the first time from a
cold-ish page cache right after writing, the second warm; both are printed. Up to 256 MiB a file is hashed
whole; beyond, 65 one-MiB blocks are read (see lead_hf/_digest.py).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from lead_hf._digest import bytes_digest, file_digest
from lead_hf.data import load_image_dataset
from lead_hf.zoo import default_zoo_dir

MIB = 1 << 20


def _write_random(path: Path, size: int) -> None:
    with open(path, "wb") as handle:
        for _ in range(size // (64 * MIB)):
            handle.write(os.urandom(64 * MIB))
        handle.write(os.urandom(size % (64 * MIB)))


def _timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        print("checkpoint size   first digest   second digest")
        for size_mib in (64, 256, 1024, 4096):
            path = Path(tmp) / f"model-{size_mib}.safetensors"
            _write_random(path, size_mib * MIB)
            first, second = _timed(file_digest, path), _timed(file_digest, path)
            print(f"{size_mib:>10} MiB   {first:>10.3f} s   {second:>11.3f} s")
            path.unlink()
        zoo = default_zoo_dir()
        if zoo is not None:
            data = load_image_dataset(zoo / "data" / "cifar10")
            seconds = _timed(lambda: data.images_digest)
            print(f"cifar10 train split of the zoo ({len(data)} PNG files): images digest {seconds:.3f} s")
        files = [Path(tmp) / f"{i}.jpg" for i in range(5000)]
        for file in files:
            file.write_bytes(os.urandom(100_000))
        seconds = _timed(lambda: bytes_digest(file.read_bytes() for file in files))
        print(f"5,000 files of 100 kB (500 MB): {seconds:.3f} s")


if __name__ == "__main__":
    main()
