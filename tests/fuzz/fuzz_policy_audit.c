/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the policy audit log's record parser (lib/policy/audit.c), on what a
 * disk may hold after a power cut or a person's edit. Each input is one record's
 * text, given with its exact length (no NUL after it: ASan sees a read past it).
 * Besides not crashing, what it accepts is what the format promises: a seq of 1
 * or more, a hash of 64 lower-case hex digits, strings that end inside their fields.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "m2m/policy.h"
#include "policy/policy_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	struct pol_audit_rec r;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	if (pol_audit_parse(buf, size, &r)) {
		if (r.seq == 0 || strnlen(r.prev, sizeof(r.prev)) != 64 ||
		    strspn(r.prev, "0123456789abcdef") != 64 ||
		    strnlen(r.event, sizeof(r.event)) == sizeof(r.event) ||
		    strnlen(r.policy, sizeof(r.policy)) == sizeof(r.policy) ||
		    strnlen(r.detail, sizeof(r.detail)) == sizeof(r.detail) || r.time < 0)
			abort();
	}
	free(buf);
	return 0;
}
