"""Run by tests/test_extraction_distributed.py under ``torchrun --nproc_per_node 2``: extract twice, save what rank 0 sees.

Usage: python _dist_extract_script.py MODEL_DIR DATA_DIR CACHE_DIR OUT_PREFIX BATCH_SIZE
The first extraction computes (sharded across processes) and writes the cache from the main process only;
the second must be a cache hit on every process. Each rank saves its arrays to ``OUT_PREFIX.rank<k>.npz``.
"""

import sys

import numpy as np
from accelerate import Accelerator

from lead_hf.extraction import extract


def main() -> None:
    model_dir, data_dir, cache_dir, out_prefix, batch_size = sys.argv[1:6]
    accelerator = Accelerator()
    first = extract(model_dir, data_dir, batch_size=int(batch_size), cache_dir=cache_dir, accelerator=accelerator,
                    progress=False)
    second = extract(model_dir, data_dir, batch_size=int(batch_size), cache_dir=cache_dir, accelerator=accelerator,
                     progress=False)
    np.savez(
        f"{out_prefix}.rank{accelerator.process_index}.npz",
        features=first.features, logits=first.logits, labels=first.labels, n_skipped=first.n_skipped,
        num_processes=accelerator.num_processes, first_from_cache=first.from_cache,
        second_from_cache=second.from_cache, second_features=second.features,
    )
    accelerator.wait_for_everyone()  # no process tears the group down while another still uses it
    accelerator.end_training()  # destroys the process group: left to the interpreter's exit, it can abort


if __name__ == "__main__":
    main()
