// SPDX-License-Identifier: GPL-2.0-only
/*
 * Baseline for bench/ringbuf.bench.ts: the smallest libbpf ring buffer consumer, plus the load generator
 * both consumers share.
 *   ringbuf_consumer consume SECONDS BURST [forward]
 *                                            load ringbuf_bench.bpf.o (embedded skeleton), fork the
 *                                            generator, count records until it exits and the ring is
 *                                            drained; print one JSON line. With "forward", also frame
 *                                            every record as the helper does and write the frames to
 *                                            stdout in 1 MiB writes (the JSON then goes to stderr): the
 *                                            cost of handing records to another process, in C
 *   ringbuf_consumer generate SECONDS        call getpgid(self) in a loop for SECONDS (each call makes the
 *                                            probe emit BURST records when this process is its target)
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/types.h>
#include <bpf/libbpf.h>
#include "ringbuf_bench.h"
#include "ringbuf_bench.skel.h"

static uint64_t records, bytes;
static int forward;
static unsigned char out[(1 << 20) + 4096];
static size_t out_len;

static void flush_out(void)
{
	size_t done = 0;

	while (done < out_len) {
		ssize_t n = write(1, out + done, out_len - done);

		if (n <= 0)
			exit(3);
		done += n;
	}
	out_len = 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int generate(double seconds)
{
	double end = now() + seconds;
	pid_t self = getpid();
	uint64_t calls = 0;

	/*
	 * getpgid(0) skips the LSM hook (kernel/sys.c only checks other tasks), so name ourselves. Check the
	 * clock every 256 calls: the syscall, not the clock, should dominate.
	 */
	do {
		for (int i = 0; i < 256; i++)
			syscall(SYS_getpgid, self);
		calls += 256;
	} while (now() < end);
	fprintf(stderr, "generator: %llu getpgid calls\n", (unsigned long long)calls);
	return 0;
}

static int on_record(void *ctx, void *data, size_t size)
{
	records++;
	bytes += size;
	if (forward) {
		uint32_t len = size;
		size_t padded = (size + 7) & ~(size_t)7;

		memcpy(out + out_len, &len, 4);
		memset(out + out_len + 4, 0, 4);
		memcpy(out + out_len + 8, data, size);
		memset(out + out_len + 8 + size, 0, padded - size);
		out_len += 8 + padded;
		if (out_len >= (1 << 20))
			flush_out();
	}
	return 0;
}

static int consume(double seconds, unsigned burst)
{
	struct ringbuf_bench_bpf *skel;
	struct ring_buffer *rb;
	int go[2], status, err;
	double start, end;
	pid_t child;

	skel = ringbuf_bench_bpf__open();
	if (!skel) {
		fprintf(stderr, "open failed: %s\n", strerror(errno));
		return 1;
	}
	skel->rodata->burst = burst;
	err = ringbuf_bench_bpf__load(skel);
	if (!err)
		err = ringbuf_bench_bpf__attach(skel);
	if (err) {
		fprintf(stderr, "load/attach failed: %s\n", strerror(-err));
		return 1;
	}
	rb = ring_buffer__new(bpf_map__fd(skel->maps.bench_events), on_record, NULL, NULL);
	if (!rb || pipe(go)) {
		fprintf(stderr, "ring buffer setup failed: %s\n", strerror(errno));
		return 1;
	}
	child = fork();
	if (child == 0) {
		char c;

		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(1);
		_exit(generate(seconds));
	}
	skel->bss->generator_tgid = child;
	start = now();
	if (write(go[1], "g", 1) != 1)
		return 1;
	while (waitpid(child, &status, WNOHANG) == 0)
		ring_buffer__poll(rb, 100);
	while (ring_buffer__consume(rb) > 0)
		;
	if (forward)
		flush_out();
	end = now();
	fprintf(forward ? stderr : stdout, "{\"records\":%llu,\"bytes\":%llu,\"seconds\":%.6f,\"emitted\":%llu,\"dropped\":%llu}\n",
	       (unsigned long long)records, (unsigned long long)bytes, end - start,
	       (unsigned long long)skel->bss->emitted, (unsigned long long)skel->bss->dropped);
	ring_buffer__free(rb);
	ringbuf_bench_bpf__destroy(skel);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "generate") == 0)
		return generate(atof(argv[2]));
	if ((argc == 4 || (argc == 5 && strcmp(argv[4], "forward") == 0)) && strcmp(argv[1], "consume") == 0) {
		forward = argc == 5;
		return consume(atof(argv[2]), (unsigned)atoi(argv[3]));
	}
	fprintf(stderr, "usage: %s consume SECONDS BURST [forward] | generate SECONDS\n", argv[0]);
	return 2;
}
