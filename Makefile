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
.PHONY: deploy wheel install

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

test: build lint unit flow flow-replica flow-aof flow-cluster clients deploy

unit: build
	$(PY) -m pytest -q tests/unit

flow: build
	$(RLTEST) $(RLTEST_ARGS)

# The replica and AOF runs take the files whose tests look at a replica, or restart from
# the AOF: the others check nothing more there than standalone, and on two cores a replica
# doubles every model build. RLTEST_ARGS, when given, chooses instead.
FLOW_FILES     := $(notdir $(wildcard tests/flow/test_*.py))
NO_REPLICA     := test_fuzz.py test_module_load.py test_native_runs.py test_onnx_memory.py \
                  test_store_stall.py test_tf_archives.py
NO_AOF         := $(NO_REPLICA) test_dag_errors.py test_model_errors.py test_script_errors.py \
                  test_tensor_errors.py
only_files      = $(or $(RLTEST_ARGS),$(addprefix --test ,$(filter-out $(1) $(CLUSTER_TESTS),$(FLOW_FILES))))

flow-replica: build
	$(RLTEST) --use-slaves $(call only_files,$(NO_REPLICA))

flow-aof: build
	$(RLTEST) --use-aof $(call only_files,$(NO_AOF))

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
	$(PY) opt/bench_ttr.py
	$(PY) opt/bench_streams.py

PY_SOURCES := backends tests opt setup.py cyrai

lint: setup
	$(VENV)/bin/ruff check $(PY_SOURCES)
	$(VENV)/bin/ruff format --check $(PY_SOURCES)
	clang-format --dry-run --Werror src/*.[ch] pyx/*.[ch] backends/*.c backends/*.cpp tests/unit/c/*.c

# --- deployment: the module as a pip package (see README, Deploy) --------------------------
# The wheel and a fresh environment built from it, a copy of the module loaded with
# PYTHON_ENV, refusals of environments it cannot use.
deploy: build
	$(PY) -m pytest -q -p no:cacheprovider tests/deploy

# The wheel holds the module, the backends and the native runners built here.
WHEEL_DIR := build/wheel

wheel: build
	rm -rf $(WHEEL_DIR)
	$(PY) -m pip wheel -q --no-build-isolation --no-deps -w $(WHEEL_DIR) .

# `make install PREFIX=/opt/cyrai`: a Python environment at PREFIX (made from the Python the
# module links, if missing) holding the wheel and the pinned frameworks of FRAMEWORKS. The
# module is then $(PREFIX)/lib/python3.X/site-packages/cyrai/cyrai.so, and
# $(PREFIX)/bin/cyrai-server starts redis-server with it.
PREFIX     ?= /opt/cyrai
FRAMEWORKS ?= torch onnxruntime onnx tensorflow-cpu

install: wheel
	[ -x $(PREFIX)/bin/python3 ] || \
	    $$($(PY) -c 'import sys; print(sys._base_executable)') -m venv $(PREFIX)
	$(PREFIX)/bin/pip install -q -c requirements.txt numpy $(FRAMEWORKS)
	$(PREFIX)/bin/pip install -q --no-deps --force-reinstall $(WHEEL_DIR)/cyrai-*.whl
	$(PREFIX)/bin/python -I -m cyrai  # -I: not the checkout's cyrai/ of the working directory

clean:
	rm -rf build
