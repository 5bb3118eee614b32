// SPDX-License-Identifier: GPL-2.0-only
/*
 * The resident tracer's shared maps and nothing else (see tracer_maps.h): what a trace session opens when
 * the tracer is already loaded and attached on the target. Built next to each generated tracer,
 * against the same vmlinux.h.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "tracer.h"
#include "tracer_maps.h"

char LICENSE[] SEC("license") = "GPL";
