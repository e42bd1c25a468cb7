"""Wall time of one ranking in 1 process and in 2 processes (models split between processes).

Usage::

    python -m benchmarks.multiprocess_rank                 # the 4 smallest-first MobileNets of zoo/hf on cifar10
    python -m benchmarks.multiprocess_rank --per-class 20

Each configuration runs under ``torchrun`` (1 process with 2 intra-op threads, then 2 processes with 1 thread
each: the machine's 2 cores either way) with a fresh feature cache, so both extract every model. The script
times ``rank_models`` inside the processes (the slowest process counts) and the whole command; it checks that
both give the same scores and prints the ratio 2-process / 1-process.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lead_hf.zoo import default_zoo_dir

MODELS = ("mobilenetv1_025_imagenet", "mobilenetv1_050_imagenet", "mobilenetv2_100_imagenet",
          "mobilenetv2_100_inat_birds")


def _worker(data_dir: str, cache_dir: str, out: str, per_class: int, models: list[str]) -> None:
    """Inside torchrun: one ranking, timed; each process writes its time, rank 0 writes the scores too."""
    from accelerate import Accelerator

    from lead_hf.rank import rank_models

    accelerator = Accelerator()
    accelerator.wait_for_everyone()
    start = time.perf_counter()
    ranking = rank_models(models, data_dir, max_samples_per_class=per_class, cache_dir=cache_dir,
                          accelerator=accelerator, progress=False)
    seconds = time.perf_counter() - start
    Path(f"{out}.rank{accelerator.process_index}.json").write_text(
        json.dumps({"seconds": seconds, "scores": ranking.scores()}))
    accelerator.end_training()  # destroys the process group: left to the interpreter's exit, it can abort


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(processes: int, data_dir: Path, models: list[str], per_class: int, workdir: Path) -> dict:
    torchrun = Path(sys.executable).with_name("torchrun")
    out = workdir / f"p{processes}"
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": str(2 // processes)}
    command = [str(torchrun), "--nproc_per_node", str(processes), "--master_addr", "127.0.0.1", "--master_port",
               str(_free_port()), "-m", "benchmarks.multiprocess_rank", "--worker", str(data_dir),
               str(workdir / f"cache{processes}"), str(out), str(per_class), *models]
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, cwd=Path(__file__).resolve().parents[1])
    wall = time.perf_counter() - start
    reports = [json.loads(Path(f"{out}.rank{k}.json").read_text()) for k in range(processes)]
    return {"command": wall, "rank": max(r["seconds"] for r in reports), "scores": reports[0]["scores"]}


def main() -> None:
    if sys.argv[1:2] == ["--worker"]:
        data_dir, cache_dir, out, per_class, *models = sys.argv[2:]
        _worker(data_dir, cache_dir, out, int(per_class), models)
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-class", type=int, default=50, help="images per class of cifar10 (default 50)")
    args = parser.parse_args()
    zoo = default_zoo_dir()
    models = [str(zoo / "hf" / name) for name in MODELS]
    data_dir = zoo / "data" / "cifar10"
    with tempfile.TemporaryDirectory() as tmp:
        one = _run(1, data_dir, models, args.per_class, Path(tmp))
        two = _run(2, data_dir, models, args.per_class, Path(tmp))
    same = all(abs(one["scores"][m] - two["scores"][m]) <= 1e-6 * max(1.0, abs(one["scores"][m])) for m in models)
    print(f"{len(models)} MobileNets of zoo/hf, cifar10 train, {args.per_class} images per class, fresh caches")
    print(f"{'':>12} {'rank_models':>12} {'command':>10}")
    for name, run in (("1 process", one), ("2 processes", two)):
        print(f"{name:>12} {run['rank']:>11.1f}s {run['command']:>9.1f}s")
    print(f"ratio 2/1: rank_models {two['rank'] / one['rank']:.2f}, whole command {two['command'] / one['command']:.2f}")
    print(f"same scores in both: {same}")


if __name__ == "__main__":
    main()
