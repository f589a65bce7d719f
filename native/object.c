// SPDX-License-Identifier: Apache-2.0
// BPF object: open, configure before load (consts, max_entries, autoload), load, list, close.
#include <malloc.h>
#include "peregrine.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct pg_object {
	struct pg_handle h;
	struct bpf_object *obj;
	bool loaded;
};

static void object_free(struct pg_object *o)
{
	if (!o->h.closed) {
		o->h.closed = true;
		bpf_object__close(o->obj);
		o->obj = NULL;
		pg_handle_closed(PG_OBJECT);
	}
}

static void object_finalize(napi_env env, void *data, void *hint)
{
	(void)env;
	(void)hint;
	object_free(data);
	free(data);
}

static struct pg_object *get_object(napi_env env, napi_value v, const char *op)
{
	return pg_unwrap(env, v, PG_OBJECT, op);
}

struct bpf_program *pg_object_program(napi_env env, napi_value v, const char *prog_name,
				      const char *op)
{
	struct pg_object *o = get_object(env, v, op);
	struct bpf_program *prog;

	if (!o)
		return NULL;
	prog = bpf_object__find_program_by_name(o->obj, prog_name);
	if (!prog)
		pg_throw_errno(env, op, prog_name, ENOENT, NULL);
	return prog;
}

/* objectOpen(path) -> handle */
static napi_value object_open(napi_env env, napi_callback_info info)
{
	napi_value argv[1], res;
	struct pg_object *o;
	struct bpf_object *obj;
	char *path;

	NAPI_CALL(env, pg_get_args(env, info, 1, argv));
	path = pg_get_string(env, argv[0]);
	if (!path)
		return NULL;
	pg_log_start();
	obj = bpf_object__open_file(path, NULL);
	if (!obj) {
		int err = errno;

		pg_throw_load(env, "open object", path, err);
		free(path);
		return NULL;
	}
	free(path);
	o = calloc(1, sizeof(*o));
	if (!o) {
		bpf_object__close(obj);
		return pg_throw_errno(env, "open object", "", ENOMEM, NULL);
	}
	o->h.kind = PG_OBJECT;
	o->obj = obj;
	if (pg_wrap(env, PG_OBJECT, o, object_finalize, &res) != napi_ok) {
		bpf_object__close(obj);
		free(o);
		pg_throw_napi(env);
		return NULL;
	}
	return res;
}

/* objectName(handle) -> string */
static napi_value object_name(napi_env env, napi_callback_info info)
{
	napi_value argv[1], res;
	struct pg_object *o;

	NAPI_CALL(env, pg_get_args(env, info, 1, argv));
	o = get_object(env, argv[0], "get object name");
	if (!o)
		return NULL;
	NAPI_CALL(env,
		  napi_create_string_utf8(env, bpf_object__name(o->obj), NAPI_AUTO_LENGTH, &res));
	return res;
}

/* Finds a global variable in one DATASEC; returns false when absent. */
static bool find_var(struct bpf_object *obj, const char *sec, const char *var, __u32 *off,
		     __u32 *size)
{
	struct btf *btf = bpf_object__btf(obj);
	const struct btf_type *t;
	const struct btf_var_secinfo *vsi;
	int id, i;

	if (!btf)
		return false;
	id = btf__find_by_name_kind(btf, sec, BTF_KIND_DATASEC);
	if (id < 0)
		return false;
	t = btf__type_by_id(btf, id);
	vsi = btf_var_secinfos(t);
	for (i = 0; i < btf_vlen(t); i++, vsi++) {
		const struct btf_type *vt = btf__type_by_id(btf, vsi->type);

		if (!strcmp(btf__name_by_offset(btf, vt->name_off), var)) {
			*off = vsi->offset;
			*size = vsi->size;
			return true;
		}
	}
	return false;
}

static const char *const data_sections[] = {".rodata", ".data", ".bss"};

/* objectFindVar(handle, name) -> { section, map, offset, size } | null */
static napi_value object_find_var(napi_env env, napi_value *argv, const char *op)
{
	struct pg_object *o = get_object(env, argv[0], op);
	napi_value res;
	char *var;
	__u32 off, size;

	if (!o)
		return NULL;
	var = pg_get_string(env, argv[1]);
	if (!var)
		return NULL;
	for (size_t i = 0; i < sizeof(data_sections) / sizeof(data_sections[0]); i++) {
		struct bpf_map *map;

		if (!find_var(o->obj, data_sections[i], var, &off, &size))
			continue;
		map = bpf_object__find_map_by_name(o->obj, data_sections[i]);
		free(var);
		NAPI_CALL(env, napi_create_object(env, &res));
		NAPI_CALL(env, pg_set_str(env, res, "section", data_sections[i]));
		NAPI_CALL(env, pg_set_str(env, res, "map", map ? bpf_map__name(map) : ""));
		NAPI_CALL(env, pg_set_u32(env, res, "offset", off));
		NAPI_CALL(env, pg_set_u32(env, res, "size", size));
		return res;
	}
	free(var);
	NAPI_CALL(env, napi_get_null(env, &res));
	return res;
}

static napi_value object_find_var_cb(napi_env env, napi_callback_info info)
{
	napi_value argv[2];

	NAPI_CALL(env, pg_get_args(env, info, 2, argv));
	return object_find_var(env, argv, "find variable");
}

/*
 * objectSetConst(handle, name, buffer): writes a `const volatile` global into
 * the .rodata image; the kernel sees it frozen, so the verifier prunes on it.
 */
static napi_value object_set_const(napi_env env, napi_callback_info info)
{
	const char *op = "set const";
	napi_value argv[3];
	struct pg_object *o;
	struct bpf_map *map;
	const void *init;
	void *data, *image;
	size_t len, map_size;
	__u32 off, size;
	char *var;
	int err;

	NAPI_CALL(env, pg_get_args(env, info, 3, argv));
	o = get_object(env, argv[0], op);
	if (!o)
		return NULL;
	if (!pg_get_buffer(env, argv[2], &data, &len, op, "value must be a Buffer"))
		return NULL;
	if (o->loaded)
		return pg_throw_errno(env, op, "", EBUSY, "object already loaded");
	var = pg_get_string(env, argv[1]);
	if (!var)
		return NULL;
	map = bpf_object__find_map_by_name(o->obj, ".rodata");
	if (!map || !find_var(o->obj, ".rodata", var, &off, &size)) {
		pg_throw_errno(env, op, var, ENOENT, "no such const volatile in .rodata");
		free(var);
		return NULL;
	}
	if (size != len) {
		char why[160];

		snprintf(why, sizeof(why), "%s is %u bytes in BTF, value is %zu bytes", var, size,
			 len);
		free(var);
		return pg_throw_arg(env, op, why);
	}
	init = bpf_map__initial_value(map, &map_size);
	if (!init || off + size > map_size) {
		pg_throw_errno(env, op, var, EINVAL, "variable outside .rodata image");
		free(var);
		return NULL;
	}
	image = malloc(map_size);
	if (!image) {
		free(var);
		return pg_throw_errno(env, op, "", ENOMEM, NULL);
	}
	memcpy(image, init, map_size);
	memcpy((char *)image + off, data, size);
	err = bpf_map__set_initial_value(map, image, map_size);
	free(image);
	if (err) {
		pg_throw_errno(env, op, var, err, NULL);
		free(var);
		return NULL;
	}
	free(var);
	return NULL;
}

/* objectSetMaxEntries(handle, mapName, n) */
static napi_value object_set_max_entries(napi_env env, napi_callback_info info)
{
	const char *op = "set max entries";
	napi_value argv[3];
	struct pg_object *o;
	struct bpf_map *map;
	uint32_t n;
	char *name;
	int err;

	NAPI_CALL(env, pg_get_args(env, info, 3, argv));
	o = get_object(env, argv[0], op);
	if (!o || !pg_get_u32(env, argv[2], &n, op, "max entries must be a u32"))
		return NULL;
	name = pg_get_string(env, argv[1]);
	if (!name)
		return NULL;
	map = bpf_object__find_map_by_name(o->obj, name);
	err = map ? bpf_map__set_max_entries(map, n) : -ENOENT;
	if (err)
		pg_throw_errno(env, op, name, err, NULL);
	free(name);
	return NULL;
}

/*
 * objectReuseMap(handle, mapName, fd): before load, make this object use an
 * existing map (another object's, or a pinned one) instead of creating its
 * own. This is how every sensor shares one ring buffer, one identity map and
 * one set of policy maps (libbpf checks the definitions are compatible).
 */
static napi_value object_reuse_map(napi_env env, napi_callback_info info)
{
	const char *op = "reuse map";
	napi_value argv[3];
	struct pg_object *o;
	struct bpf_map *map;
	uint32_t fd;
	char *name;
	int err;

	NAPI_CALL(env, pg_get_args(env, info, 3, argv));
	o = get_object(env, argv[0], op);
	if (!o || !pg_get_u32(env, argv[2], &fd, op, "fd must be a u32"))
		return NULL;
	name = pg_get_string(env, argv[1]);
	if (!name)
		return NULL;
	map = bpf_object__find_map_by_name(o->obj, name);
	err = map ? bpf_map__reuse_fd(map, (int)fd) : -ENOENT;
	if (err)
		pg_throw_errno(env, op, name, err, NULL);
	free(name);
	return NULL;
}

/* objectSetAutoload(handle, progName, bool) */
static napi_value object_set_autoload(napi_env env, napi_callback_info info)
{
	const char *op = "set autoload";
	napi_value argv[3];
	struct bpf_program *prog;
	bool on;
	char *name;
	int err;

	NAPI_CALL(env, pg_get_args(env, info, 3, argv));
	if (napi_get_value_bool(env, argv[2], &on) != napi_ok)
		return pg_throw_arg(env, op, "autoload must be a boolean");
	name = pg_get_string(env, argv[1]);
	if (!name)
		return NULL;
	prog = pg_object_program(env, argv[0], name, op);
	if (prog) {
		err = bpf_program__set_autoload(prog, on);
		if (err)
			pg_throw_errno(env, op, name, err, NULL);
	}
	free(name);
	return NULL;
}

/* objectLoad(handle): errors carry program and verifier log */
static napi_value object_load(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	struct pg_object *o;
	int err;

	NAPI_CALL(env, pg_get_args(env, info, 1, argv));
	o = get_object(env, argv[0], "load");
	if (!o)
		return NULL;
	pg_log_start();
	err = bpf_object__load(o->obj);
	o->loaded = true; /* libbpf refuses a second load even after a failure */
	if (err)
		return pg_throw_load(env, "load", bpf_object__name(o->obj), err);
	/*
	 * libbpf parsed the kernel's BTF (tens of MiB) for CO-RE and freed it;
	 * hand those pages back so the agent's resident size reflects what it
	 * keeps, not the load's peak.
	 */
	malloc_trim(0);
	return NULL;
}

/* objectPrograms(handle) -> [{ name, section, type, autoload, fd }] */
static napi_value object_programs(napi_env env, napi_callback_info info)
{
	napi_value argv[1], arr, item, b;
	struct pg_object *o;
	struct bpf_program *prog;
	uint32_t i = 0;

	NAPI_CALL(env, pg_get_args(env, info, 1, argv));
	o = get_object(env, argv[0], "list programs");
	if (!o)
		return NULL;
	NAPI_CALL(env, napi_create_array(env, &arr));
	bpf_object__for_each_program(prog, o->obj)
	{
		const char *type = libbpf_bpf_prog_type_str(bpf_program__type(prog));

		NAPI_CALL(env, napi_create_object(env, &item));
		NAPI_CALL(env, pg_set_str(env, item, "name", bpf_program__name(prog)));
		NAPI_CALL(env, pg_set_str(env, item, "section", bpf_program__section_name(prog)));
		NAPI_CALL(env, pg_set_str(env, item, "type", type ? type : "unknown"));
		NAPI_CALL(env, napi_get_boolean(env, bpf_program__autoload(prog), &b));
		NAPI_CALL(env, napi_set_named_property(env, item, "autoload", b));
		NAPI_CALL(env, pg_set_i32(env, item, "fd", bpf_program__fd(prog)));
		NAPI_CALL(env, napi_set_element(env, arr, i++, item));
	}
	return arr;
}

/* objectMaps(handle) -> [{ name, type, keySize, valueSize, maxEntries, fd }] */
static napi_value object_maps(napi_env env, napi_callback_info info)
{
	napi_value argv[1], arr, item;
	struct pg_object *o;
	struct bpf_map *map;
	uint32_t i = 0;

	NAPI_CALL(env, pg_get_args(env, info, 1, argv));
	o = get_object(env, argv[0], "list maps");
	if (!o)
		return NULL;
	NAPI_CALL(env, napi_create_array(env, &arr));
	bpf_object__for_each_map(map, o->obj)
	{
		const char *type = libbpf_bpf_map_type_str(bpf_map__type(map));

		NAPI_CALL(env, napi_create_object(env, &item));
		NAPI_CALL(env, pg_set_str(env, item, "name", bpf_map__name(map)));
		NAPI_CALL(env, pg_set_str(env, item, "type", type ? type : "unknown"));
		NAPI_CALL(env, pg_set_u32(env, item, "keySize", bpf_map__key_size(map)));
		NAPI_CALL(env, pg_set_u32(env, item, "valueSize", bpf_map__value_size(map)));
		NAPI_CALL(env, pg_set_u32(env, item, "maxEntries", bpf_map__max_entries(map)));
		NAPI_CALL(env, pg_set_i32(env, item, "fd", bpf_map__fd(map)));
		NAPI_CALL(env, napi_set_element(env, arr, i++, item));
	}
	return arr;
}

/* objectClose(handle): idempotent */
static napi_value object_close(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	struct pg_object *o;

	NAPI_CALL(env, pg_get_args(env, info, 1, argv));
	o = pg_unwrap_any(env, argv[0], PG_OBJECT, "close object");
	if (o)
		object_free(o);
	return NULL;
}

napi_status pg_object_init(napi_env env, napi_value exports)
{
	PG_EXPORT(env, exports, "objectOpen", object_open);
	PG_EXPORT(env, exports, "objectName", object_name);
	PG_EXPORT(env, exports, "objectFindVar", object_find_var_cb);
	PG_EXPORT(env, exports, "objectSetConst", object_set_const);
	PG_EXPORT(env, exports, "objectSetMaxEntries", object_set_max_entries);
	PG_EXPORT(env, exports, "objectSetAutoload", object_set_autoload);
	PG_EXPORT(env, exports, "objectReuseMap", object_reuse_map);
	PG_EXPORT(env, exports, "objectLoad", object_load);
	PG_EXPORT(env, exports, "objectPrograms", object_programs);
	PG_EXPORT(env, exports, "objectMaps", object_maps);
	PG_EXPORT(env, exports, "objectClose", object_close);
	return napi_ok;
}
