/* Native backend calls; see native_run.h. */
#include "native_run.h"

#include <string.h>

#define ERRLEN   16384 /* a TorchScript traceback runs to kilobytes */
#define ON_STACK 16    /* tensors per call without an allocation */

static int all_numeric(AITensor *const *inputs, int n) {
    for (int i = 0; i < n; i++)
        if (ai_dtype_is_string(inputs[i]->dtype)) return 0;
    return 1;
}

int native_model_can_run(const AIModel *m, AITensor *const *inputs, int ninputs) {
    return m->runner && all_numeric(inputs, ninputs);
}

int native_script_can_run(const AIScript *s, const char *fn, AITensor *const *inputs, int ninputs) {
    return s->native && all_numeric(inputs, ninputs) && s->native->has(s->native->ctx, fn);
}

/* The arrays of one call: input views and the runner's outputs. */
typedef struct Call {
    const DLTensor *in_stack[ON_STACK];
    DLManagedTensor *out_stack[ON_STACK];
    const DLTensor **in;
    DLManagedTensor **out;
    char err[ERRLEN];
} Call;

static void call_init(Call *c, AITensor **inputs, int ninputs, int noutputs) {
    c->in = ninputs <= ON_STACK ? c->in_stack : RedisModule_Alloc(sizeof(DLTensor *) * ninputs);
    c->out = noutputs <= ON_STACK ? c->out_stack
                                  : RedisModule_Alloc(sizeof(DLManagedTensor *) * noutputs);
    for (int i = 0; i < ninputs; i++) c->in[i] = &inputs[i]->dl;
    c->err[0] = '\0';
}

static void call_free(Call *c) {
    if (c->in != c->in_stack) RedisModule_Free(c->in);
    if (c->out != c->out_stack) RedisModule_Free(c->out);
}

/* After a runner's return code: copies its outputs into outputs (releasing them), or
 * turns its message into err. 0 or -1. */
static int adopt(Call *c, int rc, AITensor **outputs, int noutputs, AIError *err) {
    if (rc != 0) {
        ai_error_set(err, AI_ERR_DETAIL, c->err[0] ? c->err : "native run failed");
        return -1;
    }
    for (int i = 0; i < noutputs; i++) {
        if (err->code == AI_OK) outputs[i] = tensor_copy_dlpack(&c->out[i]->dl_tensor, err);
        if (c->out[i]->deleter) c->out[i]->deleter(c->out[i]);
    }
    if (err->code == AI_OK) return 0;
    for (int i = 0; i < noutputs; i++) {
        tensor_release(outputs[i]);
        outputs[i] = NULL;
    }
    return -1;
}

int native_model_run(AIModel *m, AITensor **inputs, int ninputs, AITensor **outputs, int noutputs,
                     AIError *err) {
    if (!native_model_can_run(m, inputs, ninputs))
        return bridge_model_run(m->handle, inputs, ninputs, outputs, noutputs, err);
    Call c;
    call_init(&c, inputs, ninputs, noutputs);
    int rc = m->runner->run(m->runner->ctx, c.in, ninputs, c.out, noutputs, c.err, sizeof c.err);
    rc = adopt(&c, rc, outputs, noutputs, err);
    call_free(&c);
    return rc;
}

static __thread const AIScriptCallCtx *current_call;

const AIScriptCallCtx *script_call_current(void) { return current_call; }

const AIScriptCallCtx *script_call_set(const AIScriptCallCtx *call) {
    const AIScriptCallCtx *previous = current_call;
    current_call = call;
    return previous;
}

int native_script_run(AIScript *s, const char *fn, AITensor **inputs, int ninputs,
                      const AINames *keys, const AINames *args, AITensor **outputs, int noutputs,
                      const AIScriptCallCtx *call, AIError *err) {
    int rc = 1; /* also what the call gives for a function it does not run natively */
    if (s->native && all_numeric(inputs, ninputs)) {
        const AIScriptCallCtx *previous = script_call_set(call);
        Call c;
        call_init(&c, inputs, ninputs, noutputs);
        const AINativeScript *n = s->native;
        rc = n->call(n->ctx, fn, c.in, ninputs, (const char *const *)keys->names, keys->count,
                     (const char *const *)args->names, args->count, c.out, noutputs, c.err,
                     sizeof c.err);
        script_call_set(previous);
        /* A failing redis.* op's own text is the reply, as on the Python path. */
        if (rc == -1) bridge_script_op_failure(c.err, sizeof c.err);
        if (rc != 1) rc = adopt(&c, rc, outputs, noutputs, err);
        call_free(&c);
    }
    if (rc != 1) return rc;
    return bridge_script_run(s->handle, fn, inputs, ninputs, keys, args, outputs, noutputs, call,
                             err);
}
