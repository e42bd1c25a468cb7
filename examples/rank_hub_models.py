"""Rank the most downloaded Hub image classifiers on a Hub dataset (needs network access).

    python examples/rank_hub_models.py beans --limit 6 --max-samples-per-class 32
"""

import argparse
import logging

import lead_hf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", help="Hub dataset id, e.g. beans")
    parser.add_argument("--limit", type=int, default=6, help="how many Hub candidates to rank")
    parser.add_argument("--max-samples-per-class", type=int, default=32)
    parser.add_argument("--max-params", type=float, default=100e6, help="skip larger models")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)

    ranking = lead_hf.rank_hub_models(
        args.dataset,
        limit=args.limit,
        max_params=int(args.max_params),
        max_samples_per_class=args.max_samples_per_class,
        scorers=("lead", "logme", "sfda"),
    )
    print(ranking)
    print("fine-tune first:", ranking.best_model)
    ranking.to_json("ranking.json")
    ranking.plot("ranking.png")


if __name__ == "__main__":
    main()
