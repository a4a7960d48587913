"""The model benchmarks' cases (bench.py runs them with the tensor cases, on one server):

- AI.MODELEXECUTE of each model of bench_zoo (TORCH, ONNX, TF, TFLITE) and AI.SCRIPTEXECUTE
  of a script, at 1 and 50 clients; the 1-client case also times the model called in the
  bench process, for what going through Redis adds per request.
- AI.DAGEXECUTE (TENSORSET |> MODELEXECUTE |> TENSORGET) against the same three commands
  sent one after the other (one iteration) by each client.
- 32 clients on an MLP stored with BATCHSIZE 16 against the same model without.

Model and DAG cases also run SET 4 KB in the same rounds, for its server CPU per request:
the report prints a case's own beside it, and their ratio ("x SET").

Every client shares the input tensors and writes its own output key. Before a case's load,
one run through the server is checked against the in-process output. Model cases run
shorter than the tensor cases (MODEL_DURATION_S in MODEL_ROUNDS rounds) so that the whole
of `make bench` stays within minutes on two cores.
"""

import random

import bench_zoo as zoo
import numpy as np
from bench_case import Case, Target, Workload
from bench_load import OK, bulk, encode

MODEL_DURATION_S = 1.5
MODEL_ROUNDS = 3
CLIENTS = (1, 50)
# The tiny models: executions/s at 50 clients, median latency at 1 client, and server CPU
# per request against SET 4 KB's in the same rounds (issue 12: RedisAI's C path costs
# 2.2-3.7x SET on TORCH and ONNX, 7-9x on TF).
CPU_2X, CPU_5X = Target("cpu_vs_set", 2.0), Target("cpu_vs_set", 5.0)
TINY_TARGETS = {1: (Target("p50_ms", 0.1), CPU_2X), 50: (Target("rps", 50_000), CPU_2X)}
TORCH_TARGETS = {1: (Target("p50_ms", 0.08), CPU_2X), 50: (Target("rps", 50_000), CPU_2X)}
SCRIPT_TARGETS = {clients: (CPU_2X,) for clients in CLIENTS}
TF_TARGETS = {clients: (CPU_5X,) for clients in CLIENTS}
SET_SIZE = 4 * 1024
BATCH_CLIENTS = 32
BATCH_TARGET = Target("ratio", 1.5)  # batched / unbatched


def input_keys(model):
    return [f"bench:in:{j}" for j in range(len(model.inputs))]


def out_key(i):
    return f"bench:out:{i}"


def tensorset(key, array):
    return ("AI.TENSORSET", key, "FLOAT", *array.shape, "BLOB", array.tobytes())


def execute_argv(key, model, i):
    ins = input_keys(model)
    if model.backend == "SCRIPT":
        fn = model.names[0]
        return ("AI.SCRIPTEXECUTE", key, fn, "INPUTS", len(ins), *ins, "OUTPUTS", 1, out_key(i))
    return ("AI.MODELEXECUTE", key, "INPUTS", len(ins), *ins, "OUTPUTS", 1, out_key(i))


def check_output(r, key, want, what):
    got = np.frombuffer(r.execute_command("AI.TENSORGET", key, "BLOB"), np.float32)
    if not np.allclose(got, want.ravel(), rtol=1e-4, atol=1e-5):
        raise RuntimeError(
            f"{what}: the server computed {got[:4]}..., in process {want.ravel()[:4]}..."
        )


def execute_workload(label, key, model, *options):
    """Each client runs the stored model on the shared inputs into its own output key."""

    def setup(r, nclients):
        r.execute_command(*model.store_command(key, *options))
        for k, array in zip(input_keys(model), model.inputs):
            r.execute_command(*tensorset(k, array))
        r.execute_command(*execute_argv(key, model, 0))
        check_output(r, out_key(0), model.output(), label)

    return Workload(label, lambda i: encode(*execute_argv(key, model, i)), lambda i: OK, setup)


def set_4k():
    """SET of 4 KB, each client its own key: the reference of server CPU per request."""
    data = random.Random(SET_SIZE).randbytes(SET_SIZE)
    return Workload("SET 4 KB", lambda i: encode("SET", f"bench:set:{i}", data), lambda i: OK)


def execute_cases(name, model, targets=None):
    workload = execute_workload(name, "bench:m", model)
    return [
        Case(
            name,
            clients,
            workload,
            targets=(targets or {}).get(clients, ()),
            duration=MODEL_DURATION_S,
            rounds=MODEL_ROUNDS,
            inprocess=(lambda: zoo.calls_per_second(model)) if clients == 1 else None,
            reference=set_4k(),
        )
        for clients in CLIENTS
    ]


def model_cases():
    return [
        *execute_cases("AI.MODELEXECUTE TORCH add 1x4", zoo.TORCH_ADD, TORCH_TARGETS),
        *execute_cases("AI.MODELEXECUTE TORCH mlp 1x256", zoo.TORCH_MLP),
        *execute_cases("AI.MODELEXECUTE ONNX add 1x4", zoo.ONNX_ADD, TINY_TARGETS),
        *execute_cases("AI.MODELEXECUTE ONNX mlp 1x256", zoo.ONNX_MLP),
        *execute_cases("AI.MODELEXECUTE TF mul 1x4", zoo.TF_MUL, TF_TARGETS),
        *execute_cases("AI.MODELEXECUTE TFLITE mlp 1x256", zoo.TFLITE_MLP),
        *execute_cases("AI.SCRIPTEXECUTE add 1x4", zoo.SCRIPT_ADD, SCRIPT_TARGETS),
        # Not a tiny script: its two element-wise ops on 256 floats take torch about 2 us on
        # the worker, half of SET's whole request, so the tiny models' target is not its.
        *execute_cases("AI.SCRIPTEXECUTE pre 1x256", zoo.SCRIPT_PRE),
    ]


def dag_cases():
    """One AI.DAGEXECUTE against its three commands sent separately (each client its own
    keys); ratio: DAGs/s over sequences/s."""
    model, a = zoo.TORCH_ADD, zoo.TINY
    result = bulk((a + a).tobytes())

    def store(r, nclients):
        r.execute_command(*model.store_command("bench:m"))

    def dag(i):
        return encode(
            "AI.DAGEXECUTE",
            "ROUTING",
            "bench:r",
            "|>",
            *tensorset("a", a),
            "|>",
            "AI.MODELEXECUTE",
            "bench:m",
            "INPUTS",
            2,
            "a",
            "a",
            "OUTPUTS",
            1,
            "c",
            "|>",
            "AI.TENSORGET",
            "c",
            "BLOB",
        )

    def separate(i):
        return (
            encode(*tensorset(f"bench:a:{i}", a)),
            encode(
                "AI.MODELEXECUTE",
                "bench:m",
                "INPUTS",
                2,
                f"bench:a:{i}",
                f"bench:a:{i}",
                "OUTPUTS",
                1,
                f"bench:c:{i}",
            ),
            encode("AI.TENSORGET", f"bench:c:{i}", "BLOB"),
        )

    subject = Workload("AI.DAGEXECUTE", dag, lambda i: b"*3\r\n" + OK + OK + result, store)
    baseline = Workload("3 commands", separate, lambda i: (OK, OK, result), store)
    return [
        Case(
            "AI.DAGEXECUTE vs 3 commands TORCH",
            clients,
            subject,
            baseline,
            duration=MODEL_DURATION_S * 2,
            rounds=MODEL_ROUNDS,
            reference=set_4k(),
        )
        for clients in CLIENTS
    ]


def batching_cases():
    model = zoo.TORCH_MLP
    batched = execute_workload("BATCHSIZE 16", "bench:m16", model, "BATCHSIZE", 16)
    unbatched = execute_workload("no BATCHSIZE", "bench:m", model)
    return [
        Case(
            "BATCHSIZE 16 vs none TORCH mlp",
            BATCH_CLIENTS,
            batched,
            unbatched,
            (BATCH_TARGET,),
            duration=MODEL_DURATION_S * 2,
            rounds=MODEL_ROUNDS,
        )
    ]


MODEL_CASE_FACTORIES = [model_cases, dag_cases, batching_cases]
