// SPDX-License-Identifier: Apache-2.0
// JS errors { op, name, errno, code, log } and capture of libbpf's log output.
#include "peregrine.h"

#include <bpf/libbpf.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * libbpf reports why a load failed (including the verifier log) only through
 * its print callback, so every operation that may fail resets this buffer and
 * the error thrown afterwards carries what libbpf printed meanwhile.
 */
static char *log_buf;
static size_t log_len, log_cap;
static bool log_echo; /* PEREGRINE_LIBBPF_DEBUG=1 also echoes to stderr */

/* Makes room for n more bytes and a NUL; false when memory is short. */
static bool log_reserve(size_t n)
{
	size_t cap = log_cap ? log_cap : 4096;
	char *p;

	if (log_len + n + 1 <= log_cap)
		return true;
	while (cap < log_len + n + 1)
		cap *= 2;
	p = realloc(log_buf, cap);
	if (!p)
		return false;
	log_buf = p;
	log_cap = cap;
	return true;
}

static int pg_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	va_list copy;
	int n;

	if (log_echo) {
		va_copy(copy, args);
		vfprintf(stderr, fmt, copy);
		va_end(copy);
	}
	if (level == LIBBPF_DEBUG)
		return 0;
	va_copy(copy, args);
	n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n <= 0 || !log_reserve(n))
		return 0;
	vsnprintf(log_buf + log_len, n + 1, fmt, args);
	log_len += n;
	return 0;
}

void pg_log_init(void)
{
	const char *dbg = getenv("PEREGRINE_LIBBPF_DEBUG");

	log_echo = dbg && dbg[0] == '1';
	libbpf_set_print(pg_libbpf_print);
}

void pg_log_start(void)
{
	/* Do not keep a multi-megabyte verifier log alive between operations. */
	if (log_cap > (1 << 20)) {
		free(log_buf);
		log_buf = NULL;
		log_cap = 0;
	}
	log_len = 0;
	if (log_buf)
		log_buf[0] = '\0';
}

const char *pg_log_text(void)
{
	return log_buf ? log_buf : "";
}

void pg_log_append(const char *text)
{
	size_t n = strlen(text);

	if (!n || !log_reserve(n))
		return;
	memcpy(log_buf + log_len, text, n + 1);
	log_len += n;
}

static const char *errno_code(int err, char *tmp, size_t len)
{
	const char *name;

	switch (err) {
	case 524:
		return "ENOTSUPP"; /* kernel-internal, leaks out of bpf() */
	case 4000 ... 4099:
		snprintf(tmp, len, "LIBBPF_E%d", err);
		return tmp;
	}
	name = strerrorname_np(err);
	if (name)
		return name;
	snprintf(tmp, len, "E%d", err);
	return tmp;
}

static void errno_text(int err, char *buf, size_t len)
{
	if (err == 524)
		snprintf(buf, len, "operation not supported");
	else
		libbpf_strerror(err, buf, len);
	/* Messages are lowercase phrases: "Permission denied" -> "permission denied". */
	if (buf[0])
		buf[0] = (char)tolower((unsigned char)buf[0]);
}

static napi_value make_error(napi_env env, const char *op, const char *name, int err,
			     const char *extra)
{
	char code_tmp[32], text[256], msg[1024];
	const char *code;
	napi_value js_msg, js_code, error;

	if (err < 0)
		err = -err;
	code = errno_code(err, code_tmp, sizeof(code_tmp));
	errno_text(err, text, sizeof(text));
	snprintf(msg, sizeof(msg), "%s%s%s: %s (%s)%s%s", op, name && name[0] ? " " : "",
		 name ? name : "", text, code, extra ? ": " : "", extra ? extra : "");
	if (napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &js_msg) != napi_ok ||
	    napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &js_code) != napi_ok ||
	    napi_create_error(env, js_code, js_msg, &error) != napi_ok)
		return NULL;
	pg_set_str(env, error, "op", op);
	pg_set_str(env, error, "name", name);
	pg_set_i32(env, error, "errno", err);
	return error;
}

napi_value pg_throw_errno(napi_env env, const char *op, const char *name, int err, const char *log)
{
	napi_value error = make_error(env, op, name, err, NULL);

	if (!error)
		return NULL;
	if (log && log[0])
		pg_set_str(env, error, "log", log);
	napi_throw(env, error);
	return NULL;
}

/* Copies [start, end) out of the captured log; caller frees. */
static char *log_slice(const char *start, const char *end)
{
	char *s = malloc(end - start + 1);

	if (s) {
		memcpy(s, start, end - start);
		s[end - start] = '\0';
	}
	return s;
}

/*
 * libbpf 1.x prints "prog 'NAME': BPF program load failed: ..." followed by
 * "prog 'NAME': -- BEGIN PROG LOAD LOG --\n<log>-- END PROG LOAD LOG --".
 * Returns NAME from the first line holding `marker` right after it.
 */
static char *log_program(const char *text, const char *marker)
{
	const char *q = strstr(text, marker);
	const char *p;

	for (p = text; q && (p = strstr(p, "prog '")); p++) {
		const char *n = p + strlen("prog '");

		if (n <= q && !memchr(n, '\'', q - n) && !memchr(n, '\n', q - n))
			return log_slice(n, q);
	}
	return NULL;
}

char *pg_log_failed_program(void)
{
	return log_program(pg_log_text(), "': BPF program load failed");
}

napi_value pg_throw_load(napi_env env, const char *op, const char *name, int err)
{
	const char *text = pg_log_text();
	const char *begin = strstr(text, "-- BEGIN PROG LOAD LOG --");
	const char *q;
	char *prog, *vlog = NULL;
	napi_value error;

	/* Prefer the program named on the failure line over earlier warnings. */
	prog = pg_log_failed_program();
	if (!prog)
		prog = log_program(text, "': failed to");
	if (begin) {
		begin = strchr(begin, '\n');
		if (begin) {
			begin++;
			q = strstr(begin, "-- END PROG LOAD LOG --");
			vlog = log_slice(begin, q ? q : begin + strlen(begin));
		}
	}
	error = make_error(env, op, name, err, NULL);
	if (error) {
		if (prog)
			pg_set_str(env, error, "program", prog);
		pg_set_str(env, error, "log", vlog ? vlog : text);
		pg_set_str(env, error, "libbpfLog", text);
		napi_throw(env, error);
	}
	free(prog);
	free(vlog);
	return NULL;
}

napi_value pg_throw_arg(napi_env env, const char *op, const char *what)
{
	char msg[512];
	napi_value js_msg, js_code, error;

	snprintf(msg, sizeof(msg), "%s: invalid argument: %s", op, what);
	if (napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &js_msg) != napi_ok ||
	    napi_create_string_utf8(env, "EINVAL", NAPI_AUTO_LENGTH, &js_code) != napi_ok ||
	    napi_create_type_error(env, js_code, js_msg, &error) != napi_ok)
		return NULL;
	pg_set_str(env, error, "op", op);
	pg_set_str(env, error, "name", what);
	pg_set_i32(env, error, "errno", EINVAL);
	napi_throw(env, error);
	return NULL;
}

void pg_throw_napi(napi_env env)
{
	bool pending = false;
	const napi_extended_error_info *info = NULL;

	if (napi_is_exception_pending(env, &pending) == napi_ok && pending)
		return;
	napi_get_last_error_info(env, &info);
	napi_throw_error(env, "ENAPI",
			 info && info->error_message ? info->error_message
						     : "node-api call failed");
}
