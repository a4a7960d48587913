/* What ONNX Runtime holds for cyrai's CPU sessions (INFO's ai_onnxruntime_memory and
 * ai_onnxruntime_memory_access_num), counted by the allocator onnx_memory.c gives ORT.
 * Both read atomics: any thread, no GIL. */
#pragma once

/* Bytes ORT holds through the counting allocator now. */
unsigned long long onnx_memory_bytes(void);
/* Calls ORT made to it (allocations and frees) since start. */
unsigned long long onnx_memory_accesses(void);
