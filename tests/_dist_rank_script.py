"""Run by tests/test_extraction_distributed.py under ``torchrun --nproc_per_node 2``: rank several models, save what each rank saw.

Usage: python _dist_rank_script.py DATA_DIR CACHE_DIR OUT_PREFIX MODEL [MODEL ...]
Each rank writes ``OUT_PREFIX.rank<k>.json``: its ranking (JSON rows) and the models it loaded itself, recorded
by wrapping ``lead_hf._models.load_model`` (so the test can see that whole models were split between processes).
"""

import json
import sys

from accelerate import Accelerator

from lead_hf import _models
from lead_hf.rank import rank_models


def main() -> None:
    data_dir, cache_dir, out_prefix, *models = sys.argv[1:]
    loaded: list[str] = []
    load_model = _models.load_model

    def recording_load(spec, *, name, trust_remote_code):
        loaded.append(name)
        return load_model(spec, name=name, trust_remote_code=trust_remote_code)

    _models.load_model = recording_load
    accelerator = Accelerator()
    ranking = rank_models(models, data_dir, scorers=("lead", "logme", "leep"), cache_dir=cache_dir, batch_size=4,
                          accelerator=accelerator, progress=False)
    report = {"num_processes": accelerator.num_processes, "loaded": loaded, "rows": json.loads(ranking.to_json())["rows"]}
    with open(f"{out_prefix}.rank{accelerator.process_index}.json", "w") as handle:
        json.dump(report, handle)
    accelerator.wait_for_everyone()  # no process tears the group down while another still uses it
    accelerator.end_training()  # destroys the process group: left to the interpreter's exit, it can abort


if __name__ == "__main__":
    main()
