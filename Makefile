# cyrai: `make run` and `make test` install what is missing, build, then run or test.
VENV    := .venv
PY      := $(VENV)/bin/python
MODULE  := build/cyrai.so
PORT    ?= 6379
# RLTest finds the test files in its working directory.
RLTEST  := cd tests/flow && $(abspath $(PY)) -m RLTest --module $(abspath $(MODULE)) \
           --log-dir $(abspath build/logs) --clear-logs --enable-debug-command \
           --randomize-ports --check-exitcode
# RLTEST_ARGS narrows a flow run, e.g. RLTEST_ARGS='--test test_tensor.py'.
RLTEST_ARGS ?=

.PHONY: setup build run test unit flow flow-replica flow-aof flow-cluster bench lint clean

setup: deps/redismodule.h $(VENV)/.requirements.installed

deps/redismodule.h:
	opt/install_system.sh

$(VENV)/.requirements.installed: requirements.txt
	opt/install_venv.sh

build: setup
	$(PY) setup.py -q build_ext

run: build
	redis-server --port $(PORT) --save "" --loadmodule $(abspath $(MODULE))

# Cluster tests need hash-tagged keys: only the files written for it run there.
CLUSTER_TESTS ?= test_cluster.py

test: build lint unit flow flow-replica flow-aof flow-cluster

unit:
	$(PY) -m pytest -q tests/unit

flow:
	$(RLTEST) $(RLTEST_ARGS)

flow-replica:
	$(RLTEST) --use-slaves $(RLTEST_ARGS)

flow-aof:
	$(RLTEST) --use-aof $(RLTEST_ARGS)

flow-cluster:
	for t in $(CLUSTER_TESTS); do \
	    ( $(RLTEST) --env oss-cluster --shards-count 3 --test $$t ) || exit 1; \
	done

bench: build
	$(PY) opt/bench.py

lint: setup
	$(VENV)/bin/ruff check backends tests opt setup.py

clean:
	rm -rf build
