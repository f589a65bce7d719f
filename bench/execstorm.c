// SPDX-License-Identifier: Apache-2.0
// Exec-storm driver: P workers each fork+execve(/bin/true)+waitpid N times; prints elapsed seconds.
//
// Usage: execstorm N [P]   (N execs per worker, P concurrent workers, default 1)
// Output (stdout, one line): "<elapsed seconds> <total execs> <failures>"
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

// Runs n fork+exec+wait cycles; returns how many failed.
static long storm(long n)
{
	char *argv[] = { "/bin/true", NULL };
	long failed = 0;
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			failed++;
			continue;
		}
		if (pid == 0) {
			execve("/bin/true", argv, environ);
			_exit(127);
		}
		int status = 0;
		if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed++;
	}
	return failed;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 20000;
	long p = argc > 2 ? atol(argv[2]) : 1;
	if (n <= 0 || p <= 0) {
		fprintf(stderr, "usage: execstorm N [P]\n");
		return 2;
	}
	double t0 = now();
	long failed = 0;
	if (p == 1) {
		failed = storm(n);
	} else {
		for (long w = 0; w < p; w++) {
			pid_t pid = fork();
			if (pid == 0)
				_exit(storm(n) > 0 ? 1 : 0);
			if (pid < 0)
				failed += n;
		}
		int status;
		pid_t pid;
		while ((pid = wait(&status)) > 0)
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				failed++; // a worker with failures (counted once per worker)
	}
	double elapsed = now() - t0;
	printf("%.6f %ld %ld\n", elapsed, n * p, failed);
	return failed > 0 ? 1 : 0;
}
