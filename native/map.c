// SPDX-License-Identifier: Apache-2.0
// BPF maps by fd: lookup (also per-CPU), update, delete, iterate keys, pin, open pinned.
#include "peregrine.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * The TypeScript layer passes key and value sizes it learned from libbpf or
 * from bpf_obj_get_info_by_fd; the buffers are checked against them here so
 * the kernel never reads past a Buffer.
 */

static int ret_err(int ret)
{
	if (ret >= 0)
		return 0;
	return errno ? errno : -ret;
}

static bool get_fd(napi_env env, napi_value v, int *fd, const char *op)
{
	return pg_get_i32(env, v, fd, op, "map fd");
}

static bool get_key(napi_env env, napi_value v, uint32_t key_size, void **key, const char *op)
{
	size_t len;

	if (!pg_get_buffer(env, v, key, &len, op, "key must be a Buffer"))
		return false;
	if (len != key_size) {
		pg_throw_arg(env, op, "key length differs from the map's key size");
		return false;
	}
	return true;
}

static napi_value lookup(napi_env env, napi_callback_info info, bool per_cpu)
{
	const char *op = per_cpu ? "lookup per-cpu element" : "lookup element";
	napi_value argv[4], res;
	uint32_t key_size, value_size;
	void *key, *value;
	size_t size;
	int fd, err;

	NAPI_CALL(env, pg_get_args(env, info, 4, argv));
	if (!get_fd(env, argv[0], &fd, op) ||
	    !pg_get_u32(env, argv[2], &key_size, op, "key size") ||
	    !pg_get_u32(env, argv[3], &value_size, op, "value size") ||
	    !get_key(env, argv[1], key_size, &key, op))
		return NULL;
	size = value_size;
	if (per_cpu) {
		int ncpus = libbpf_num_possible_cpus();

		if (ncpus < 0)
			return pg_throw_errno(env, op, "", -ncpus, NULL);
		/* The kernel lays out per-CPU values in 8-byte slots. */
		size = (size_t)ncpus * ((value_size + 7) & ~7u);
	}
	NAPI_CALL(env, napi_create_buffer(env, size, &value, &res));
	errno = 0;
	err = ret_err(bpf_map_lookup_elem(fd, key, value));
	if (err == ENOENT) {
		NAPI_CALL(env, napi_get_null(env, &res));
		return res;
	}
	if (err)
		return pg_throw_errno(env, op, "", err, NULL);
	return res;
}

/* mapLookup(fd, key, keySize, valueSize) -> Buffer | null */
static napi_value map_lookup(napi_env env, napi_callback_info info)
{
	return lookup(env, info, false);
}

/* mapLookupPerCpu(fd, key, keySize, valueSize) -> Buffer (ncpus slots of round8(valueSize)) | null */
static napi_value map_lookup_per_cpu(napi_env env, napi_callback_info info)
{
	return lookup(env, info, true);
}

/* mapUpdate(fd, key, keySize, value, valueBytes, flags) */
static napi_value map_update(napi_env env, napi_callback_info info)
{
	const char *op = "update element";
	napi_value argv[6];
	uint32_t key_size, value_bytes, flags;
	void *key, *value;
	size_t len;
	int fd, err;

	NAPI_CALL(env, pg_get_args(env, info, 6, argv));
	if (!get_fd(env, argv[0], &fd, op) ||
	    !pg_get_u32(env, argv[2], &key_size, op, "key size") ||
	    !get_key(env, argv[1], key_size, &key, op) ||
	    !pg_get_buffer(env, argv[3], &value, &len, op, "value must be a Buffer") ||
	    !pg_get_u32(env, argv[4], &value_bytes, op, "value bytes") ||
	    !pg_get_u32(env, argv[5], &flags, op, "flags"))
		return NULL;
	if (len != value_bytes)
		return pg_throw_arg(env, op, "value length differs from the map's value size");
	errno = 0;
	err = ret_err(bpf_map_update_elem(fd, key, value, flags));
	if (err)
		return pg_throw_errno(env, op, "", err, NULL);
	return NULL;
}

/* mapDelete(fd, key, keySize) -> boolean (false when absent) */
static napi_value map_delete(napi_env env, napi_callback_info info)
{
	const char *op = "delete element";
	napi_value argv[3], res;
	uint32_t key_size;
	void *key;
	int fd, err;

	NAPI_CALL(env, pg_get_args(env, info, 3, argv));
	if (!get_fd(env, argv[0], &fd, op) ||
	    !pg_get_u32(env, argv[2], &key_size, op, "key size") ||
	    !get_key(env, argv[1], key_size, &key, op))
		return NULL;
	errno = 0;
	err = ret_err(bpf_map_delete_elem(fd, key));
	if (err && err != ENOENT)
		return pg_throw_errno(env, op, "", err, NULL);
	NAPI_CALL(env, napi_get_boolean(env, err == 0, &res));
	return res;
}

/* mapNextKey(fd, key | null, keySize) -> Buffer | null at the end */
static napi_value map_next_key(napi_env env, napi_callback_info info)
{
	const char *op = "get next key";
	napi_value argv[3], res;
	napi_valuetype t;
	uint32_t key_size;
	void *key = NULL, *next;
	int fd, err;

	NAPI_CALL(env, pg_get_args(env, info, 3, argv));
	if (!get_fd(env, argv[0], &fd, op) || !pg_get_u32(env, argv[2], &key_size, op, "key size"))
		return NULL;
	NAPI_CALL(env, napi_typeof(env, argv[1], &t));
	if (t != napi_null && t != napi_undefined && !get_key(env, argv[1], key_size, &key, op))
		return NULL;
	NAPI_CALL(env, napi_create_buffer(env, key_size, &next, &res));
	errno = 0;
	err = ret_err(bpf_map_get_next_key(fd, key, next));
	if (err == ENOENT) {
		NAPI_CALL(env, napi_get_null(env, &res));
		return res;
	}
	if (err)
		return pg_throw_errno(env, op, "", err, NULL);
	return res;
}

/* mapPin(fd, path) */
static napi_value map_pin(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	char *path;
	int fd, err;

	NAPI_CALL(env, pg_get_args(env, info, 2, argv));
	if (!get_fd(env, argv[0], &fd, "pin map"))
		return NULL;
	path = pg_get_string(env, argv[1]);
	if (!path)
		return NULL;
	errno = 0;
	err = ret_err(bpf_obj_pin(fd, path));
	if (err)
		pg_throw_errno(env, "pin map", path, err, NULL);
	free(path);
	return NULL;
}

/* mapUnpin(path): removes the bpffs entry; the map lives while fds remain */
static napi_value map_unpin(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	char *path;

	NAPI_CALL(env, pg_get_args(env, info, 1, argv));
	path = pg_get_string(env, argv[0]);
	if (!path)
		return NULL;
	if (unlink(path))
		pg_throw_errno(env, "unpin map", path, errno, NULL);
	free(path);
	return NULL;
}

/* mapInfo(fd) -> { name, type, keySize, valueSize, maxEntries, id } */
static napi_value map_info(napi_env env, napi_callback_info info)
{
	napi_value argv[1], res;
	struct bpf_map_info mi;
	__u32 len = sizeof(mi);
	const char *type;
	int fd, err;

	NAPI_CALL(env, pg_get_args(env, info, 1, argv));
	if (!get_fd(env, argv[0], &fd, "get map info"))
		return NULL;
	memset(&mi, 0, sizeof(mi));
	errno = 0;
	err = ret_err(bpf_obj_get_info_by_fd(fd, &mi, &len));
	if (err)
		return pg_throw_errno(env, "get map info", "", err, NULL);
	type = libbpf_bpf_map_type_str(mi.type);
	NAPI_CALL(env, napi_create_object(env, &res));
	NAPI_CALL(env, pg_set_str(env, res, "name", mi.name));
	NAPI_CALL(env, pg_set_str(env, res, "type", type ? type : "unknown"));
	NAPI_CALL(env, pg_set_u32(env, res, "keySize", mi.key_size));
	NAPI_CALL(env, pg_set_u32(env, res, "valueSize", mi.value_size));
	NAPI_CALL(env, pg_set_u32(env, res, "maxEntries", mi.max_entries));
	NAPI_CALL(env, pg_set_u32(env, res, "id", mi.id));
	return res;
}

/* A map fd we own (opened from a pin), as opposed to one owned by an object. */
struct pg_map_fd {
	struct pg_handle h;
	int fd;
};

static void map_fd_free(struct pg_map_fd *m)
{
	if (!m->h.closed) {
		m->h.closed = true;
		close(m->fd);
		m->fd = -1;
		pg_handle_closed(PG_MAP_FD);
	}
}

static void map_fd_finalize(napi_env env, void *data, void *hint)
{
	(void)env;
	(void)hint;
	map_fd_free(data);
	free(data);
}

/* mapOpenPinned(path) -> handle */
static napi_value map_open_pinned(napi_env env, napi_callback_info info)
{
	napi_value argv[1], res;
	struct pg_map_fd *m;
	char *path;
	int fd;

	NAPI_CALL(env, pg_get_args(env, info, 1, argv));
	path = pg_get_string(env, argv[0]);
	if (!path)
		return NULL;
	errno = 0;
	fd = bpf_obj_get(path);
	if (fd < 0) {
		pg_throw_errno(env, "open pinned map", path, errno ? errno : -fd, NULL);
		free(path);
		return NULL;
	}
	free(path);
	m = calloc(1, sizeof(*m));
	if (!m) {
		close(fd);
		return pg_throw_errno(env, "open pinned map", "", ENOMEM, NULL);
	}
	m->h.kind = PG_MAP_FD;
	m->fd = fd;
	if (pg_wrap(env, PG_MAP_FD, m, map_fd_finalize, &res) != napi_ok) {
		close(fd);
		free(m);
		pg_throw_napi(env);
		return NULL;
	}
	return res;
}

/* mapHandleFd(handle) -> number */
static napi_value map_handle_fd(napi_env env, napi_callback_info info)
{
	napi_value argv[1], res;
	struct pg_map_fd *m;

	NAPI_CALL(env, pg_get_args(env, info, 1, argv));
	m = pg_unwrap(env, argv[0], PG_MAP_FD, "get map fd");
	if (!m)
		return NULL;
	NAPI_CALL(env, napi_create_int32(env, m->fd, &res));
	return res;
}

/* mapClose(handle): idempotent */
static napi_value map_close(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	struct pg_map_fd *m;

	NAPI_CALL(env, pg_get_args(env, info, 1, argv));
	m = pg_unwrap_any(env, argv[0], PG_MAP_FD, "close map");
	if (m)
		map_fd_free(m);
	return NULL;
}

napi_status pg_map_init(napi_env env, napi_value exports)
{
	PG_EXPORT(env, exports, "mapLookup", map_lookup);
	PG_EXPORT(env, exports, "mapLookupPerCpu", map_lookup_per_cpu);
	PG_EXPORT(env, exports, "mapUpdate", map_update);
	PG_EXPORT(env, exports, "mapDelete", map_delete);
	PG_EXPORT(env, exports, "mapNextKey", map_next_key);
	PG_EXPORT(env, exports, "mapPin", map_pin);
	PG_EXPORT(env, exports, "mapUnpin", map_unpin);
	PG_EXPORT(env, exports, "mapInfo", map_info);
	PG_EXPORT(env, exports, "mapOpenPinned", map_open_pinned);
	PG_EXPORT(env, exports, "mapHandleFd", map_handle_fd);
	PG_EXPORT(env, exports, "mapClose", map_close);
	return napi_ok;
}
