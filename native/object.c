// SPDX-License-Identifier: Apache-2.0
// BPF object: open, configure before load (consts, max_entries, autoload), load
// (optionally with the verifier's statistics), list, close.
#include <malloc.h>
#include "peregrine.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * BPF_LOG_STATS (kernel-internal, not in the UAPI header): at this level alone
 * the verifier writes only its summary ("verification time", "stack depth",
 * "processed N insns ...") and the messages of a rejection, never the
 * per-instruction trace of level 1, which on a big program that verifies
 * overflows any reasonable buffer — and a truncated log fails the load with
 * ENOSPC (before 6.4 with no way to learn the size needed).
 */
#define PG_LOG_STATS 4
/* Per program; the summary is a few hundred bytes, a rejection a few KiB. */
#define PG_STATS_LOG_SIZE (64 * 1024)

/* A map given to objectReuseMap: a failed load closes libbpf's copy of the fd. */
struct pg_reused {
	char *map;
	int fd;
};

struct pg_object {
	struct pg_handle h;
	struct bpf_object *obj;
	char *path; /* to verify a failed program again (stats_throw_load) */
	bool loaded;
	bool stats;
	char *stats_logs; /* PG_STATS_LOG_SIZE bytes per program, in program order */
	struct pg_reused *reused;
	size_t nr_reused;
	double load_us; /* wall time of bpf_object__load() */
};

static void object_free(struct pg_object *o)
{
	if (!o->h.closed) {
		o->h.closed = true;
		bpf_object__close(o->obj);
		o->obj = NULL;
		free(o->path);
		o->path = NULL;
		free(o->stats_logs);
		o->stats_logs = NULL;
		for (size_t i = 0; i < o->nr_reused; i++)
			free(o->reused[i].map);
		free(o->reused);
		o->reused = NULL;
		o->nr_reused = 0;
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
	o = calloc(1, sizeof(*o));
	if (!o) {
		bpf_object__close(obj);
		free(path);
		return pg_throw_errno(env, "open object", "", ENOMEM, NULL);
	}
	o->h.kind = PG_OBJECT;
	o->obj = obj;
	o->path = path;
	if (pg_wrap(env, PG_OBJECT, o, object_finalize, &res) != napi_ok) {
		bpf_object__close(obj);
		free(path);
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

static int remember_reused(struct pg_object *o, const char *map, int fd)
{
	struct pg_reused *r;
	char *copy;

	for (size_t i = 0; i < o->nr_reused; i++) {
		if (!strcmp(o->reused[i].map, map)) {
			o->reused[i].fd = fd;
			return 0;
		}
	}
	copy = strdup(map);
	r = copy ? realloc(o->reused, (o->nr_reused + 1) * sizeof(*r)) : NULL;
	if (!r) {
		free(copy);
		return -ENOMEM;
	}
	r[o->nr_reused].map = copy;
	r[o->nr_reused].fd = fd;
	o->reused = r;
	o->nr_reused++;
	return 0;
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
	if (!err)
		err = remember_reused(o, name, (int)fd);
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

/*
 * objectSetStats(handle, bool): before load, have each program's load keep the
 * verifier's statistics (objectStats). Opt-in, not always on: a load that
 * verifies costs about the same (network + privilege, 44 programs: 291 vs
 * 285 ms, median of 8 loads each, within this machine's noise), but a
 * rejection costs a second verification of the rejected program (see
 * stats_throw_load) — seconds near the 1M-instruction limit — and the
 * agent's start has no use for the numbers.
 */
static napi_value object_set_stats(napi_env env, napi_callback_info info)
{
	const char *op = "set stats";
	napi_value argv[2];
	struct pg_object *o;
	bool on;

	NAPI_CALL(env, pg_get_args(env, info, 2, argv));
	o = get_object(env, argv[0], op);
	if (!o)
		return NULL;
	if (napi_get_value_bool(env, argv[1], &on) != napi_ok)
		return pg_throw_arg(env, op, "stats must be a boolean");
	if (o->loaded)
		return pg_throw_errno(env, op, "", EBUSY, "object already loaded");
	o->stats = on;
	return NULL;
}

/* Gives every program its own stats-level log buffer. */
static int stats_prepare(struct pg_object *o)
{
	struct bpf_program *prog;
	size_t n = 0, i = 0;
	int err;

	bpf_object__for_each_program(prog, o->obj) n++;
	free(o->stats_logs);
	/* calloc: pages the kernel never writes are never touched. */
	o->stats_logs = calloc(n ? n : 1, PG_STATS_LOG_SIZE);
	if (!o->stats_logs)
		return -ENOMEM;
	bpf_object__for_each_program(prog, o->obj)
	{
		err = bpf_program__set_log_buf(prog, o->stats_logs + i++ * PG_STATS_LOG_SIZE,
					       PG_STATS_LOG_SIZE);
		if (!err)
			err = bpf_program__set_log_level(prog, PG_LOG_STATS);
		if (err)
			return err;
	}
	return 0;
}

/* The stats-level log of a program of o (by name), or "" */
static const char *stats_log(struct pg_object *o, const char *name)
{
	struct bpf_program *prog;
	size_t i = 0;

	if (!o->stats_logs)
		return "";
	bpf_object__for_each_program(prog, o->obj)
	{
		if (!strcmp(bpf_program__name(prog), name))
			return o->stats_logs + i * PG_STATS_LOG_SIZE;
		i++;
	}
	return "";
}

/* Gives map cm of a fresh copy of the object what o's map m had before load. */
static int copy_map_config(struct pg_object *o, struct bpf_map *m, struct bpf_map *cm)
{
	const char *name = bpf_map__name(m);
	const void *init;
	size_t size, len = strlen(name);
	int err = 0;

	if (bpf_map__max_entries(cm) != bpf_map__max_entries(m))
		err = bpf_map__set_max_entries(cm, bpf_map__max_entries(m));
	init = bpf_map__initial_value(m, &size);
	/* .kconfig is filled in by libbpf at load, not set by us. */
	if (!err && init && !(len >= 8 && !strcmp(name + len - 8, ".kconfig")))
		err = bpf_map__set_initial_value(cm, init, size);
	for (size_t i = 0; !err && i < o->nr_reused; i++)
		if (!strcmp(o->reused[i].map, name))
			err = bpf_map__reuse_fd(cm, o->reused[i].fd);
	return err;
}

/*
 * Opens the object's file again, configures the copy like o (map sizes,
 * consts and other initial values, reused maps) and loads only the program
 * `failed` with libbpf's own logging: nothing at first, level 1 in a buffer
 * that grows on ENOSPC when the load fails, printed to the captured log.
 */
static int verify_again(struct pg_object *o, const char *failed)
{
	struct bpf_object *copy = bpf_object__open_file(o->path, NULL);
	struct bpf_program *cp;
	struct bpf_map *m, *cm;
	int err = 0;

	if (!copy)
		return -errno;
	/* The same file: maps and programs come in the same order. */
	cm = bpf_object__next_map(copy, NULL);
	bpf_object__for_each_map(m, o->obj)
	{
		if (!cm || strcmp(bpf_map__name(m), bpf_map__name(cm))) {
			err = -EINVAL;
			goto out;
		}
		err = copy_map_config(o, m, cm);
		if (err)
			goto out;
		cm = bpf_object__next_map(copy, cm);
	}
	bpf_object__for_each_program(cp, copy)
	{
		err = bpf_program__set_autoload(cp, !strcmp(bpf_program__name(cp), failed));
		if (err)
			goto out;
	}
	err = bpf_object__load(copy);
out:
	bpf_object__close(copy);
	return err;
}

/*
 * With a log level of its own, libbpf 1.1 neither retries a rejected program
 * at level 1 nor prints its log: the error would carry only the stats-level
 * lines. So the rejected program is verified once more, in a fresh copy of
 * the object loaded the default way, and its error (with the full verifier
 * log, as without statistics) is the one thrown. Should that load not fail
 * the same way, the error carries the stats-level log, which still holds the
 * verifier's rejection message.
 */
static napi_value stats_throw_load(napi_env env, struct pg_object *o, int err)
{
	const char *name = bpf_object__name(o->obj);
	char *failed = pg_log_failed_program();
	char *first, *block;
	const char *slog;
	int again;

	if (!failed) /* failed before any program reached the verifier */
		return pg_throw_load(env, "load", name, err);
	first = strdup(pg_log_text());
	pg_log_start();
	again = verify_again(o, failed);
	if (again) {
		char *refailed = pg_log_failed_program();
		bool same = refailed && !strcmp(refailed, failed) &&
			    strstr(pg_log_text(), "-- BEGIN PROG LOAD LOG --");

		free(refailed);
		if (same) {
			free(first);
			free(failed);
			return pg_throw_load(env, "load", name, again);
		}
	}
	pg_log_start();
	if (first)
		pg_log_append(first);
	slog = stats_log(o, failed);
	if (slog[0] &&
	    asprintf(&block, "prog '%s': -- BEGIN PROG LOAD LOG --\n%s-- END PROG LOAD LOG --\n",
		     failed, slog) >= 0) {
		pg_log_append(block);
		free(block);
	}
	free(first);
	free(failed);
	return pg_throw_load(env, "load", name, err);
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* objectLoad(handle): errors carry program and verifier log */
static napi_value object_load(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	struct pg_object *o;
	double start;
	int err;

	NAPI_CALL(env, pg_get_args(env, info, 1, argv));
	o = get_object(env, argv[0], "load");
	if (!o)
		return NULL;
	pg_log_start();
	if (o->stats && !o->loaded) {
		err = stats_prepare(o);
		if (err)
			return pg_throw_errno(env, "load", bpf_object__name(o->obj), err,
					      "set stats log");
	}
	start = now_us();
	err = bpf_object__load(o->obj);
	o->load_us = now_us() - start;
	o->loaded = true; /* libbpf refuses a second load even after a failure */
	if (err && o->stats)
		return stats_throw_load(env, o, err);
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

/* verified_insns of a loaded program; false where the kernel lacks it (before 5.16). */
static bool verified_insns(int fd, uint32_t *out)
{
	struct bpf_prog_info pi;
	__u32 len = sizeof(pi);

	if (fd < 0)
		return false;
	memset(&pi, 0, sizeof(pi));
	if (bpf_obj_get_info_by_fd(fd, &pi, &len))
		return false;
	/* The kernel returns the length of its own struct, short of fields it lacks. */
	if (len < offsetof(struct bpf_prog_info, verified_insns) + sizeof(pi.verified_insns))
		return false;
	*out = pi.verified_insns;
	return true;
}

/*
 * objectStats(handle) -> { loadUs, programs: [{ name, log, verifiedInsns, insns }] }:
 * the load's wall time, and per program its stats-level verifier log ("" when
 * stats were off or the program never reached the verifier) and verified_insns
 * from bpf_prog_info (null when not loaded or the kernel lacks the field).
 * Works after a failed load too: programs verified before the rejected one,
 * and the rejected one, keep their logs.
 */
static napi_value object_stats(napi_env env, napi_callback_info info)
{
	napi_value argv[1], res, arr, item, v;
	struct pg_object *o;
	struct bpf_program *prog;
	uint32_t i = 0, n;

	NAPI_CALL(env, pg_get_args(env, info, 1, argv));
	o = get_object(env, argv[0], "get stats");
	if (!o)
		return NULL;
	NAPI_CALL(env, napi_create_object(env, &res));
	NAPI_CALL(env, pg_set_f64(env, res, "loadUs", o->load_us));
	NAPI_CALL(env, napi_create_array(env, &arr));
	bpf_object__for_each_program(prog, o->obj)
	{
		const char *log = o->stats_logs ? o->stats_logs + i * PG_STATS_LOG_SIZE : "";

		NAPI_CALL(env, napi_create_object(env, &item));
		NAPI_CALL(env, pg_set_str(env, item, "name", bpf_program__name(prog)));
		NAPI_CALL(env, pg_set_str(env, item, "log", log));
		if (verified_insns(bpf_program__fd(prog), &n))
			NAPI_CALL(env, napi_create_uint32(env, n, &v));
		else
			NAPI_CALL(env, napi_get_null(env, &v));
		NAPI_CALL(env, napi_set_named_property(env, item, "verifiedInsns", v));
		/*
		 * The instructions as loaded (subprograms appended, relocated): the
		 * call graph the stack check walks, so the deepest chain can be
		 * measured rather than bounded by a sum.
		 */
		if (bpf_program__fd(prog) >= 0 && bpf_program__insns(prog))
			NAPI_CALL(env, napi_create_buffer_copy(env,
							       bpf_program__insn_cnt(prog) *
								       sizeof(struct bpf_insn),
							       bpf_program__insns(prog), NULL, &v));
		else
			NAPI_CALL(env, napi_get_null(env, &v));
		NAPI_CALL(env, napi_set_named_property(env, item, "insns", v));
		NAPI_CALL(env, napi_set_element(env, arr, i++, item));
	}
	NAPI_CALL(env, napi_set_named_property(env, res, "programs", arr));
	return res;
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

/*
 * programRunStats(fd) -> { id, name, runTimeNs, runCnt } | null: one loaded
 * program's bpf_prog_info, read by fd. run_time_ns and run_cnt (5.1+) only
 * grow while /proc/sys/kernel/bpf_stats_enabled is 1 (they cost two clock
 * reads per run, so the kernel leaves them off); null when the fd is not a
 * program the kernel describes.
 */
static napi_value program_run_stats(napi_env env, napi_callback_info info)
{
	napi_value argv[1], res;
	struct bpf_prog_info pi;
	__u32 len = sizeof(pi);
	uint32_t fd;

	NAPI_CALL(env, pg_get_args(env, info, 1, argv));
	if (!pg_get_u32(env, argv[0], &fd, "read program info", "fd"))
		return NULL;
	memset(&pi, 0, sizeof(pi));
	if (bpf_obj_get_info_by_fd((int)fd, &pi, &len) ||
	    len < offsetof(struct bpf_prog_info, run_cnt) + sizeof(pi.run_cnt)) {
		NAPI_CALL(env, napi_get_null(env, &res));
		return res;
	}
	NAPI_CALL(env, napi_create_object(env, &res));
	NAPI_CALL(env, pg_set_f64(env, res, "id", pi.id));
	NAPI_CALL(env, pg_set_str(env, res, "name", pi.name));
	NAPI_CALL(env, pg_set_f64(env, res, "runTimeNs", (double)pi.run_time_ns));
	NAPI_CALL(env, pg_set_f64(env, res, "runCnt", (double)pi.run_cnt));
	return res;
}

/*
 * enableRunStats() -> fd: BPF_ENABLE_STATS (5.8+). Run time and run count of
 * every program on the host are counted while this fd (or the sysctl) is
 * open; the kernel refcounts holders, so closing it never turns off what
 * another holder asked for. The caller closes the fd.
 */
static napi_value enable_run_stats(napi_env env, napi_callback_info info)
{
	napi_value res;
	int fd;

	(void)info;
	fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (fd < 0)
		return pg_throw_errno(env, "enable run stats", "", fd, NULL);
	NAPI_CALL(env, napi_create_int32(env, fd, &res));
	return res;
}

/*
 * objectTestRun(handle, program, data, repeat) -> {retval, durationNs}:
 * BPF_PROG_TEST_RUN (4.12+) on a loaded program with `data` as the packet,
 * `repeat` times in the kernel; durationNs is the kernel's mean per run.
 * For benchmarks and tests of packet programs (XDP), never the agent's path.
 */
static napi_value object_test_run(napi_env env, napi_callback_info info)
{
	const char *op = "test run program";
	napi_value argv[4], res;
	struct bpf_program *prog;
	char *name = NULL;
	void *data;
	size_t len;
	uint32_t repeat;
	int err;

	NAPI_CALL(env, pg_get_args(env, info, 4, argv));
	if (!pg_get_buffer(env, argv[2], &data, &len, op, "data must be a Buffer") ||
	    !pg_get_u32(env, argv[3], &repeat, op, "repeat must be a uint32"))
		return NULL;
	name = pg_get_string(env, argv[1]);
	if (!name)
		return NULL;
	prog = pg_object_program(env, argv[0], name, op);
	if (!prog) {
		free(name);
		return NULL;
	}
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = data, .data_size_in = (__u32)len,
		    .repeat = repeat);
	err = bpf_prog_test_run_opts(bpf_program__fd(prog), &opts);
	if (err) {
		pg_throw_errno(env, op, name, errno ? errno : EINVAL, NULL);
		free(name);
		return NULL;
	}
	free(name);
	NAPI_CALL(env, napi_create_object(env, &res));
	NAPI_CALL(env, pg_set_u32(env, res, "retval", opts.retval));
	NAPI_CALL(env, pg_set_u32(env, res, "durationNs", opts.duration));
	return res;
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
	PG_EXPORT(env, exports, "objectSetStats", object_set_stats);
	PG_EXPORT(env, exports, "objectLoad", object_load);
	PG_EXPORT(env, exports, "objectStats", object_stats);
	PG_EXPORT(env, exports, "objectPrograms", object_programs);
	PG_EXPORT(env, exports, "objectMaps", object_maps);
	PG_EXPORT(env, exports, "objectTestRun", object_test_run);
	PG_EXPORT(env, exports, "objectClose", object_close);
	PG_EXPORT(env, exports, "programRunStats", program_run_stats);
	PG_EXPORT(env, exports, "enableRunStats", enable_run_stats);
	return napi_ok;
}
