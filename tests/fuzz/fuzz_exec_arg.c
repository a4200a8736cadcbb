/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: an Execute's arguments (lw_exec_arg, TS 1.1 Core 6.3.5), as a
 * management server sends them in the payload. Beside memory errors, what is
 * taken must hold: the value fits the buffer, is NUL-terminated, and holds
 * only the characters the syntax allows.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/lwm2m.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char v[33];
	bool present;

	for (unsigned d = 0; d <= 9; d++) {
		memset(v, 'X', sizeof(v));
		if (lw_exec_arg(data, size, d, v, sizeof(v), &present) != 0)
			continue;
		if (!memchr(v, '\0', sizeof(v)))
			abort();
		for (const char *p = v; *p; p++)
			if (*p < 0x20 || *p > 0x7e || *p == '\'' || *p == '"' || *p == '\\')
				abort();
		if (!present && v[0])
			abort();
	}
	return 0;
}
