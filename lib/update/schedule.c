/* SPDX-License-Identifier: MIT */
/*
 * The jitter of a check run (schedule.h): a per-device offset in a window.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>

#include "m2m/config.h"
#include "m2m/update.h"
#include "update/schedule.h"

unsigned upd_schedule_delay_ms(unsigned window_ms, uint64_t r)
{
	/* multiply and shift, not a modulo: uniform, and no 128-bit type (32-bit ARM) */
	return (unsigned)(((r >> 32) * (uint64_t)window_ms) >> 32);
}

int upd_schedule_value(const char *device_id, uint64_t *r, struct m2m_err *err)
{
	static const char tag[] = "m2m-update-check:";
	unsigned char md[EVP_MAX_MD_SIZE];
	uint8_t b[8];
	EVP_MD_CTX *h;
	bool ok;

	*r = 0;
	if (device_id && *device_id) {
		h = EVP_MD_CTX_new();
		ok = h && EVP_DigestInit_ex(h, EVP_sha256(), NULL) &&
		     EVP_DigestUpdate(h, tag, sizeof(tag) - 1) &&
		     EVP_DigestUpdate(h, device_id, strlen(device_id)) &&
		     EVP_DigestFinal_ex(h, md, NULL);
		EVP_MD_CTX_free(h);
		if (!ok)
			return m2m_err_set(err, M2M_ERR_FAILURE, "jitter: SHA-256 failed");
		memcpy(b, md, sizeof(b));
	} else {
		for (;;) {
			ssize_t n = getrandom(b, sizeof(b), 0);

			if (n == (ssize_t)sizeof(b))
				break;
			if (n < 0 && errno == EINTR)
				continue;
			return m2m_err_set(err, M2M_ERR_FAILURE, "jitter: getrandom: %s",
					   n < 0 ? strerror(errno) : "short read");
		}
	}
	for (size_t i = 0; i < sizeof(b); i++)
		*r = *r << 8 | b[i];
	return M2M_OK;
}

unsigned m2m_update_check_delay_ms(const struct m2m_config *cfg, unsigned bound_ms)
{
	struct m2m_err err = { 0 };
	unsigned window;
	uint64_t r;

	if (!cfg->update)
		return 0;
	window = cfg->update->jitter_ms;
	if (window > bound_ms / 4)
		window = bound_ms / 4;
	if (!window || upd_schedule_value(cfg->device.id, &r, &err) != M2M_OK)
		return 0;
	return upd_schedule_delay_ms(window, r);
}
