"""Extract features on several processes/GPUs with Accelerate, then score on the main process.

    accelerate launch --num_processes 2 examples/distributed_extract.py MODEL DATASET
    ACCELERATE_USE_CPU=true torchrun --nproc_per_node 2 examples/distributed_extract.py MODEL DATASET

The data are sharded across processes; the gathered features equal a single-process run, in order.
"""

import argparse

from accelerate import Accelerator

import lead_hf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="Hub model id or local save_pretrained folder")
    parser.add_argument("dataset", help="Hub dataset id or local imagefolder directory")
    parser.add_argument("--max-samples-per-class", type=int, default=None)
    args = parser.parse_args()

    accelerator = Accelerator()
    out = lead_hf.extract(
        args.model, args.dataset, accelerator=accelerator, max_samples_per_class=args.max_samples_per_class
    )
    if accelerator.is_main_process:
        result = lead_hf.lead_score(out.features, out.labels, return_details=True)
        print(f"{args.model}: {len(out)} images, LEAD {result.score:+.4f}, diagnostics {result.as_dict()}")


if __name__ == "__main__":
    main()
