# Every target sets up what it needs: apt packages, the virtualenv, the package itself.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := mininet bridge-utils iperf3 frr tcpdump fping iputils-ping iproute2 ethtool procps python3-venv chromium traceroute mtr-tiny curl openssh-server gcc python3-dev
STAMP_APT := $(VENV)/.apt-done
STAMP_PIP := $(VENV)/.pip-done

.PHONY: setup demo test unit integration bench clean clean-results lint

setup: $(STAMP_PIP)

$(STAMP_APT):
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing apt packages:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "run as root (apt-get needs it)"; exit 3; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@test -x $(PY) || python3 -m venv $(VENV)
	@touch $@

# the engine's compiled modules sit beside their sources and win at import: rebuild when a source changes
COMPILED_SOURCES := setup.py $(wildcard testbed/engine/*.py testbed/engine/*.c)

$(STAMP_PIP): $(STAMP_APT) pyproject.toml $(COMPILED_SOURCES)
	@$(PY) -m pip install -q --upgrade pip >/dev/null
	@$(PY) -m pip install -q -e '.[dev]'
	@touch $@

demo: setup
	$(VENV)/bin/testbed run scenarios/fiber-cut-failover.yaml

test: setup
	$(VENV)/bin/testbed clean --quiet || true
	$(PY) -m pytest -q -p no:cacheprovider tests examples

unit: setup
	$(PY) -m pytest -q tests/unit

integration: setup
	$(PY) -m pytest -q tests/integration

# ruff (pyflakes, isort, bugbear, pyupgrade) on all Python; mypy strict on the pure layers, checked elsewhere.
# Configuration in pyproject.toml. `ruff check --fix` repairs most findings.
lint: setup
	$(VENV)/bin/ruff check testbed tests bench examples
	$(VENV)/bin/mypy

bench: setup
	$(PY) -m bench

# never results/: it holds every run a user made; only clean-results, asked for by name, deletes it
clean:
	-$(VENV)/bin/testbed clean
	rm -rf $(VENV) build *.egg-info

clean-results:
	rm -rf results
