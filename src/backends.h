/* Which backends the interpreter has imported, and their versions, as the C side knows
 * them: INFO reads these without ever taking the GIL. */
#pragma once

/* Records that a backend (by name: TF, TFLITE, TORCH, ONNX) is loaded; any thread. */
void ai_backend_loaded(const char *name, const char *version);
/* The version of a loaded backend (by id), or NULL. */
const char *ai_backend_version(int backend);

/* Monitoring (roadmap R4): the bytes the loaded models of a backend hold in their
 * framework, best effort (model_load adds a model's, its free takes them back). Any
 * thread, no GIL. */
void ai_backend_memory_add(int backend, long long bytes);
long long ai_backend_memory(int backend);
