// SPDX-License-Identifier: Apache-2.0
// Ring buffer consumer on the libuv loop: epoll-driven, batched into one reused Buffer.
#include "peregrine.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <uv.h>

/*
 * Records are copied into one preallocated Buffer as
 *   [u32 little-endian length][record bytes] ...
 * back to back and handed to ONE JS call per consume round (or earlier when
 * the batch fills), so the per-record cost is a memcpy rather than a JS call
 * and an allocation. JS must decode synchronously: the same Buffer is
 * overwritten by the next batch.
 *
 * ring_buffer__epoll_fd() is polled by libuv, so the event loop never blocks.
 * A timer consumes too, because producers using BPF_RB_NO_WAKEUP never make
 * the epoll fd readable.
 */
struct pg_ringbuf {
	struct pg_handle h;
	napi_env env;
	struct ring_buffer *rb;
	uv_poll_t poll;
	uv_timer_t timer;
	int uv_open; /* uv handles not yet closed */
	bool gc_done; /* the JS external is gone */
	bool in_consume;
	napi_ref callback;
	napi_ref buffer;
	napi_async_context async;
	uint8_t *batch;
	uint32_t cap, used;
	/* counters */
	double wakeups, timer_runs, records, bytes, batches, callbacks, oversize, poll_errors;
	double timer_records;
	bool from_timer;
};

static void rb_maybe_free(struct pg_ringbuf *r)
{
	if (r->gc_done && r->uv_open == 0)
		free(r);
}

static void on_uv_closed(uv_handle_t *handle)
{
	struct pg_ringbuf *r = handle->data;

	r->uv_open--;
	rb_maybe_free(r);
}

/* Stops libuv first so the epoll fd is unregistered before libbpf closes it. */
static void rb_close(struct pg_ringbuf *r)
{
	if (r->h.closed)
		return;
	r->h.closed = true;
	uv_poll_stop(&r->poll);
	uv_timer_stop(&r->timer);
	uv_close((uv_handle_t *)&r->poll, on_uv_closed);
	uv_close((uv_handle_t *)&r->timer, on_uv_closed);
	if (!r->in_consume) {
		ring_buffer__free(r->rb);
		r->rb = NULL;
	}
	if (r->callback)
		napi_delete_reference(r->env, r->callback);
	if (r->buffer)
		napi_delete_reference(r->env, r->buffer);
	if (r->async)
		napi_async_destroy(r->env, r->async);
	r->callback = r->buffer = NULL;
	r->async = NULL;
	pg_handle_closed(PG_RINGBUF);
}

/* Hands the batch to JS; exceptions go to process 'uncaughtException'. */
static void rb_flush(struct pg_ringbuf *r)
{
	napi_env env = r->env;
	napi_value fn, buf, used, recv, result, args[2];
	napi_status s;

	if (!r->used || r->h.closed)
		return;
	r->callbacks++;
	if (napi_get_reference_value(env, r->callback, &fn) != napi_ok ||
	    napi_get_reference_value(env, r->buffer, &buf) != napi_ok ||
	    napi_create_uint32(env, r->used, &used) != napi_ok ||
	    napi_get_global(env, &recv) != napi_ok) {
		r->used = 0;
		return;
	}
	args[0] = buf;
	args[1] = used;
	r->used = 0; /* reset first: the callback may consume re-entrantly via drain() */
	s = napi_make_callback(env, r->async, recv, fn, 2, args, &result);
	if (s == napi_pending_exception) {
		napi_value err;

		if (napi_get_and_clear_last_exception(env, &err) == napi_ok)
			napi_fatal_exception(env, err);
	}
}

static int rb_record(void *ctx, void *data, size_t size)
{
	struct pg_ringbuf *r = ctx;
	uint32_t need = 4 + (uint32_t)size;
	uint8_t *p;

	if (r->h.closed)
		return -ECANCELED; /* closed from inside the callback: stop consuming */
	if (need > r->cap) {
		r->oversize++; /* counted, never silent */
		return 0;
	}
	if (r->used + need > r->cap) {
		rb_flush(r);
		if (r->h.closed)
			return -ECANCELED;
	}
	p = r->batch + r->used;
	p[0] = size & 0xff;
	p[1] = (size >> 8) & 0xff;
	p[2] = (size >> 16) & 0xff;
	p[3] = (size >> 24) & 0xff;
	memcpy(p + 4, data, size);
	r->used += need;
	r->records++;
	r->bytes += size;
	if (r->from_timer)
		r->timer_records++;
	return 0;
}

static void rb_consume(struct pg_ringbuf *r, bool from_timer)
{
	napi_handle_scope scope;
	double before = r->records;

	if (r->h.closed || r->in_consume)
		return;
	if (napi_open_handle_scope(r->env, &scope) != napi_ok)
		return;
	r->in_consume = true;
	r->from_timer = from_timer;
	ring_buffer__consume(r->rb);
	if (r->records > before)
		r->batches++;
	rb_flush(r);
	r->in_consume = false;
	if (r->h.closed && r->rb) {
		ring_buffer__free(r->rb);
		r->rb = NULL;
	}
	napi_close_handle_scope(r->env, scope);
}

static void on_poll(uv_poll_t *handle, int status, int events)
{
	struct pg_ringbuf *r = handle->data;

	(void)events;
	if (status < 0) {
		r->poll_errors++;
		return;
	}
	r->wakeups++;
	rb_consume(r, false);
}

static void on_timer(uv_timer_t *handle)
{
	struct pg_ringbuf *r = handle->data;

	r->timer_runs++;
	rb_consume(r, true);
}

static void rb_finalize(napi_env env, void *data, void *hint)
{
	struct pg_ringbuf *r = data;

	(void)env;
	(void)hint;
	rb_close(r);
	r->gc_done = true;
	rb_maybe_free(r);
}

static bool get_opt_u32(napi_env env, napi_value opts, const char *key, uint32_t *out)
{
	napi_value v;
	napi_valuetype t;
	bool has = false;

	if (napi_has_named_property(env, opts, key, &has) != napi_ok || !has)
		return true;
	if (napi_get_named_property(env, opts, key, &v) != napi_ok ||
	    napi_typeof(env, v, &t) != napi_ok)
		return false;
	if (t == napi_undefined)
		return true;
	return pg_get_u32(env, v, out, "open ring buffer", key);
}

/* ringbufOpen(mapFd, callback(buffer, usedBytes), { batchBytes, pollIntervalMs }) -> handle */
static napi_value ringbuf_open(napi_env env, napi_callback_info info)
{
	const char *op = "open ring buffer";
	napi_value argv[3], res, buf, name;
	napi_valuetype t;
	struct pg_ringbuf *r;
	uv_loop_t *loop;
	uint32_t batch_bytes = 256 * 1024, interval = 100;
	int32_t fd;
	void *data;
	int err;

	NAPI_CALL(env, pg_get_args(env, info, 3, argv));
	if (!pg_get_i32(env, argv[0], &fd, op, "map fd"))
		return NULL;
	NAPI_CALL(env, napi_typeof(env, argv[1], &t));
	if (t != napi_function)
		return pg_throw_arg(env, op, "callback must be a function");
	NAPI_CALL(env, napi_typeof(env, argv[2], &t));
	if (t == napi_object && (!get_opt_u32(env, argv[2], "batchBytes", &batch_bytes) ||
				 !get_opt_u32(env, argv[2], "pollIntervalMs", &interval)))
		return NULL;
	if (batch_bytes < 64)
		return pg_throw_arg(env, op, "batchBytes must be at least 64");
	NAPI_CALL(env, napi_get_uv_event_loop(env, &loop));

	r = calloc(1, sizeof(*r));
	if (!r)
		return pg_throw_errno(env, op, "", ENOMEM, NULL);
	r->h.kind = PG_RINGBUF;
	r->env = env;
	pg_log_start();
	r->rb = ring_buffer__new(fd, rb_record, r, NULL);
	if (!r->rb) {
		err = errno;
		free(r);
		return pg_throw_errno(env, op, "", err, pg_log_text());
	}
	if (napi_create_buffer(env, batch_bytes, &data, &buf) != napi_ok ||
	    napi_create_reference(env, buf, 1, &r->buffer) != napi_ok ||
	    napi_create_reference(env, argv[1], 1, &r->callback) != napi_ok ||
	    napi_create_string_utf8(env, "peregrine:ringbuf", NAPI_AUTO_LENGTH, &name) != napi_ok ||
	    napi_async_init(env, NULL, name, &r->async) != napi_ok)
		goto napi_fail;
	r->batch = data;
	r->cap = batch_bytes;

	err = uv_poll_init(loop, &r->poll, ring_buffer__epoll_fd(r->rb));
	if (err)
		goto uv_fail;
	r->poll.data = r;
	r->uv_open++;
	uv_timer_init(loop, &r->timer);
	r->timer.data = r;
	r->uv_open++;
	/* The safety-net timer alone must not keep the process alive. */
	uv_unref((uv_handle_t *)&r->timer);
	err = uv_poll_start(&r->poll, UV_READABLE, on_poll);
	if (!err && interval)
		err = uv_timer_start(&r->timer, on_timer, interval, interval);
	if (err)
		goto uv_fail;

	if (pg_wrap(env, PG_RINGBUF, r, rb_finalize, &res) != napi_ok)
		goto napi_fail;
	return res;

uv_fail:
	pg_handle_opened(PG_RINGBUF); /* rb_close decrements */
	rb_close(r);
	r->gc_done = true;
	rb_maybe_free(r);
	return pg_throw_errno(env, op, uv_strerror(err), -err, NULL);
napi_fail:
	pg_throw_napi(env);
	if (r->uv_open) {
		pg_handle_opened(PG_RINGBUF);
		rb_close(r);
		r->gc_done = true;
		rb_maybe_free(r);
	} else {
		ring_buffer__free(r->rb);
		if (r->callback)
			napi_delete_reference(env, r->callback);
		if (r->buffer)
			napi_delete_reference(env, r->buffer);
		if (r->async)
			napi_async_destroy(env, r->async);
		free(r);
	}
	return NULL;
}

/* ringbufDrain(handle): consume synchronously now (e.g. before close) */
static napi_value ringbuf_drain(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	struct pg_ringbuf *r;

	NAPI_CALL(env, pg_get_args(env, info, 1, argv));
	r = pg_unwrap(env, argv[0], PG_RINGBUF, "drain ring buffer");
	if (r)
		rb_consume(r, false);
	return NULL;
}

/* ringbufStats(handle) -> counters */
static napi_value ringbuf_stats(napi_env env, napi_callback_info info)
{
	napi_value argv[1], res;
	struct pg_ringbuf *r;

	NAPI_CALL(env, pg_get_args(env, info, 1, argv));
	r = pg_unwrap_any(env, argv[0], PG_RINGBUF, "read ring buffer stats");
	if (!r)
		return NULL;
	NAPI_CALL(env, napi_create_object(env, &res));
	NAPI_CALL(env, pg_set_f64(env, res, "wakeups", r->wakeups));
	NAPI_CALL(env, pg_set_f64(env, res, "timerRuns", r->timer_runs));
	NAPI_CALL(env, pg_set_f64(env, res, "records", r->records));
	NAPI_CALL(env, pg_set_f64(env, res, "timerRecords", r->timer_records));
	NAPI_CALL(env, pg_set_f64(env, res, "bytes", r->bytes));
	NAPI_CALL(env, pg_set_f64(env, res, "batches", r->batches));
	NAPI_CALL(env, pg_set_f64(env, res, "callbacks", r->callbacks));
	NAPI_CALL(env, pg_set_f64(env, res, "oversize", r->oversize));
	NAPI_CALL(env, pg_set_f64(env, res, "pollErrors", r->poll_errors));
	return res;
}

/*
 * ringbufFill(mapFd) -> { size, used } | null: bytes the kernel produced and
 * nobody consumed yet, read from the ring's consumer and producer pages,
 * mapped read-only for the call (libbpf before 1.3 has no
 * ring__avail_data_size). null when the fd is not a ring buffer map.
 */
static napi_value ringbuf_fill(napi_env env, napi_callback_info info)
{
	napi_value argv[1], res;
	struct bpf_map_info mi;
	__u32 len = sizeof(mi);
	long page = sysconf(_SC_PAGESIZE);
	unsigned long *cons = MAP_FAILED, *prod = MAP_FAILED;
	double used = -1;
	uint32_t fd;

	NAPI_CALL(env, pg_get_args(env, info, 1, argv));
	if (!pg_get_u32(env, argv[0], &fd, "read ring buffer fill", "fd"))
		return NULL;
	memset(&mi, 0, sizeof(mi));
	if (!bpf_obj_get_info_by_fd((int)fd, &mi, &len) && mi.type == BPF_MAP_TYPE_RINGBUF) {
		cons = mmap(NULL, page, PROT_READ, MAP_SHARED, (int)fd, 0);
		prod = mmap(NULL, page, PROT_READ, MAP_SHARED, (int)fd, page);
		if (cons != MAP_FAILED && prod != MAP_FAILED)
			used = (double)(__atomic_load_n(prod, __ATOMIC_ACQUIRE) -
					__atomic_load_n(cons, __ATOMIC_ACQUIRE));
		if (cons != MAP_FAILED)
			munmap(cons, page);
		if (prod != MAP_FAILED)
			munmap(prod, page);
	}
	if (used < 0) {
		NAPI_CALL(env, napi_get_null(env, &res));
		return res;
	}
	NAPI_CALL(env, napi_create_object(env, &res));
	NAPI_CALL(env, pg_set_f64(env, res, "size", mi.max_entries));
	NAPI_CALL(env, pg_set_f64(env, res, "used", used));
	return res;
}

/* ringbufClose(handle): idempotent, safe from inside the callback */
static napi_value ringbuf_close(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	struct pg_ringbuf *r;

	NAPI_CALL(env, pg_get_args(env, info, 1, argv));
	r = pg_unwrap_any(env, argv[0], PG_RINGBUF, "close ring buffer");
	if (r)
		rb_close(r);
	return NULL;
}

napi_status pg_ringbuf_init(napi_env env, napi_value exports)
{
	PG_EXPORT(env, exports, "ringbufOpen", ringbuf_open);
	PG_EXPORT(env, exports, "ringbufDrain", ringbuf_drain);
	PG_EXPORT(env, exports, "ringbufStats", ringbuf_stats);
	PG_EXPORT(env, exports, "ringbufClose", ringbuf_close);
	PG_EXPORT(env, exports, "ringbufFill", ringbuf_fill);
	return napi_ok;
}
