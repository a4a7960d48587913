# C declarations the bridge uses, one `cdef extern` block per header: the DLPack structs,
# the pure tensor layer, error codes and the spec's texts, and the C side of the bridge.
from libc.stdint cimport int64_t, uint8_t, uint16_t, int32_t

cdef extern from "dlpack/dlpack.h" nogil:
    ctypedef struct DLDevice:
        int device_type
        int32_t device_id
    ctypedef struct DLDataType:
        uint8_t code
        uint8_t bits
        uint16_t lanes
    ctypedef struct DLTensor:
        void *data
        DLDevice device
        int ndim
        DLDataType dtype
        int64_t *shape
        int64_t *strides
        unsigned long long byte_offset
    ctypedef struct DLManagedTensor:
        DLTensor dl_tensor
        void *manager_ctx
        void (*deleter)(DLManagedTensor *) noexcept nogil
    int kDLInt, kDLUInt, kDLFloat, kDLBfloat

cdef extern from "redismodule.h" nogil:
    void *RedisModule_Alloc(size_t n)
    void RedisModule_Free(void *p)
    char *RedisModule_Strdup(const char *s)

cdef extern from "errors.h" nogil:
    ctypedef enum AIErrCode:
        AI_OK
        AI_ERR_DETAIL
        AI_ERR_CSTRING_NUL
        AI_ERR_INVALID_DEVICE
        AI_ERR_MODEL_FORBIDDEN
        AI_ERR_SCRIPT_FORBIDDEN
        AI_ERR_EXTERNAL_DATA
    ctypedef struct AIError:
        AIErrCode code
        char *detail
    const char *ai_err_text(AIErrCode code)
    void ai_error_set(AIError *err, AIErrCode code, const char *detail)
    void ai_error_set_arg(AIError *err, AIErrCode code, const char *arg)
    void ai_error_clear(AIError *err)

cdef extern from "tensor.h" nogil:
    ctypedef struct AIDType:
        const char *name
        uint8_t code
        uint8_t bits
        uint8_t size
    ctypedef struct AITensor:
        DLTensor dl
        const AIDType *dtype
        size_t nbytes
        size_t *offsets
        long refcount
    int AI_DL_BOOL
    int AI_DL_STRING
    const AIDType *ai_dtype_by_code(unsigned code, unsigned bits)
    const AIDType *ai_dtype_by_name(const char *name, size_t len)
    AITensor *tensor_alloc(const AIDType *dtype, const int64_t *dims, int ndim, size_t nbytes,
                           AIError *err)
    AITensor *tensor_new_from_blob(const AIDType *dtype, const int64_t *dims, int ndim,
                                   const char *blob, size_t len, AIError *err)
    AITensor *tensor_share(AITensor *t)
    void tensor_release(AITensor *t)
    int64_t tensor_length(const AITensor *t)
    const char *tensor_string_at(const AITensor *t, int64_t i, size_t *len)

cdef extern from "log.h" nogil:
    void ai_log(const char *level, const char *msg)

cdef extern from "backends.h" nogil:
    void ai_backend_loaded(const char *name, const char *version)

cdef extern from "names.h" nogil:
    ctypedef struct AINames:
        int count
        char **names

cdef extern from "bridge.h" nogil:
    ctypedef struct AIBackendOpts:
        long long intra_op
        long long inter_op
        long long execution_timeout_ms
        long long memory_limit_mb
    ctypedef struct AIScriptCallCtx:
        int dbid
        char *username

cdef extern from "native_run.h" nogil:
    const AIScriptCallCtx *script_call_current()
    const AIScriptCallCtx *script_call_set(const AIScriptCallCtx *call)

cdef extern from "script_calls.h" nogil:
    int AI_REPLY_NIL, AI_REPLY_STRING, AI_REPLY_INTEGER, AI_REPLY_ARRAY
    ctypedef struct AIReply:
        int type
        char *str
        size_t len
        long long integer
        size_t count
        AIReply *elems
    int script_redis_call(const AIScriptCallCtx *call, const char **argv, const size_t *lens,
                          int argc, AIReply *out, AIError *err)
    void ai_reply_free(AIReply *r)
    void *script_model_acquire(const AIScriptCallCtx *call, const char *key, size_t keylen,
                               void **handle, int *ninputs, int *noutputs, AIError *err)
    void script_model_release(void *model)

cdef extern from "native_runner.h" nogil:
    const char *AI_NATIVE_RUNNER_CAPSULE
    const char *AI_NATIVE_SCRIPT_CAPSULE
    int AI_NATIVE_RUNNER_ABI
    ctypedef struct AINativeRunner:
        int abi
    ctypedef struct AINativeScript:
        int abi

cdef extern from "config.h" nogil:
    ctypedef struct AIConfig:
        int native_runs
    AIConfig ai_config
