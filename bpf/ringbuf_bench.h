/* SPDX-License-Identifier: GPL-2.0-only */
/* Record of ringbuf_bench.bpf.c: 64 bytes, about the size of a tracer event. */
#ifndef RINGBUF_BENCH_H
#define RINGBUF_BENCH_H

struct ringbuf_bench_record {
	__u64 seq;
	__u32 tgid;
	__u32 cpu;
	__u64 ktime;
	__u8 payload[40];
};

#endif
