/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the machine-bound key file parser: a key file copied
 * around, truncated or tampered with. Checks besides memory safety: a
 * failure is M2M_ERR_CREDENTIAL (or out of memory) with a one-line message
 * and no ciphertext left; success gives a header length inside the input
 * and a ciphertext long enough to hold the tag.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keystore/ks_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ks_machine_file mf;
	struct m2m_err err = { 0 };
	char *buf = malloc(size + 1);
	int rc;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	rc = ks_machine_parse(buf, &mf, "fuzz.bound", &err);
	if (rc) {
		if ((rc != M2M_ERR_CREDENTIAL && rc != M2M_ERR_FAILURE) || mf.ct || strchr(err.msg, '\n'))
			abort();
	} else {
		if (!mf.ct || mf.ctlen < 17 || mf.hlen > size || !memchr(mf.names, '\0', sizeof(mf.names)))
			abort();
	}
	free(mf.ct);
	free(buf);
	return 0;
}
