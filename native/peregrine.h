// SPDX-License-Identifier: Apache-2.0
// Shared declarations of the Node-API addon: handle kinds, error helpers, exports.
#ifndef PEREGRINE_NATIVE_H
#define PEREGRINE_NATIVE_H

#define NAPI_VERSION 8
#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Kinds of native handles; each kind has its own type tag and open count. */
enum pg_kind {
	PG_OBJECT,
	PG_LINK,
	PG_RINGBUF,
	PG_MAP_FD,
	PG_ITER,
	PG_KIND_MAX,
};

/* Bail out of a napi function when a napi call fails (exception already set). */
#define NAPI_CALL(env, call)                \
	do {                                \
		if ((call) != napi_ok) {    \
			pg_throw_napi(env); \
			return NULL;        \
		}                           \
	} while (0)

/* Every handle struct starts with this header; closed handles stay valid until GC. */
struct pg_handle {
	enum pg_kind kind;
	bool closed;
};

/* addon.c: handle registry */
napi_status pg_wrap(napi_env env, enum pg_kind kind, void *ptr, napi_finalize fin,
		    napi_value *result);
void *pg_unwrap(napi_env env, napi_value value, enum pg_kind kind, const char *op);
void *pg_unwrap_any(napi_env env, napi_value value, enum pg_kind kind, const char *op);
void pg_handle_opened(enum pg_kind kind);
void pg_handle_closed(enum pg_kind kind);

/* errors.c: JS errors and libbpf log capture */
napi_value pg_throw_errno(napi_env env, const char *op, const char *name, int err, const char *log);
napi_value pg_throw_load(napi_env env, const char *op, const char *name, int err);
napi_value pg_throw_arg(napi_env env, const char *op, const char *msg);
void pg_throw_napi(napi_env env);
void pg_log_start(void);
const char *pg_log_text(void);
void pg_log_append(const char *text);
char *pg_log_failed_program(void); /* malloc'ed, NULL when no program load failed */
void pg_log_init(void);

/* argument helpers (addon.c) */
napi_status pg_get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv);
char *pg_get_string(napi_env env, napi_value v); /* malloc'ed, NULL with exception */
bool pg_get_u32(napi_env env, napi_value v, uint32_t *out, const char *op, const char *what);
bool pg_get_i32(napi_env env, napi_value v, int32_t *out, const char *op, const char *what);
bool pg_get_buffer(napi_env env, napi_value v, void **data, size_t *len, const char *op,
		   const char *what);
napi_status pg_set_u32(napi_env env, napi_value obj, const char *key, uint32_t v);
napi_status pg_set_i32(napi_env env, napi_value obj, const char *key, int32_t v);
napi_status pg_set_str(napi_env env, napi_value obj, const char *key, const char *v);
napi_status pg_set_f64(napi_env env, napi_value obj, const char *key, double v);

/* per-concept export registration */
napi_status pg_object_init(napi_env env, napi_value exports);
napi_status pg_link_init(napi_env env, napi_value exports);
napi_status pg_map_init(napi_env env, napi_value exports);
napi_status pg_ringbuf_init(napi_env env, napi_value exports);
napi_status pg_iter_init(napi_env env, napi_value exports);
napi_status pg_tracefs_init(napi_env env, napi_value exports);

/* object.c: lets link.c find a program of an open object */
struct bpf_program *pg_object_program(napi_env env, napi_value obj, const char *prog_name,
				      const char *op);
/* link.c: lets iter.c get a bpf_link */
struct bpf_link *pg_link_get(napi_env env, napi_value v, const char *op);

#define PG_EXPORT(env, exports, name, fn)                                                          \
	do {                                                                                       \
		napi_value _f;                                                                     \
		napi_status _s = napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &_f); \
		if (_s != napi_ok)                                                                 \
			return _s;                                                                 \
		_s = napi_set_named_property(env, exports, name, _f);                              \
		if (_s != napi_ok)                                                                 \
			return _s;                                                                 \
	} while (0)

#endif
