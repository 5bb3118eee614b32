/* SPDX-License-Identifier: GPL-2.0-only */
/* Records of helper_test.bpf.c; user space decodes them from the object's BTF (see the anchor there). */
#ifndef HELPER_TEST_H
#define HELPER_TEST_H

enum helper_test_hook {
	HELPER_TEST_FILE_OPEN = 1,
	HELPER_TEST_BPRM_CHECK = 2,
};

struct helper_test_event {
	__u64 cookie;
	__u64 seq;
	__u32 tgid;
	__u32 hook;
	char comm[16];
};

struct helper_test_watch {
	__u64 hits;
	__u32 deny;
	__u32 flags;
};

#endif
