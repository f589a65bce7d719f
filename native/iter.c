// SPDX-License-Identifier: Apache-2.0
// BPF iterators: create an fd from an iter link (bpf_iter_create) and read it to EOF.
#include "peregrine.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct pg_iter {
	struct pg_handle h;
	int fd;
};

static void iter_free(struct pg_iter *it)
{
	if (!it->h.closed) {
		it->h.closed = true;
		close(it->fd);
		it->fd = -1;
		pg_handle_closed(PG_ITER);
	}
}

static void iter_finalize(napi_env env, void *data, void *hint)
{
	(void)env;
	(void)hint;
	iter_free(data);
	free(data);
}

/* iterOpen(link) -> handle; each open runs the iterator program afresh */
static napi_value iter_open(napi_env env, napi_callback_info info)
{
	napi_value argv[1], res;
	struct bpf_link *link;
	struct pg_iter *it;
	int fd;

	NAPI_CALL(env, pg_get_args(env, info, 1, argv));
	link = pg_link_get(env, argv[0], "create iterator");
	if (!link)
		return NULL;
	errno = 0;
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0)
		return pg_throw_errno(env, "create iterator", "", errno ? errno : -fd, NULL);
	it = calloc(1, sizeof(*it));
	if (!it) {
		close(fd);
		return pg_throw_errno(env, "create iterator", "", ENOMEM, NULL);
	}
	it->h.kind = PG_ITER;
	it->fd = fd;
	if (pg_wrap(env, PG_ITER, it, iter_finalize, &res) != napi_ok) {
		close(fd);
		free(it);
		pg_throw_napi(env);
		return NULL;
	}
	return res;
}

/*
 * iterRead(handle) -> Buffer holding everything up to EOF. Iterator output is
 * produced synchronously by the kernel during read(); it is meant for
 * bounded snapshots (tasks, maps), not streams.
 */
static napi_value iter_read(napi_env env, napi_callback_info info)
{
	napi_value argv[1], res;
	struct pg_iter *it;
	size_t len = 0, cap = 16384;
	char *buf, *p;
	void *out;
	ssize_t n;

	NAPI_CALL(env, pg_get_args(env, info, 1, argv));
	it = pg_unwrap(env, argv[0], PG_ITER, "read iterator");
	if (!it)
		return NULL;
	buf = malloc(cap);
	if (!buf)
		return pg_throw_errno(env, "read iterator", "", ENOMEM, NULL);
	for (;;) {
		if (len == cap) {
			p = realloc(buf, cap * 2);
			if (!p) {
				free(buf);
				return pg_throw_errno(env, "read iterator", "", ENOMEM, NULL);
			}
			buf = p;
			cap *= 2;
		}
		n = read(it->fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;

			free(buf);
			return pg_throw_errno(env, "read iterator", "", err, NULL);
		}
		if (n == 0)
			break;
		len += n;
	}
	if (napi_create_buffer_copy(env, len, buf, &out, &res) != napi_ok) {
		free(buf);
		pg_throw_napi(env);
		return NULL;
	}
	free(buf);
	return res;
}

/* iterClose(handle): idempotent */
static napi_value iter_close(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	struct pg_iter *it;

	NAPI_CALL(env, pg_get_args(env, info, 1, argv));
	it = pg_unwrap_any(env, argv[0], PG_ITER, "close iterator");
	if (it)
		iter_free(it);
	return NULL;
}

napi_status pg_iter_init(napi_env env, napi_value exports)
{
	PG_EXPORT(env, exports, "iterOpen", iter_open);
	PG_EXPORT(env, exports, "iterRead", iter_read);
	PG_EXPORT(env, exports, "iterClose", iter_close);
	return napi_ok;
}
