// SPDX-License-Identifier: MIT
// Syscall-heavy workload for bench/trace.bench.ts and bench/profile.bench.ts: N rounds of open/read/close on
// one file. It times its own loop (CLOCK_MONOTONIC, and the process's CPU time: user + system, which load
// on the machine disturbs less than wall time), so traced, untraced and strace'd runs are compared on the loop alone, without
// exec, the loader or the tracer's spawn/resume steps. Prints one JSON line on stdout.
// Built on the host with cc -O2 -static, so it runs in the VM's busybox image without a libc there.
// `trace_loop --spin N` runs N rounds of arithmetic without a syscall instead: the same guest CPU's speed
// at that moment (a shared host slows TCG's vCPUs), which the benchmarks divide the loop's time by.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int spin(long n)
{
	struct timespec t0, t1;
	volatile unsigned long x = 1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < n; i++)
		x = x * 6364136223846793005UL + 1442695040888963407UL;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("{\"iterations\":%ld,\"bytes\":0,\"ns\":%lld,\"cpu_ns\":0}\n", n,
	       (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--spin") == 0)
		return spin(strtol(argv[2], NULL, 10));
	if (argc < 3) {
		fprintf(stderr, "usage: %s ITERATIONS FILE\n", argv[0]);
		return 2;
	}
	long n = strtol(argv[1], NULL, 10);
	const char *path = argv[2];
	char buf[64];
	long bytes = 0;
	struct timespec t0, t1, c0, c1;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < n; i++) {
		int fd = open(path, O_RDONLY);
		if (fd < 0) {
			perror(path);
			return 1;
		}
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r > 0)
			bytes += r;
		close(fd);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
	long long ns = (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
	long long cpu_ns = (c1.tv_sec - c0.tv_sec) * 1000000000LL + (c1.tv_nsec - c0.tv_nsec);
	printf("{\"iterations\":%ld,\"bytes\":%ld,\"ns\":%lld,\"cpu_ns\":%lld}\n", n, bytes, ns, cpu_ns);
	return 0;
}
