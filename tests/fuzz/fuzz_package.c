/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the streaming package verifier (lib/update/verify.c) fed any
 * bytes, against a fixed trust anchor (the test root below, written to a
 * memfd once; the seed corpus is a package signed under it by
 * tests/tools/upd-pkg). Besides not crashing nor allocating beyond the
 * format's bounds (scripts/check runs it with -rss_limit_mb): the sink gets
 * nothing before the manifest is verified and never more than its size, and
 * the verdict does not depend on how the bytes are split.
 */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "update/update.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* "CN=m2m fuzz root", EC P-256, valid 2026-12-06 to 2046-12-01; its key was not kept */
static const char root_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBljCCATugAwIBAgIUXmy1DVlp4Cv7RRoguCoGR3KtH/kwCgYIKoZIzj0EAwIw\n"
	"GDEWMBQGA1UEAwwNbTJtIGZ1enogcm9vdDAeFw0yNjEyMDYxNzU3MTRaFw00NjEy\n"
	"MDExNzU3MTRaMBgxFjAUBgNVBAMMDW0ybSBmdXp6IHJvb3QwWTATBgcqhkjOPQIB\n"
	"BggqhkjOPQMBBwNCAAQK0xf8pmi7eMuX8vNM9M8ZZLcLhuBWtN2Vmj6CKm+KTk+5\n"
	"AA5ko53JM0YCL7azoIWbW3SAAgTccxMrRtTU7AMFo2MwYTAdBgNVHQ4EFgQUya4F\n"
	"7Nc13bp+ecXljb2VifAGUYcwHwYDVR0jBBgwFoAUya4F7Nc13bp+ecXljb2VifAG\n"
	"UYcwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAQYwCgYIKoZIzj0EAwID\n"
	"SQAwRgIhAKxvrqRnqVerYu9s1c8iuAOfwhGDbULeCRL1hV/Z9o6VAiEAg2uLdkQ4\n"
	"L0Jt9hVnZyiwUFrPkbwpjcttnFqhJo6ilGk=\n"
	"-----END CERTIFICATE-----\n"
	;

static char trust[64];

/* the anchor in a memfd, reached by its /proc path: nothing left behind when libFuzzer _Exit()s */
static const char *anchor(void)
{
	int fd;

	if (trust[0])
		return trust;
	fd = memfd_create("m2m-fuzz-anchor", 0);
	if (fd < 0 || write(fd, root_pem, strlen(root_pem)) != (ssize_t)strlen(root_pem))
		abort();
	snprintf(trust, sizeof(trust), "/proc/self/fd/%d", fd);
	return trust;
}

struct seen {
	struct upd_verifier *v;
	uint64_t bytes;
};

static int sink(void *ctx, const void *data, size_t len, struct m2m_err *err)
{
	struct seen *s = ctx;
	const struct upd_manifest *m = upd_verifier_manifest(s->v);

	if (!m || !*upd_verifier_signers(s->v))
		abort();
	s->bytes += len;
	if (s->bytes > m->size)
		abort();
	(void)data;
	return M2M_OK;
}

static int run(const uint8_t *data, size_t size, size_t chunk, uint64_t *sunk)
{
	static const char *const downs[] = { "1.0", NULL };
	struct upd_policy pol = {
		.trust = anchor(), .model = "pos-a", .signatures = 1, .installed = "2.0",
		.floor = "0.9", .downgrades = downs, .now = 2000000000, /* 2033-05-18 */
	};
	struct seen s = { 0 };
	struct m2m_err err;
	int rc;

	if (upd_verifier_new(&pol, sink, &s, &s.v, &err) != M2M_OK)
		abort();
	rc = M2M_OK;
	for (size_t off = 0; rc == M2M_OK && off < size; off += chunk)
		rc = upd_verifier_feed(s.v, data + off, size - off < chunk ? size - off : chunk, &err);
	if (rc == M2M_OK)
		rc = upd_verifier_end(s.v, &err);
	if (upd_verifier_offset(s.v) > size)
		abort();
	upd_verifier_free(s.v);
	*sunk = s.bytes;
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t a, b;
	int rc;

	rc = run(data, size, size ? size : 1, &a);
	/* the same verdict in small pieces (only for small inputs: it is slow) */
	if (size < 2048 && run(data, size, 13, &b) != rc)
		abort();
	return 0;
}
