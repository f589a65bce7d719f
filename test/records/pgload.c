// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Test helper until the Node addon exists: loads build/bpf/process.bpf.o with
 * libbpf, attaches the tracepoints, optionally runs the seeding task
 * iterator, runs CMD, drains pg_events and prints every record as one line.
 *
 *   cc -O2 -Wall -I bpf/include -o build/pgload test/records/pgload.c -lbpf
 *   build/pgload [-i] [-w BYTES] OBJ [CMD ARGS...]
 *
 * -i: read handle_task_iter and print its PG_REC_PROC records first.
 * -w: set wakeup_bytes. Exit status: CMD's, or 2 on load/attach failure.
 */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "events.h"

static int print_fn(enum libbpf_print_level lvl, const char *fmt, va_list ap)
{
	if (lvl == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static void put_bytes(const char *label, const char *p, unsigned len)
{
	printf(" %s=\"", label);
	for (unsigned i = 0; i < len; i++) {
		unsigned char c = p[i];
		if (c == 0)
			putchar(' ');
		else if (c < 32 || c > 126 || c == '"')
			printf("\\x%02x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static int print_record(void *ctx, void *data, size_t size)
{
	const struct pg_header *h = data;
	(void)ctx;

	if (size < sizeof(*h) || h->size != size) {
		printf("BAD size=%zu hdr.size=%u\n", size, size >= sizeof(*h) ? h->size : 0);
		return 0;
	}
	switch (h->type) {
	case PG_REC_EXEC:
	case PG_REC_PROC: {
		const struct pg_exec_event *e = data;
		const char *d = e->data;
		unsigned total =
			sizeof(*e) + e->path_len + e->args_len + e->cwd_len + e->cgroup_len;

		printf("%s pid=%u tid=%u ppid=%u nspid=%u key=%u/%llu parent=%u/%llu prev=%u/%llu "
		       "uid=%u euid=%u "
		       "gid=%u egid=%u auid=%u ses=%u capeff=%llx flags=%#x ino=%llu mode=%o "
		       "cg=%llu ns_pid=%u "
		       "ns_mnt=%u ns_net=%u ns_user=%u tty=\"%s\" comm=\"%.16s\" "
		       "lens=%u/%u/%u/%u%s",
		       h->type == PG_REC_EXEC ? "EXEC" : "PROC", e->pid, e->tid, e->ppid, e->nspid,
		       e->key.pid, (unsigned long long)e->key.ktime, e->parent.pid,
		       (unsigned long long)e->parent.ktime, e->prev.pid,
		       (unsigned long long)e->prev.ktime, e->uid, e->euid, e->gid, e->egid,
		       e->loginuid, e->sessionid, (unsigned long long)e->cap_effective, e->flags,
		       (unsigned long long)e->exe_ino, e->exe_mode,
		       (unsigned long long)e->cgroup_id, e->ns_pid, e->ns_mnt, e->ns_net,
		       e->ns_user, e->tty, e->comm, e->path_len, e->args_len, e->cwd_len,
		       e->cgroup_len, total == h->size ? "" : " SIZE-MISMATCH");
		put_bytes("path", d, e->path_len);
		put_bytes("args", d + e->path_len, e->args_len);
		put_bytes("cwd", d + e->path_len + e->args_len, e->cwd_len);
		put_bytes("cgroup", d + e->path_len + e->args_len + e->cwd_len, e->cgroup_len);
		putchar('\n');
		break;
	}
	case PG_REC_FORK: {
		const struct pg_fork_event *e = data;
		printf("FORK pid=%u tid=%u ppid=%u key=%u/%llu parent=%u/%llu flags=%#x\n", e->pid,
		       e->tid, e->ppid, e->key.pid, (unsigned long long)e->key.ktime, e->parent.pid,
		       (unsigned long long)e->parent.ktime, e->flags);
		break;
	}
	case PG_REC_EXIT: {
		const struct pg_exit_event *e = data;
		printf("EXIT pid=%u tid=%u key=%u/%llu code=%#x flags=%#x\n", e->pid, e->tid,
		       e->key.pid, (unsigned long long)e->key.ktime, e->exit_code, e->flags);
		break;
	}
	default:
		printf("UNKNOWN type=%u size=%u\n", h->type, h->size);
	}
	return 0;
}

static void run_iter(struct bpf_program *prog)
{
	static char buf[1 << 16];
	struct bpf_link *link = bpf_program__attach_iter(prog, NULL);
	size_t have = 0;
	ssize_t n;
	int fd;

	if (!link) {
		fprintf(stderr, "attach iter: %s\n", strerror(errno));
		exit(2);
	}
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0) {
		fprintf(stderr, "iter create: %s\n", strerror(errno));
		exit(2);
	}
	/* Records are written whole per task; a read may end mid-record, so carry the tail over. */
	while ((n = read(fd, buf + have, sizeof(buf) - have)) > 0) {
		size_t off = 0;
		have += n;
		while (have - off >= sizeof(struct pg_header)) {
			const struct pg_header *h = (const void *)(buf + off);
			if (h->size < sizeof(*h) || h->size > have - off)
				break;
			print_record(NULL, buf + off, h->size);
			off += h->size; /* bpf_seq_write() packs records back to back */
		}
		memmove(buf, buf + off, have - off);
		have -= off;
	}
	if (n < 0)
		fprintf(stderr, "iter read: %s\n", strerror(errno));
	close(fd);
	bpf_link__destroy(link);
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct ring_buffer *rb;
	struct bpf_link *links[8];
	int nlinks = 0, status = 0, opt, iter = 0;
	unsigned long long wakeup = 0;

	while ((opt = getopt(argc, argv, "+iw:")) != -1) {
		if (opt == 'i')
			iter = 1;
		else if (opt == 'w')
			wakeup = strtoull(optarg, NULL, 0);
		else
			return 2;
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: %s [-i] [-w BYTES] OBJ [CMD ARGS...]\n", argv[0]);
		return 2;
	}
	libbpf_set_print(print_fn);
	obj = bpf_object__open_file(argv[optind], NULL);
	if (!obj) {
		fprintf(stderr, "open: %s\n", strerror(errno));
		return 2;
	}
	{
		struct bpf_map *rodata = bpf_object__find_map_by_name(obj, ".rodata");
		size_t sz;
		if (rodata) {
			/* Patch wakeup_bytes and self_tgid via the skeleton-less initial value. */
			char *v = bpf_map__initial_value(rodata, &sz);
			struct btf *btf = bpf_object__btf(obj);
			int id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
			const struct btf_type *sec = btf__type_by_id(btf, id);
			const struct btf_var_secinfo *vs = btf_var_secinfos(sec);
			for (int i = 0; i < btf_vlen(sec); i++, vs++) {
				const char *name = btf__name_by_offset(
					btf, btf__type_by_id(btf, vs->type)->name_off);
				if (!strcmp(name, "wakeup_bytes"))
					memcpy(v + vs->offset, &wakeup, 8);
				else if (!strcmp(name, "self_tgid")) {
					unsigned self = getpid();
					memcpy(v + vs->offset, &self, 4);
				}
			}
		}
	}
	if (bpf_object__load(obj)) {
		fprintf(stderr, "load failed\n");
		return 2;
	}
	bpf_object__for_each_program(prog, obj)
	{
		if (bpf_program__type(prog) == BPF_PROG_TYPE_TRACING &&
		    bpf_program__expected_attach_type(prog) == BPF_TRACE_ITER)
			continue;
		links[nlinks] = bpf_program__attach(prog);
		if (!links[nlinks]) {
			fprintf(stderr, "attach %s: %s\n", bpf_program__name(prog),
				strerror(errno));
			return 2;
		}
		nlinks++;
	}
	rb = ring_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(obj, "pg_events")),
			      print_record, NULL, NULL);
	if (!rb)
		return 2;
	if (iter)
		run_iter(bpf_object__find_program_by_name(obj, "handle_task_iter"));
	fflush(stdout);
	if (optind + 1 < argc) {
		pid_t pid = fork();
		if (pid == 0) {
			execvp(argv[optind + 1], argv + optind + 1);
			perror("execvp");
			_exit(127);
		}
		while (waitpid(pid, &status, WNOHANG) == 0)
			ring_buffer__poll(rb, 50);
		status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	}
	usleep(100000);
	ring_buffer__consume(rb);
	{
		int fd = bpf_map__fd(bpf_object__find_map_by_name(obj, "pg_stats"));
		int ncpu = libbpf_num_possible_cpus();
		__u64 *vals = calloc(ncpu, sizeof(__u64));
		printf("STATS");
		for (__u32 k = 0; k < 16; k++) {
			__u64 sum = 0;
			if (bpf_map_lookup_elem(fd, &k, vals) == 0)
				for (int c = 0; c < ncpu; c++)
					sum += vals[c];
			printf(" %u=%llu", k, (unsigned long long)sum);
		}
		printf("\n");
		free(vals);
	}
	ring_buffer__free(rb);
	for (int i = 0; i < nlinks; i++)
		bpf_link__destroy(links[i]);
	bpf_object__close(obj);
	return status;
}
