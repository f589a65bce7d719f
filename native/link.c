// SPDX-License-Identifier: Apache-2.0
// BPF links: attach a loaded program (by section, cgroup, XDP, iterator), pin, destroy.
#include "peregrine.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

struct pg_link {
	struct pg_handle h;
	struct bpf_link *link;
};

static void link_free(struct pg_link *l)
{
	if (!l->h.closed) {
		l->h.closed = true;
		bpf_link__destroy(l->link);
		l->link = NULL;
		pg_handle_closed(PG_LINK);
	}
}

static void link_finalize(napi_env env, void *data, void *hint)
{
	(void)env;
	(void)hint;
	link_free(data);
	free(data);
}

struct bpf_link *pg_link_get(napi_env env, napi_value v, const char *op)
{
	struct pg_link *l = pg_unwrap(env, v, PG_LINK, op);

	return l ? l->link : NULL;
}

static napi_value wrap_link(napi_env env, struct bpf_link *link)
{
	struct pg_link *l = calloc(1, sizeof(*l));
	napi_value res;

	if (!l) {
		bpf_link__destroy(link);
		return pg_throw_errno(env, "attach program", "", ENOMEM, NULL);
	}
	l->h.kind = PG_LINK;
	l->link = link;
	if (pg_wrap(env, PG_LINK, l, link_finalize, &res) != napi_ok) {
		bpf_link__destroy(link);
		free(l);
		pg_throw_napi(env);
		return NULL;
	}
	return res;
}

enum attach_kind { ATTACH_AUTO, ATTACH_CGROUP, ATTACH_XDP, ATTACH_ITER };

/*
 * linkAttach(object, progName, kind, target): kind 0 = by section name, 1 =
 * cgroup directory path, 2 = XDP ifindex, 3 = iterator. Attach failures on
 * kernels without the hook come back as errors with errno (ENOTSUPP, EPERM...).
 */
static napi_value link_attach(napi_env env, napi_callback_info info)
{
	const char *op = "attach program";
	napi_value argv[4];
	struct bpf_program *prog;
	struct bpf_link *link = NULL;
	char *name, *path = NULL;
	uint32_t kind;
	int32_t ifindex = 0;
	int err = 0, fd;

	NAPI_CALL(env, pg_get_args(env, info, 4, argv));
	if (!pg_get_u32(env, argv[2], &kind, op, "attach kind"))
		return NULL;
	name = pg_get_string(env, argv[1]);
	if (!name)
		return NULL;
	prog = pg_object_program(env, argv[0], name, op);
	if (!prog)
		goto out;
	if (bpf_program__fd(prog) < 0) {
		pg_throw_errno(env, op, name, EBADF, "program not loaded");
		goto out;
	}
	pg_log_start();
	switch (kind) {
	case ATTACH_AUTO:
		link = bpf_program__attach(prog);
		break;
	case ATTACH_CGROUP:
		path = pg_get_string(env, argv[3]);
		if (!path)
			goto out;
		fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			err = errno;
			break;
		}
		link = bpf_program__attach_cgroup(prog, fd);
		err = errno;
		close(fd); /* the link holds its own reference to the cgroup */
		errno = err;
		break;
	case ATTACH_XDP:
		if (!pg_get_i32(env, argv[3], &ifindex, op, "ifindex"))
			goto out;
		link = bpf_program__attach_xdp(prog, ifindex);
		break;
	case ATTACH_ITER:
		link = bpf_program__attach_iter(prog, NULL);
		break;
	default:
		pg_throw_arg(env, op, "unknown attach kind");
		goto out;
	}
	if (!link) {
		if (!err)
			err = errno ? errno : EINVAL;
		pg_throw_errno(env, op, name, err, pg_log_text());
		goto out;
	}
	free(name);
	free(path);
	return wrap_link(env, link);
out:
	free(name);
	free(path);
	return NULL;
}

/* linkFd(link) -> number */
static napi_value link_fd(napi_env env, napi_callback_info info)
{
	napi_value argv[1], res;
	struct bpf_link *link;

	NAPI_CALL(env, pg_get_args(env, info, 1, argv));
	link = pg_link_get(env, argv[0], "get link fd");
	if (!link)
		return NULL;
	NAPI_CALL(env, napi_create_int32(env, bpf_link__fd(link), &res));
	return res;
}

/* linkPin(link, path): the link outlives this process until unpinned */
static napi_value link_pin(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	struct bpf_link *link;
	char *path;
	int err;

	NAPI_CALL(env, pg_get_args(env, info, 2, argv));
	link = pg_link_get(env, argv[0], "pin link");
	if (!link)
		return NULL;
	path = pg_get_string(env, argv[1]);
	if (!path)
		return NULL;
	pg_log_start();
	err = bpf_link__pin(link, path);
	if (err)
		pg_throw_errno(env, "pin link", path, err, pg_log_text());
	free(path);
	return NULL;
}

/* linkUnpin(link) */
static napi_value link_unpin(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	struct bpf_link *link;
	int err;

	NAPI_CALL(env, pg_get_args(env, info, 1, argv));
	link = pg_link_get(env, argv[0], "unpin link");
	if (!link)
		return NULL;
	err = bpf_link__unpin(link);
	if (err)
		pg_throw_errno(env, "unpin link", "", err, NULL);
	return NULL;
}

/* linkClose(link): detaches unless pinned; idempotent */
static napi_value link_close(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	struct pg_link *l;

	NAPI_CALL(env, pg_get_args(env, info, 1, argv));
	l = pg_unwrap_any(env, argv[0], PG_LINK, "close link");
	if (l)
		link_free(l);
	return NULL;
}

napi_status pg_link_init(napi_env env, napi_value exports)
{
	PG_EXPORT(env, exports, "linkAttach", link_attach);
	PG_EXPORT(env, exports, "linkFd", link_fd);
	PG_EXPORT(env, exports, "linkPin", link_pin);
	PG_EXPORT(env, exports, "linkUnpin", link_unpin);
	PG_EXPORT(env, exports, "linkClose", link_close);
	return napi_ok;
}
