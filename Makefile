# cyrai: `make run` and `make test` install what is missing, build, then run or test.
VENV    := .venv
PY      := $(VENV)/bin/python
MODULE  := build/cyrai.so
PORT    ?= 6379
# RLTest finds the test files in its working directory.
# Each environment keeps its servers' logs and data apart: build/logs/<target>.
RLTEST  = cd tests/flow && $(abspath $(PY)) -m RLTest --module $(abspath $(MODULE)) \
          --log-dir $(abspath build/logs/$@) --clear-logs --enable-debug-command \
          --randomize-ports --check-exitcode
# RLTEST_ARGS narrows a flow run, e.g. RLTEST_ARGS='--test test_tensor.py'.
RLTEST_ARGS ?=

.PHONY: setup build run test unit flow flow-replica flow-aof flow-cluster clients bench lint clean

setup: deps/redismodule.h deps/onnxruntime/onnxruntime_c_api.h $(VENV)/.requirements.installed

deps/redismodule.h deps/onnxruntime/onnxruntime_c_api.h:
	opt/install_system.sh

$(VENV)/.requirements.installed: requirements.txt
	opt/install_venv.sh

# The real RedisAI clients live in a venv of their own: their pins conflict with the
# test tools' (redis-py < 5, numpy < 2).
CLIENTS_VENV := .venv-clients

$(CLIENTS_VENV)/.requirements.installed: requirements-clients.txt
	opt/install_clients_venv.sh

build: setup
	$(PY) setup.py -q build_ext

run: build
	redis-server --port $(PORT) --save "" --loadmodule $(abspath $(MODULE))

# Cluster tests need hash-tagged keys: only the files written for it run there.
CLUSTER_TESTS ?= test_cluster.py test_dag_async_cluster.py test_triggers_cluster.py

test: build lint unit flow flow-replica flow-aof flow-cluster clients

unit: build
	$(PY) -m pytest -q tests/unit

flow: build
	$(RLTEST) $(RLTEST_ARGS)

flow-replica: build
	$(RLTEST) --use-slaves $(RLTEST_ARGS)

flow-aof: build
	$(RLTEST) --use-aof $(RLTEST_ARGS)

flow-cluster: build
	for t in $(CLUSTER_TESTS); do \
	    ( $(RLTEST) --env oss-cluster --shards-count 3 --test $$t ) || exit 1; \
	done

# redisai-py and SmartRedis, used as their users do, against servers with the module
# (standalone and a 3-master cluster, started by tests/clients/conftest.py).
clients: build $(CLIENTS_VENV)/.requirements.installed
	$(CLIENTS_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/clients

bench: build
	$(PY) opt/bench.py
	$(PY) opt/bench_stall.py
	$(PY) opt/bench_streams.py

PY_SOURCES := backends tests opt setup.py

lint: setup
	$(VENV)/bin/ruff check $(PY_SOURCES)
	$(VENV)/bin/ruff format --check $(PY_SOURCES)
	clang-format --dry-run --Werror src/*.[ch] pyx/*.[ch] backends/*.c backends/*.cpp tests/unit/c/*.c

clean:
	rm -rf build
