// SPDX-License-Identifier: Apache-2.0
// Connect storm driver: a listener on 127.0.0.1 that accepts and closes, and a client that connects+closes N times; prints elapsed seconds.
//
// Usage: connectstorm PORT N
// The listener is a forked child (accept+close loop); only the client loop is timed.
// Output (stdout, one line): "<elapsed seconds> <connects> <failures>"
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
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
	int port = argc > 1 ? atoi(argv[1]) : 0;
	long n = argc > 2 ? atol(argv[2]) : 0;
	if (port <= 0 || port > 65535 || n <= 0) {
		fprintf(stderr, "usage: connectstorm PORT N\n");
		return 2;
	}
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(ls, 4096) < 0) {
		perror("listen");
		return 2;
	}
	pid_t srv = fork();
	if (srv == 0) {
		for (;;) {
			int c = accept(ls, NULL, NULL);
			if (c >= 0)
				close(c);
		}
	}
	close(ls);
	long failed = 0;
	double t0 = now();
	for (long i = 0; i < n; i++) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (s < 0) {
			failed++;
			continue;
		}
		// SO_LINGER 0: close with RST, so N connects do not leave N sockets in TIME_WAIT (port exhaustion).
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0)
			failed++;
		close(s);
	}
	double elapsed = now() - t0;
	kill(srv, SIGKILL);
	waitpid(srv, NULL, 0);
	printf("%.6f %ld %ld\n", elapsed, n, failed);
	return failed > 0 ? 1 : 0;
}
