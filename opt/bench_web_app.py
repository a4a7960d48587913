"""The web-framework baseline of the benchmarks: a TorchScript model served by FastAPI
under uvicorn (uvloop, httptools), the way a Python team would put a model behind HTTP.
POST /run with the input's raw float32 bytes (of the fixed shape CYRAI_BENCH_SHAPE) gets
the output's raw bytes. Each uvicorn worker loads the model and runs it on one thread.

    CYRAI_BENCH_MODEL=model.pt CYRAI_BENCH_SHAPE=1,256 \
        python -m uvicorn bench_web_app:app --app-dir opt --workers 2
"""

import os

import numpy as np
import torch
from fastapi import FastAPI, Request, Response

torch.set_num_threads(1)
_MODEL = torch.jit.load(os.environ["CYRAI_BENCH_MODEL"])
_SHAPE = tuple(int(d) for d in os.environ["CYRAI_BENCH_SHAPE"].split(","))
app = FastAPI()


@app.post("/run")
async def run(request: Request):
    # A writable copy: torch refuses to wrap read-only bytes without a warning.
    x = torch.from_numpy(np.frombuffer(await request.body(), np.float32).reshape(_SHAPE).copy())
    with torch.inference_mode():
        y = _MODEL(x)
    return Response(y.numpy().tobytes(), media_type="application/octet-stream")
