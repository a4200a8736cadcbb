/* SPDX-License-Identifier: MIT */
/*
 * The arguments of an Execute (LwM2M TS 1.1 Core 6.3.5; 1.0's 5.4.5), plain
 * text in the request's payload:
 *   arglist = arg *( "," arg )
 *   arg     = DIGIT / DIGIT "=" "'" *CHAR "'"
 *   CHAR    = "!" / %x23-26 / %x28-5B / %x5D-7E
 * CHAR has no space, but the specification's own example has one
 * ("7, 0=' https://...'"), so a space is taken after a comma and inside a
 * value. Each digit at most once. Everything else is refused.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lwm2m/lwm2m.h"

static bool arg_char(uint8_t c)
{
	return c == ' ' || c == '!' || (c >= 0x23 && c <= 0x26) || (c >= 0x28 && c <= 0x5b) ||
	       (c >= 0x5d && c <= 0x7e);
}

int lw_exec_arg(const uint8_t *p, size_t len, unsigned digit, char *out, size_t outlen,
		bool *present)
{
	bool seen[10] = { false };
	size_t i = 0;

	*present = false;
	if (outlen)
		out[0] = '\0';
	if (!p)
		len = 0;
	while (i < len) {
		unsigned d;
		size_t v, n;

		if (i > 0) {
			if (p[i] != ',')
				return LW_BAD_REQUEST;
			i++;
			while (i < len && p[i] == ' ')
				i++;
		}
		if (i >= len || p[i] < '0' || p[i] > '9')
			return LW_BAD_REQUEST;
		d = (unsigned)(p[i++] - '0');
		if (seen[d])
			return LW_BAD_REQUEST;
		seen[d] = true;
		if (i < len && p[i] == '=') {
			if (++i >= len || p[i] != '\'')
				return LW_BAD_REQUEST;
			v = ++i;
			while (i < len && p[i] != '\'') {
				if (!arg_char(p[i]))
					return LW_BAD_REQUEST;
				i++;
			}
			if (i >= len)
				return LW_BAD_REQUEST; /* no closing quote */
			n = i - v;
			i++;
			if (d == digit) {
				if (n >= outlen)
					return LW_BAD_REQUEST; /* longer than the caller takes */
				for (size_t k = 0; k < n; k++)
					out[k] = (char)p[v + k];
				out[n] = '\0';
			}
		}
		if (d == digit)
			*present = true;
	}
	return 0;
}
