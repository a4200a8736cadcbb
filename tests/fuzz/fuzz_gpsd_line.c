/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: one line from whatever answers on gpsd's port, as the policy's
 * position input reads it (lib/policy/gpsd.c, pol_gpsd_line): another gpsd
 * release, a half-written line, something that is not gpsd, must never crash
 * the reader or make it read past the line; a fix it accepts is a fix
 * (mode 2 or 3, latitude and longitude in range, eph absent or not negative).
 * The input is handed over as it is, not NUL-terminated: ASan sees any read
 * past it.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pol_fix f;
	int r;

	memset(&f, 0xa5, sizeof(f));
	r = pol_gpsd_line((const char *)data, size, &f);
	if (r < -1 || r > 1)
		abort();
	if (r == 1 && (f.mode < 2 || f.mode > 3 || !(f.lat >= -90 && f.lat <= 90) ||
		       !(f.lon >= -180 && f.lon <= 180) || (!isnan(f.eph) && !(f.eph >= 0)) || f.time < 0))
		abort();
	return 0;
}
