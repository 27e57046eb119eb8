# srrepro: the README's two set-up commands, plus the reproduction targets.
PYTHON ?= python
DATA_ROOT ?= ../shared/datasets
OUT ?= results/tables

.PHONY: setup test reproduce-table1 reproduce-bicubic check

setup:
	$(PYTHON) -m pip install -e ".[test]"

test:
	$(PYTHON) -m pytest

# DRN (CVPR 2020) Table 1: every row srrepro can evaluate, the rest marked with the reason
reproduce-table1:
	$(PYTHON) -m bench reproduce drn2020-table1 --data-root $(DATA_ROOT) --out $(OUT)/drn2020-table1

reproduce-bicubic:
	$(PYTHON) -m bench reproduce bicubic-literature --data-root $(DATA_ROOT) --out $(OUT)/bicubic-literature

# fails when a stored reproduction drifts beyond reports/tolerances.csv
check: reproduce-bicubic
	$(PYTHON) -m bench check bicubic-literature
