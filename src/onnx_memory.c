/* The counting allocator behind INFO's ai_onnxruntime_memory: as in RedisAI, ORT's CPU
 * allocations for the models go through an allocator on the Redis allocator (so they show
 * in used_memory too) that adds every block's size to a counter and counts every call.
 *
 * The ONNX backend runs sessions through ORT's Python package, whose extension carries its
 * own copy of ORT and exports no C API. The documented way from that copy into C code is a
 * custom-op library: ORT dlopens it and calls its RegisterCustomOps(options, api_base) with
 * the OrtApiBase of that copy. The module is such a library (linked with the soname
 * cyrai.so, so ORT's dlopen of that name finds the module the server already loaded). It
 * registers no op; its first call puts the counting allocator in ORT's process-wide
 * environment (CreateEnv hands back that singleton). CPU sessions created with
 * session.use_env_allocators=1 and no arena of their own then allocate through it, on
 * ORT's threads: the counters are atomics, which INFO reads on the main thread.
 *
 * What it sees (measured with ORT 1.31): the buffers of runs (intermediates, outputs until
 * the bridge has copied them) and the weights kernels prepack (MatMul, Gemm), which ORT
 * then holds in allocator memory. What it does not: initializers that no kernel prepacks
 * (Conv, element-wise, Gather weights), which ORT keeps in buffers of the graph's own,
 * outside every registered allocator.
 *
 * The header (deps/onnxruntime/onnxruntime_c_api.h, fetched by opt/install_system.sh) may
 * be older than the running ORT: ORT serves every older API version. */
#define _GNU_SOURCE /* dladdr, RTLD_NODELETE */
#include "onnx_memory.h"

#include <dlfcn.h>
#include <stdint.h>

#include "onnxruntime/onnxruntime_c_api.h"
#include "redismodule.h"

/* ORT's kernels want 64-byte aligned buffers. A block is ALIGN bytes larger than asked:
 * the buffer starts at the first 64-byte boundary at least two words in (the allocator's
 * blocks are 16-byte aligned), and those words keep the block's start and size. */
enum { ALIGN = 64 };

static unsigned long long bytes, accesses;
static int registered;
static OrtMemoryInfo *cpu_info;

unsigned long long onnx_memory_bytes(void) { return __atomic_load_n(&bytes, __ATOMIC_RELAXED); }

unsigned long long onnx_memory_accesses(void) {
    return __atomic_load_n(&accesses, __ATOMIC_RELAXED);
}

static void *ORT_API_CALL counting_alloc(OrtAllocator *self, size_t size) {
    (void)self;
    __atomic_add_fetch(&accesses, 1, __ATOMIC_RELAXED);
    size_t total = size + ALIGN;
    char *block = RedisModule_TryAlloc(total);
    if (!block) return NULL; /* ORT turns it into an allocation error */
    void **p =
        (void **)(((uintptr_t)block + 2 * sizeof(void *) + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1));
    p[-1] = block;
    p[-2] = (void *)total;
    __atomic_add_fetch(&bytes, total, __ATOMIC_RELAXED);
    return p;
}

static void ORT_API_CALL counting_free(OrtAllocator *self, void *ptr) {
    (void)self;
    if (!ptr) return;
    void **p = ptr;
    __atomic_add_fetch(&accesses, 1, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&bytes, (size_t)p[-2], __ATOMIC_RELAXED);
    RedisModule_Free(p[-1]);
}

static const OrtMemoryInfo *ORT_API_CALL counting_info(const OrtAllocator *self) {
    (void)self;
    return cpu_info;
}

static OrtAllocator counting_allocator = {
    .version = ORT_API_VERSION,
    .Alloc = counting_alloc,
    .Free = counting_free,
    .Info = counting_info,
    .Reserve = counting_alloc,
};

/* ORT's environment outlives the library handle ORT opened to call RegisterCustomOps: the
 * object holding the allocator must stay mapped even if every dlopen of it is closed. */
static int pin_this_object(void) {
    Dl_info self;
    if (!dladdr((void *)counting_alloc, &self) || !self.dli_fname) return 0;
    return dlopen(self.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE) != NULL;
}

/* NULL, or why the allocator could not be registered (the backend then leaves its sessions
 * on ORT's own allocator). */
static OrtStatus *register_allocator(const OrtApi *api) {
    if (!pin_this_object()) return api->CreateStatus(ORT_FAIL, "cannot pin the module");
    OrtEnv *env;
    OrtStatus *status = api->CreateEnv(ORT_LOGGING_LEVEL_FATAL, "cyrai", &env);
    if (status) return status;
    status = api->CreateCpuMemoryInfo(OrtDeviceAllocator, OrtMemTypeDefault, &cpu_info);
    if (!status) status = api->RegisterAllocator(env, &counting_allocator);
    api->ReleaseEnv(env); /* the environment lives on: the Python package holds it too */
    return status;
}

/* Called by ORT for each SessionOptions.register_custom_ops_library("cyrai.so"). */
OrtStatus *ORT_API_CALL RegisterCustomOps(OrtSessionOptions *options, const OrtApiBase *base) {
    (void)options;
    const OrtApi *api = base->GetApi(ORT_API_VERSION);
    if (!api) {
        api = base->GetApi(1);
        return api->CreateStatus(ORT_FAIL, "ONNX Runtime older than the module's header");
    }
    if (__atomic_exchange_n(&registered, 1, __ATOMIC_ACQ_REL)) return NULL;
    OrtStatus *status = register_allocator(api);
    if (status) __atomic_store_n(&registered, 0, __ATOMIC_RELEASE);
    return status;
}
