"""Tell an unreachable Hub from a missing repository, in well under a second.

Without network, ``datasets`` and ``hf_hub_download`` retry for tens of seconds and then report the repo as
"not found". One HEAD request to the endpoint, without retries, says whether the Hub answers at all; any HTTP
answer (even an error status) means it is reachable, so "not found" is only ever said after a real 404.
"""

from __future__ import annotations

import time

# A probe is remembered this long: a ranking of 50 models asks once, a later call sees a network that came back.
PROBE_MEMORY_SECONDS = 30.0
PROBE_TIMEOUT_SECONDS = 5.0

_probes: dict[str, tuple[float, str | None]] = {}


def unreachable_hub_message(endpoint: str | None = None) -> str | None:
    """``None`` when the Hub answers or offline mode is on (nothing will be requested); else why it cannot be reached.

    Args:
        endpoint (`str`, *optional*): the Hub's address; defaults to ``HF_ENDPOINT`` (``https://huggingface.co``).

    Returns:
        `str` or `None`: a message naming the endpoint, the network error and the ways to work offline.
    """
    from huggingface_hub import constants
    from huggingface_hub.utils import get_session

    if constants.HF_HUB_OFFLINE:
        return None
    endpoint = (endpoint or constants.ENDPOINT).rstrip("/")
    remembered = _probes.get(endpoint)
    if remembered is not None and time.monotonic() - remembered[0] < PROBE_MEMORY_SECONDS:
        return remembered[1]
    try:
        get_session().head(endpoint, timeout=PROBE_TIMEOUT_SECONDS)
        message = None
    except Exception as err:
        message = (
            f"the Hugging Face Hub at {endpoint} cannot be reached ({type(err).__name__}: {err}). Check the network "
            "(and HF_ENDPOINT), or work offline: set HF_HUB_OFFLINE=1 and HF_DATASETS_OFFLINE=1 to use what is in "
            "the local cache, or pass a local imagefolder directory and local model folders"
        )
    _probes[endpoint] = (time.monotonic(), message)
    return message
