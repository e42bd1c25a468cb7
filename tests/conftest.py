"""Test-wide settings and shared fixtures: never touch the network, keep every cache inside a temporary folder.

The layout mirrors the package (``tests/scoring/`` for ``lead_hf/scoring/``, ``test_<module>.py`` for
``lead_hf/<module>.py``). Helper modules (``_tiny``, ``_fake_hub``, ...) sit here; pytest puts this folder on
``sys.path`` when it loads this file, so tests in subfolders import them by name too.

Set before any Hugging Face library is imported, because they read these variables at import time.
"""

import os
import tempfile

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_EVALUATE_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
_HF_HOME = tempfile.mkdtemp(prefix="lead_hf_tests_hf_home_")
os.environ["HF_HOME"] = _HF_HOME
os.environ["LEAD_HF_CACHE"] = os.path.join(_HF_HOME, "lead_hf")


@pytest.fixture(scope="module")
def single_thread():
    """Tiny models on a shared 2-core machine: one intra-op thread avoids oversubscription (10-40x faster).

    Use it in a module with ``pytestmark = pytest.mark.usefixtures("single_thread")``.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
