# srrepro: the README's two set-up commands (`make setup`, `python -m pytest`), plus the
# reproduction targets.
PYTHON ?= python
DATA_ROOT ?= ../shared/datasets
OUT ?= results/tables

.PHONY: setup browser test reproduce-table1 reproduce-all reproduce-bicubic check

# Python packages, then headless Chromium for the browser tests (Debian package `chromium`)
setup:
	$(PYTHON) -m pip install -e ".[test]"
	$(MAKE) browser

browser:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then \
	  echo "chromium: present"; \
	elif [ "$$(id -u)" = 0 ]; then \
	  apt-get update && apt-get install -y chromium; \
	elif command -v sudo >/dev/null 2>&1; then \
	  sudo apt-get update && sudo apt-get install -y chromium; \
	else \
	  echo "chromium not installed and not root: run 'apt-get update && apt-get install -y chromium' as root (the browser tests skip until then)"; \
	fi

test:
	$(PYTHON) -m pytest

# DRN (CVPR 2020) Table 1: every row srrepro can evaluate, the rest marked with the reason
reproduce-table1: reproduce-drn2020-table1

# every published table (reports/tables/*.yaml) plus an index page linking them
reproduce-all:
	$(PYTHON) -m bench reproduce --all --data-root $(DATA_ROOT) --out $(OUT)

reproduce-bicubic: reproduce-bicubic-literature

# any one table: make reproduce-drn2018-table1, make reproduce-esrgandp-table5, ...
reproduce-%:
	$(PYTHON) -m bench reproduce $* --data-root $(DATA_ROOT) --out $(OUT)/$*

# fails when a stored reproduction drifts beyond reports/tolerances.csv
check: reproduce-bicubic
	$(PYTHON) -m bench check bicubic-literature
