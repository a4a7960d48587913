"""Latency against concurrency (bench.py runs these cases): AI.MODELEXECUTE of the TORCH
MLP (bench_zoo) at 1 to 64 clients, each client one request in flight; the report plots
p50, p99 and executions/s against the number of clients."""

import bench_zoo as zoo
from bench_case import Case
from bench_models import MODEL_DURATION_S, MODEL_ROUNDS, execute_workload

SWEEP_CLIENTS = (1, 2, 4, 8, 16, 32, 64)
SWEEP_NAME = "sweep TORCH mlp 1x256"


def sweep_cases():
    workload = execute_workload(SWEEP_NAME, "bench:m", zoo.TORCH_MLP)
    return [
        Case(SWEEP_NAME, clients, workload, duration=MODEL_DURATION_S, rounds=MODEL_ROUNDS)
        for clients in SWEEP_CLIENTS
    ]
