// SPDX-License-Identifier: Apache-2.0
// Addon entry: registers each concept's functions, counts open handles, raises memlock.
#include "peregrine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <bpf/libbpf.h>

/* Random but fixed tags so a handle of one kind is never taken for another. */
static const napi_type_tag pg_tags[PG_KIND_MAX] = {
	{0x7065726567726e01ULL, 0x6f626a6563740001ULL},
	{0x7065726567726e02ULL, 0x6c696e6b00000002ULL},
	{0x7065726567726e03ULL, 0x72696e6762756603ULL},
	{0x7065726567726e04ULL, 0x6d61706664000004ULL},
	{0x7065726567726e05ULL, 0x6974657266640005ULL},
};

static const char *const pg_kind_names[PG_KIND_MAX] = {
	"object", "link", "ringBuffer", "map", "iterator",
};

/* Only touched from the JS thread. */
static int64_t pg_open_counts[PG_KIND_MAX];

void pg_handle_opened(enum pg_kind kind)
{
	pg_open_counts[kind]++;
}

void pg_handle_closed(enum pg_kind kind)
{
	pg_open_counts[kind]--;
}

napi_status pg_wrap(napi_env env, enum pg_kind kind, void *ptr, napi_finalize fin,
		    napi_value *result)
{
	napi_status s = napi_create_external(env, ptr, fin, NULL, result);

	if (s != napi_ok)
		return s;
	s = napi_type_tag_object(env, *result, &pg_tags[kind]);
	if (s != napi_ok)
		return s;
	pg_handle_opened(kind);
	return napi_ok;
}

void *pg_unwrap_any(napi_env env, napi_value value, enum pg_kind kind, const char *op)
{
	bool ok = false;
	void *ptr = NULL;
	napi_valuetype t;

	if (napi_typeof(env, value, &t) == napi_ok && t == napi_external &&
	    napi_check_object_type_tag(env, value, &pg_tags[kind], &ok) == napi_ok && ok &&
	    napi_get_value_external(env, value, &ptr) == napi_ok)
		return ptr;
	pg_throw_arg(env, op, pg_kind_names[kind]);
	return NULL;
}

void *pg_unwrap(napi_env env, napi_value value, enum pg_kind kind, const char *op)
{
	struct pg_handle *h = pg_unwrap_any(env, value, kind, op);

	if (h && h->closed) {
		pg_throw_errno(env, op, pg_kind_names[kind], EBADF, NULL);
		return NULL;
	}
	return h;
}

napi_status pg_get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv)
{
	size_t argc = want;
	napi_status s = napi_get_cb_info(env, info, &argc, argv, NULL, NULL);

	if (s != napi_ok)
		return s;
	for (size_t i = argc; i < want; i++)
		napi_get_undefined(env, &argv[i]);
	return napi_ok;
}

char *pg_get_string(napi_env env, napi_value v)
{
	size_t len = 0;
	char *buf;

	if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
		pg_throw_arg(env, "read argument", "expected a string");
		return NULL;
	}
	buf = malloc(len + 1);
	if (!buf) {
		pg_throw_errno(env, "read argument", "string", ENOMEM, NULL);
		return NULL;
	}
	napi_get_value_string_utf8(env, v, buf, len + 1, &len);
	return buf;
}

bool pg_get_u32(napi_env env, napi_value v, uint32_t *out, const char *op, const char *what)
{
	if (napi_get_value_uint32(env, v, out) == napi_ok)
		return true;
	pg_throw_arg(env, op, what);
	return false;
}

bool pg_get_i32(napi_env env, napi_value v, int32_t *out, const char *op, const char *what)
{
	if (napi_get_value_int32(env, v, out) == napi_ok)
		return true;
	pg_throw_arg(env, op, what);
	return false;
}

bool pg_get_buffer(napi_env env, napi_value v, void **data, size_t *len, const char *op,
		   const char *what)
{
	bool is_buf = false;

	if (napi_is_buffer(env, v, &is_buf) == napi_ok && is_buf &&
	    napi_get_buffer_info(env, v, data, len) == napi_ok)
		return true;
	pg_throw_arg(env, op, what);
	return false;
}

napi_status pg_set_u32(napi_env env, napi_value obj, const char *key, uint32_t v)
{
	napi_value js;
	napi_status s = napi_create_uint32(env, v, &js);

	return s == napi_ok ? napi_set_named_property(env, obj, key, js) : s;
}

napi_status pg_set_i32(napi_env env, napi_value obj, const char *key, int32_t v)
{
	napi_value js;
	napi_status s = napi_create_int32(env, v, &js);

	return s == napi_ok ? napi_set_named_property(env, obj, key, js) : s;
}

napi_status pg_set_f64(napi_env env, napi_value obj, const char *key, double v)
{
	napi_value js;
	napi_status s = napi_create_double(env, v, &js);

	return s == napi_ok ? napi_set_named_property(env, obj, key, js) : s;
}

napi_status pg_set_str(napi_env env, napi_value obj, const char *key, const char *v)
{
	napi_value js;
	napi_status s = napi_create_string_utf8(env, v ? v : "", NAPI_AUTO_LENGTH, &js);

	return s == napi_ok ? napi_set_named_property(env, obj, key, js) : s;
}

/* openHandles() -> { total, object, link, ringBuffer, map, iterator } */
static napi_value open_handles(napi_env env, napi_callback_info info)
{
	napi_value res;
	int64_t total = 0;

	(void)info;
	NAPI_CALL(env, napi_create_object(env, &res));
	for (int k = 0; k < PG_KIND_MAX; k++) {
		total += pg_open_counts[k];
		NAPI_CALL(env, pg_set_f64(env, res, pg_kind_names[k], (double)pg_open_counts[k]));
	}
	NAPI_CALL(env, pg_set_f64(env, res, "total", (double)total));
	return res;
}

static napi_value num_possible_cpus(napi_env env, napi_callback_info info)
{
	napi_value res;
	int n = libbpf_num_possible_cpus();

	(void)info;
	if (n < 0)
		return pg_throw_errno(env, "count possible cpus", "cpu", -n, NULL);
	NAPI_CALL(env, napi_create_int32(env, n, &res));
	return res;
}

static napi_status pg_addon_init(napi_env env, napi_value exports)
{
	PG_EXPORT(env, exports, "openHandles", open_handles);
	PG_EXPORT(env, exports, "numPossibleCpus", num_possible_cpus);
	return napi_ok;
}

static napi_value init(napi_env env, napi_value exports)
{
	/* Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; later ones ignore it. */
	struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};

	if (setrlimit(RLIMIT_MEMLOCK, &rl) && !getrlimit(RLIMIT_MEMLOCK, &rl)) {
		/* Without CAP_SYS_RESOURCE: at least lift the soft limit to the hard one. */
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_MEMLOCK, &rl);
	}
	pg_log_init();

	if (pg_addon_init(env, exports) != napi_ok || pg_object_init(env, exports) != napi_ok ||
	    pg_link_init(env, exports) != napi_ok || pg_map_init(env, exports) != napi_ok ||
	    pg_ringbuf_init(env, exports) != napi_ok || pg_iter_init(env, exports) != napi_ok ||
	    pg_tracefs_init(env, exports) != napi_ok) {
		pg_throw_napi(env);
		return NULL;
	}
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
