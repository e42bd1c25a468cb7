# Two entry points for a fresh machine: `make demo` (main job, offline) and `make test`.
# Both create .venv and install what they need. torch and torchvision go first, pinned to the builds pip takes
# from this machine's disk (2.14.1 + 0.29.1: the pair timm imports with; CUDA builds that run on the CPU).
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.lead-hf-installed
export HF_HUB_OFFLINE ?= 1
export HF_EVALUATE_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install demo test lint bench browser-deps clean

$(STAMP): setup.py
	python3 -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install torch==2.14.1 torchvision==0.29.1
	$(PIP) install -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m lead_hf.demo

# Chromium drives the Space demo in a real browser; the test skips (with the reason) when it cannot be installed.
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) ; } || echo "chromium could not be installed: the browser test will be skipped"

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: $(STAMP) browser-deps
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m benchmarks.zoo

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
