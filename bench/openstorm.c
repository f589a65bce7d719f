// SPDX-License-Identifier: Apache-2.0
// Open storm driver: openat(O_WRONLY|O_CREAT)+close (or O_RDONLY) over F files in a directory, N times; prints elapsed seconds.
//
// Usage: openstorm DIR N [F] [r|w]   (N opens in all, round-robin over F files DIR/f0..f{F-1}, default 100;
//                                    w = O_WRONLY|O_CREAT (default), r = O_RDONLY; the files are created first, untimed)
// Output (stdout, one line): "<elapsed seconds> <opens> <failures>"
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: openstorm DIR N [F] [r|w]\n");
		return 2;
	}
	const char *dir = argv[1];
	long n = atol(argv[2]);
	long f = argc > 3 ? atol(argv[3]) : 100;
	int flags = (argc > 4 && argv[4][0] == 'r') ? O_RDONLY : (O_WRONLY | O_CREAT);
	if (n <= 0 || f <= 0 || strlen(dir) > 3900) {
		fprintf(stderr, "usage: openstorm DIR N [F] [r|w]\n");
		return 2;
	}
	char(*names)[4096] = malloc((size_t)f * 4096);
	if (names == NULL)
		return 2;
	for (long i = 0; i < f; i++) {
		snprintf(names[i], 4096, "%s/f%ld", dir, i);
		int fd = open(names[i], O_WRONLY | O_CREAT, 0644);
		if (fd < 0) {
			perror(names[i]);
			return 2;
		}
		close(fd);
	}
	long failed = 0;
	double t0 = now();
	for (long i = 0; i < n; i++) {
		int fd = openat(AT_FDCWD, names[i % f], flags, 0644);
		if (fd < 0)
			failed++;
		else
			close(fd);
	}
	double elapsed = now() - t0;
	printf("%.6f %ld %ld\n", elapsed, n, failed);
	return failed > 0 ? 1 : 0;
}
