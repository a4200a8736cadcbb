/* SPDX-License-Identifier: MIT */
/*
 * What libm2m last loaded into charon for a profile: a digest of every input
 * (profile fields, and identity and change time of each credential file) and
 * the certificate's validity window. When charon still holds the connection
 * and nothing changed, "up" goes straight to initiate: no key is decrypted,
 * no PIN is read, no credential crosses the socket again. The validity
 * window is kept so an expired certificate is still reported as a clock
 * problem without parsing it. Kept in the state directory as
 * vpn-<profile>.loaded (lib/state: atomic, a damaged one set aside).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "state/state.h"
#include "vpn/vpn_int.h"

/* FNV-1a: a change detector for files in a root-only directory, not a MAC */
static void mix(uint64_t *h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		*h ^= p[i];
		*h *= 0x100000001b3ULL;
	}
}

static void mix_str(uint64_t *h, const char *s)
{
	mix(h, s ? s : "\x01", s ? strlen(s) + 1 : 1);
}

static void mix_list(uint64_t *h, char **l)
{
	for (char **i = l; i && *i; i++)
		mix_str(h, *i);
	mix(h, "\x02", 1);
}

static void mix_file(uint64_t *h, const char *path)
{
	struct stat st;

	mix_str(h, path);
	if (!path || stat(path, &st) < 0) {
		mix(h, "\x03", 1);
		return;
	}
	mix(h, &st.st_dev, sizeof(st.st_dev));
	mix(h, &st.st_ino, sizeof(st.st_ino));
	mix(h, &st.st_size, sizeof(st.st_size));
	mix(h, &st.st_mtim, sizeof(st.st_mtim));
	mix(h, &st.st_ctim, sizeof(st.st_ctim));
}

uint64_t vpn_profile_digest(const struct m2m_config *cfg, const struct m2m_vpn_profile *p)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	unsigned v[8] = { p->auth, p->virtual_ip, p->mode, p->mobike, p->dpd_delay_ms,
			  p->rekey_ms, p->pin.source, (unsigned)p->pin.fd };

	mix_str(&h, "m2m-vpn-1");
	mix_str(&h, p->name);
	mix_list(&h, p->gateways);
	mix_str(&h, p->remote_id);
	mix_str(&h, p->local_id ? p->local_id : cfg->device.id);
	mix(&h, v, sizeof(v));
	mix_file(&h, p->cert);
	mix_file(&h, p->key);
	mix_file(&h, p->pkcs12);
	mix_str(&h, p->pin.path);
	/* the key stores and EAP */
	mix_str(&h, p->module);
	mix_str(&h, p->token);
	mix_str(&h, p->key_id);
	mix_str(&h, p->tcti);
	mix(&h, &p->handle, sizeof(p->handle));
	mix_str(&h, p->eap_id);
	mix(&h, &p->password.source, sizeof(p->password.source));
	mix(&h, &p->password.fd, sizeof(p->password.fd));
	mix_str(&h, p->password.path);
	for (char **c = p->ca; c && *c; c++)
		mix_file(&h, *c);
	mix_list(&h, p->proposals);
	mix_list(&h, p->esp_proposals);
	mix_list(&h, p->local_ts);
	mix_list(&h, p->remote_ts);
	return h;
}

static void name_of(const char *profile, char *buf, size_t len)
{
	char name[64];

	snprintf(name, sizeof(name), "%s.loaded", profile);
	snprintf(buf, len, "vpn-%s", name);
}

void vpn_loaded_save(const struct m2m_config *cfg, const struct m2m_vpn_profile *p,
		     const struct vpn_creds *c)
{
	struct m2m_state st;
	char name[NAME_MAX + 1], buf[128];
	int n;

	name_of(p->name, name, sizeof(name));
	n = snprintf(buf, sizeof(buf), "%016llx %lld %lld\n",
		     (unsigned long long)vpn_profile_digest(cfg, p), (long long)c->not_before,
		     (long long)c->not_after);
	if (n <= 0 || (size_t)n >= sizeof(buf) || m2m_state_open(&st, vpn_state_dir(cfg), NULL))
		return;
	m2m_state_write(&st, name, buf, (size_t)n, NULL);
	m2m_state_close(&st);
}

void vpn_loaded_forget(const struct m2m_config *cfg, const char *profile)
{
	struct m2m_state st;
	char name[NAME_MAX + 1];

	if (m2m_state_open_existing(&st, vpn_state_dir(cfg), NULL))
		return;
	name_of(profile, name, sizeof(name));
	m2m_state_remove(&st, name, NULL);
	m2m_state_close(&st);
}

/* "<digest> <not before> <not after>", as vpn_loaded_save writes it */
static int check_loaded(const char *buf, size_t len, void *ctx, struct m2m_err *err)
{
	unsigned long long digest;
	long long nb, na;
	int used = 0;

	(void)ctx;
	(void)len;
	if (sscanf(buf, "%16llx %lld %lld%n", &digest, &nb, &na, &used) != 3 ||
	    (buf[used] != '\n' && buf[used] != '\0'))
		return m2m_err_set(err, M2M_ERR_FAILURE, "not a digest and a validity window");
	return M2M_OK;
}

/*
 * A damaged record is set aside and counts as no record: the credentials are
 * loaded again, as after any change (nothing to log: "up" goes on the long way).
 */
bool vpn_loaded_match(const struct m2m_config *cfg, const struct m2m_vpn_profile *p,
		      time_t *not_before, time_t *not_after)
{
	struct m2m_state st;
	char name[NAME_MAX + 1], *buf = NULL;
	unsigned long long digest;
	long long nb, na;
	bool ok;

	if (m2m_state_open_existing(&st, vpn_state_dir(cfg), NULL))
		return false;
	name_of(p->name, name, sizeof(name));
	ok = m2m_state_read(&st, name, 256, check_loaded, NULL, &buf, NULL, NULL) == M2M_OK;
	m2m_state_close(&st);
	if (!ok)
		return false;
	ok = sscanf(buf, "%llx %lld %lld", &digest, &nb, &na) == 3 &&
	     digest == vpn_profile_digest(cfg, p);
	free(buf);
	if (ok) {
		*not_before = (time_t)nb;
		*not_after = (time_t)na;
	}
	return ok;
}
