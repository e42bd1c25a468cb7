"""The offline demo behind ``make demo``: real images and real pre-trained models, no network.

``load_offline_example()`` builds (once, then cached) a zoo of small ``transformers`` image classifiers of
different architectures pre-trained on different real source tasks, a real target dataset, and each model's
measured fine-tuned accuracy; ``run_demo()`` ranks the zoo with lead-hf's scorers and compares the ranking
with the measured accuracies. Run it with ``python -m lead_hf.demo``.
"""

from .example import OfflineExample, load_offline_example
from .run import DemoResult, run_demo

__all__ = ["DemoResult", "OfflineExample", "load_offline_example", "run_demo"]
