/* The script: TorchScript source kept in C memory beside the compiled unit (an opaque
 * bridge handle). Like models, scripts are reference-counted and their compiled unit is
 * freed on the loader thread. */
#pragma once
#include "bridge.h"
#include "errors.h"
#include "estimate.h"
#include "pending.h"
#include "queue.h"

typedef struct AIScript {
    char *device;
    char *tag;
    size_t taglen;
    char *source;         /* NUL-terminated: RedisAI keeps scripts as C strings */
    AINames entry_points; /* empty for AI.SCRIPTSET scripts */
    int has_entry_points; /* stored with AI.SCRIPTSTORE */
    void *handle;
    AIError refused; /* as a model's (model.h): kept from RDB/AOF/a master, never run */
    const AINativeScript *native; /* owned by handle; NULL: every call takes the Python path */
    AIPending *pending;           /* as a model's (model.h): compiled after it was stored */
    AIQueue *queue;
    char *key;
    size_t keylen;
    long refcount;
    AIEstimate estimate; /* its run times, for TTR admission (roadmap R3) */
} AIScript;

AIScript *script_new(const char *device, const char *tag, size_t taglen, const char *source,
                     size_t srclen);
/* Compiles it (takes the GIL); any thread. */
int script_compile(AIScript *s, AIError *err);

/* What compiling adds to a script, apart from it (script_compile is compile_into +
 * adopt). */
typedef struct AIScriptCompiled {
    void *handle;
    const AINativeScript *native;
} AIScriptCompiled;
/* Compiles s's source into c, reading only s's immutable C side: any thread. */
int script_compile_into(const AIScript *s, AIScriptCompiled *c, AIError *err);
void script_adopt(AIScript *s, AIScriptCompiled *c);
/* Main thread (or the Redis lock held): returns once s is compiled (pending.h). */
void script_wait_built(AIScript *s);
AIScript *script_share(AIScript *s);
void script_release(AIScript *s);
size_t script_mem_usage(const AIScript *s);
