/* SPDX-License-Identifier: MIT */
/*
 * keysign: signing latency of one key store through libm2m (m2m_key_sign of a
 * SHA-256 digest), N times; prints the median, min and max in ms.
 *   keysign tpm TCTI HANDLE [N]
 *   keysign pkcs11 MODULE ID PIN-FILE [N]
 *   keysign file|machine PATH [N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "m2m/keystore.h"

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	struct m2m_key_ref ref = { .pin = { .fd = -1 } };
	struct m2m_key *k = NULL;
	struct m2m_err err = { 0 };
	unsigned char dg[32] = { 1, 2, 3 }, *sig;
	size_t siglen;
	double *t, t0, topen;
	int n = 20, nargs;

	if (argc < 3 || !m2m_key_store_parse(argv[1], &ref.store)) {
		fprintf(stderr, "usage: keysign tpm TCTI HANDLE [N] | pkcs11 MODULE ID PIN-FILE [N] | file|machine PATH [N]\n");
		return 2;
	}
	switch (ref.store) {
	case M2M_KEYSTORE_TPM:
		ref.tcti = argv[2];
		ref.handle = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 16) : 0;
		nargs = 4;
		break;
	case M2M_KEYSTORE_PKCS11:
		if (argc < 5)
			return 2;
		ref.module = argv[2];
		ref.id = argv[3];
		ref.pin.source = M2M_SECRET_FILE;
		ref.pin.path = argv[4];
		nargs = 5;
		break;
	default:
		ref.path = argv[2];
		nargs = 3;
	}
	if (argc > nargs)
		n = atoi(argv[nargs]);
	if (n < 1 || n > 100000)
		return 2;
	t = calloc((size_t)n, sizeof(*t));
	t0 = now_ms();
	if (!t || m2m_key_open(&ref, &k, &err)) {
		fprintf(stderr, "keysign: %s\n", err.msg);
		return err.rc ? err.rc : 1;
	}
	topen = now_ms() - t0;
	for (int i = 0; i < n; i++) {
		t0 = now_ms();
		if (m2m_key_sign(k, dg, sizeof(dg), &sig, &siglen, &err)) {
			fprintf(stderr, "keysign: %s\n", err.msg);
			return err.rc;
		}
		t[i] = now_ms() - t0;
		free(sig);
		dg[0]++;
	}
	qsort(t, (size_t)n, sizeof(*t), cmp);
	printf("%s sign: median %.3f ms, min %.3f, max %.3f (n=%d; open %.1f ms, first sign includes any login)\n",
	       argv[1], t[n / 2], t[0], t[n - 1], n, topen);
	m2m_key_close(k);
	free(t);
	return 0;
}
