/* Which backends the interpreter has imported, and their versions, as the C side knows
 * them: INFO reads these without ever taking the GIL. */
#pragma once

/* Records that a backend (by name: TF, TFLITE, TORCH, ONNX) is loaded; any thread. */
void ai_backend_loaded(const char *name, const char *version);
/* The version of a loaded backend (by id), or NULL. */
const char *ai_backend_version(int backend);
