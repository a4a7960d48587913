/* The pure script layer; see script.h. */
#include "script.h"

#include "model.h" /* bridge_free_later */
#include "strdup.h"

#include <string.h>

AIScript *script_new(const char *device, const char *tag, size_t taglen, const char *source,
                     size_t srclen) {
    AIScript *s = RedisModule_Calloc(1, sizeof *s);
    s->device = RedisModule_Strdup(device);
    s->tag = ai_strndup(tag, taglen);
    s->taglen = taglen;
    /* Truncated at the first NUL, as RedisAI keeps scripts as C strings. */
    s->source = ai_strndup(source, strnlen(source, srclen));
    s->refcount = 1;
    return s;
}

int script_compile_into(const AIScript *s, AIScriptCompiled *c, AIError *err) {
    *c = (AIScriptCompiled){0};
    int rc = bridge_script_compile(s->source, s->device,
                                   s->has_entry_points ? &s->entry_points : NULL, &c->handle, err);
    if (rc == 0) c->native = bridge_script_native(c->handle);
    return rc;
}

void script_adopt(AIScript *s, AIScriptCompiled *c) {
    s->handle = c->handle;
    s->native = c->native;
    *c = (AIScriptCompiled){0};
}

int script_compile(AIScript *s, AIError *err) {
    AIScriptCompiled c;
    if (script_compile_into(s, &c, err) != 0) return -1;
    script_adopt(s, &c);
    return 0;
}

void script_wait_built(AIScript *s) { pending_wait(&s->pending); }

AIScript *script_share(AIScript *s) {
    __atomic_add_fetch(&s->refcount, 1, __ATOMIC_RELAXED);
    return s;
}

void script_release(AIScript *s) {
    if (!s || __atomic_sub_fetch(&s->refcount, 1, __ATOMIC_ACQ_REL) > 0) return;
    if (s->handle) bridge_free_later(s->handle);
    ai_error_clear(&s->refused);
    ai_names_free(&s->entry_points);
    RedisModule_Free(s->device);
    RedisModule_Free(s->tag);
    RedisModule_Free(s->source);
    if (s->key) RedisModule_Free(s->key);
    RedisModule_Free(s);
}

size_t script_mem_usage(const AIScript *s) { return sizeof *s + strlen(s->source) + s->taglen; }
