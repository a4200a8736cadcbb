/* SPDX-License-Identifier: MIT */
/*
 * What libm2m last loaded into charon for a profile: a digest of every input
 * (profile fields, and identity and change time of each credential file) and
 * the certificate's validity window. When charon still holds the connection
 * and nothing changed, "up" goes straight to initiate: no key is decrypted,
 * no PIN is read, no credential crosses the socket again. The validity
 * window is kept so an expired certificate is still reported as a clock
 * problem without parsing it. Kept in the state directory as
 * vpn-<profile>.loaded (lib/state: atomic, a damaged one set aside), with
 * charon's ids of the key and shared secret loaded, so that they can be
 * taken out again once the profile is gone from the configuration.
 *
 * An on-demand connection stays loaded after "down" and after a failed "up":
 * it has no start, trap, DPD or close action and one keying try, so it cannot
 * act on its own, and the next "up" saves reading and loading the credentials
 * (7-8 ms of an 11 ms "up" in the lab). Always-on connections (restart
 * policies) are taken out by "down" and after a failed "up" (vpn.c).
 *
 * The record is written ahead of the load too (a digest that matches nothing,
 * the ids of the last credentials kept), so that every connection of ours in
 * charon has a record even if we are killed half-way. Then charon's own list
 * (get-conns) only finds what the records cannot: connections from a state
 * directory that was lost. It is asked once per charon: vpn.swept names the
 * charon (boot id, pid, start time) whose list was swept last, and goes when
 * a record is found damaged (set aside: what it named is known no more).
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "base/base.h"
#include "state/state.h"
#include "vici/vici.h"
#include "vpn/vpn_int.h"

/* the charon whose connections were listed and swept last (see above) */
#define SWEPT_NAME "vpn.swept"

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
	return h ? h : 1;  /* 0 is the record written ahead of a load */
}

static void name_of(const char *profile, char *buf, size_t len)
{
	char name[64];

	snprintf(name, sizeof(name), "%s.loaded", profile);
	snprintf(buf, len, "vpn-%s", name);
}

static bool write_record(const struct m2m_config *cfg, const char *profile, uint64_t digest,
			 const struct vpn_creds *c)
{
	struct m2m_state st;
	char name[NAME_MAX + 1], buf[600];
	bool ok;
	int n;

	name_of(profile, name, sizeof(name));
	/* "<digest> <not before> <not after>[ k:<key id>][ s:<shared id, to the end>]" */
	n = snprintf(buf, sizeof(buf), "%016llx %lld %lld%s%s%s%s\n",
		     (unsigned long long)digest, (long long)c->not_before,
		     (long long)c->not_after, c->key_id[0] ? " k:" : "", c->key_id,
		     c->shared_id[0] ? " s:" : "", c->shared_id);
	if (n <= 0 || (size_t)n >= sizeof(buf) || strchr(c->shared_id, '\n') ||
	    m2m_state_open(&st, vpn_state_dir(cfg), NULL))
		return false;
	ok = m2m_state_write(&st, name, buf, (size_t)n, NULL) == M2M_OK;
	m2m_state_close(&st);
	return ok;
}

void vpn_loaded_save(const struct m2m_config *cfg, const struct m2m_vpn_profile *p,
		     const struct vpn_creds *c)
{
	write_record(cfg, p->name, vpn_profile_digest(cfg, p), c);
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

struct record {
	unsigned long long digest;
	long long nb, na;
	char key[132], shared[300];
};

/* A record as vpn_loaded_save writes it; rec may be NULL (only checked). */
static bool parse_record(const char *buf, struct record *rec)
{
	struct record r = { 0 };
	const char *p;
	int used = 0;

	if (sscanf(buf, "%16llx %lld %lld%n", &r.digest, &r.nb, &r.na, &used) != 3)
		return false;
	p = buf + used;
	if (strncmp(p, " k:", 3) == 0) {
		size_t n = strspn(p + 3, "0123456789abcdefABCDEF:");

		if (n == 0 || n >= sizeof(r.key))
			return false;
		memcpy(r.key, p + 3, n);
		p += 3 + n;
	}
	if (strncmp(p, " s:", 3) == 0) {
		size_t n = strcspn(p + 3, "\n");

		if (n == 0 || n >= sizeof(r.shared))
			return false;
		memcpy(r.shared, p + 3, n);
		p += 3 + n;
	}
	if (*p != '\n' && *p != '\0')
		return false;
	if (rec)
		*rec = r;
	return true;
}

static int check_loaded(const char *buf, size_t len, void *ctx, struct m2m_err *err)
{
	(void)ctx;
	(void)len;
	if (!parse_record(buf, NULL))
		return m2m_err_set(err, M2M_ERR_FAILURE, "not a digest and a validity window");
	return M2M_OK;
}

/* A damaged record is set aside (lib/state) and counts as none. */
static bool read_record(const struct m2m_config *cfg, const char *profile, struct record *rec)
{
	struct m2m_state st;
	char name[NAME_MAX + 1], *buf = NULL;
	bool ok;
	int rc;

	if (m2m_state_open_existing(&st, vpn_state_dir(cfg), NULL))
		return false;
	name_of(profile, name, sizeof(name));
	rc = m2m_state_read(&st, name, 1024, check_loaded, NULL, &buf, NULL, NULL);
	/* set aside: what it named is no longer known, only charon's own list tells */
	if (rc && rc != M2M_ERR_NOT_FOUND)
		m2m_state_remove(&st, SWEPT_NAME, NULL);
	m2m_state_close(&st);
	ok = rc == M2M_OK;
	if (ok)
		ok = parse_record(buf, rec);
	free(buf);
	return ok;
}

/* See vpn_int.h. */
void vpn_loaded_pending(const struct m2m_config *cfg, const struct m2m_vpn_profile *p)
{
	struct vpn_creds c = { 0 };
	struct m2m_state st;
	struct record r;

	/* the ids of what the last load left in charon, to take it out later */
	if (read_record(cfg, p->name, &r)) {
		snprintf(c.key_id, sizeof(c.key_id), "%s", r.key);
		snprintf(c.shared_id, sizeof(c.shared_id), "%s", r.shared);
	}
	if (write_record(cfg, p->name, 0, &c))
		return;
	/*
	 * no record (a full disk, say): what this load leaves in charon is known
	 * to charon's list alone, so the list is asked again (an unlink needs no
	 * space)
	 */
	if (m2m_state_open_existing(&st, vpn_state_dir(cfg), NULL) == M2M_OK) {
		m2m_state_remove(&st, SWEPT_NAME, NULL);
		m2m_state_close(&st);
	}
}

/*
 * A damaged record is set aside and counts as no record: the credentials are
 * loaded again, as after any change (nothing to log: "up" goes on the long way).
 */
bool vpn_loaded_match(const struct m2m_config *cfg, const struct m2m_vpn_profile *p,
		      time_t *not_before, time_t *not_after)
{
	struct record r;

	if (!read_record(cfg, p->name, &r) || r.digest != vpn_profile_digest(cfg, p))
		return false;
	*not_before = (time_t)r.nb;
	*not_after = (time_t)r.na;
	return true;
}

/* ---- taking it out again -------------------------------------------------- */

/* A configured profile other than `profile` whose record names this key or secret. */
static bool still_used(const struct m2m_config *cfg, const char *profile, const char *key,
		       const char *shared)
{
	struct record r;

	for (size_t i = 0; i < cfg->n_profiles; i++) {
		const char *n = cfg->profiles[i].name;

		if (strcmp(n, profile) == 0 || !read_record(cfg, n, &r))
			continue;
		if ((key && strcmp(r.key, key) == 0) || (shared && strcmp(r.shared, shared) == 0))
			return true;
	}
	return false;
}

/* One unload-* request; "not found" is what we wanted, and counts as done. */
static bool unload(struct m2m_vpn *vpn, const char *cmd, const char *key, const char *val,
		   int timeout_ms)
{
	struct vici_node *resp = NULL;
	struct vici_buf b;
	const char *em;
	bool ok;

	vici_buf_init(&b);
	vici_add_kvs(&b, key, val);
	ok = vpn_request(vpn, cmd, &b, &resp, NULL, NULL, timeout_ms, NULL) == M2M_OK;
	vici_buf_free(&b);
	em = ok ? vici_find_str(resp, "errmsg") : NULL;
	if (ok && !vici_find_yes(resp, "success") && !(em && strstr(em, "not found"))) {
		VLOG(vpn, LOG_WARNING, "charon: %s %s: %s", cmd, val, em ? em : "failed");
		ok = false;
	}
	vici_node_free(resp);
	return ok;
}

/* See vpn_int.h. */
bool vpn_unload_profile(struct m2m_vpn *vpn, const char *profile, bool terminate, int timeout_ms)
{
	const struct m2m_config *cfg = vpn->cfg;
	char name[64];
	struct record r;
	bool ok = true, have = read_record(cfg, profile, &r);

	vpn_conn_name(profile, name, sizeof(name));
	if (terminate) {
		struct vici_node *resp = NULL;
		struct vici_buf b;

		/* unload-conn leaves the SAs: end them first, without waiting for the peer */
		vici_buf_init(&b);
		vici_add_kvs(&b, "ike", name);
		vici_add_kvs(&b, "force", "yes");
		vici_add_kvs(&b, "timeout", "-1");
		vici_add_kvs(&b, "loglevel", "-1");
		vpn_request(vpn, "terminate", &b, &resp, NULL, NULL, timeout_ms, NULL);
		vici_buf_free(&b);
		vici_node_free(resp);
	}
	/* a request charon did not answer drops the connection: no more waiting then */
	ok = vpn->vc || !terminate;
	ok = ok && unload(vpn, "unload-conn", "name", name, timeout_ms);
	if (ok && have && r.key[0] && !still_used(cfg, profile, r.key, NULL))
		ok = unload(vpn, "unload-key", "id", r.key, timeout_ms);
	if (ok && have && r.shared[0] && !still_used(cfg, profile, NULL, r.shared))
		ok = unload(vpn, "unload-shared", "id", r.shared, timeout_ms);
	/* kept when charon did not answer: the next run tries again */
	if (ok)
		vpn_loaded_forget(cfg, profile);
	return ok;
}

/* ---- the sweep's mark ------------------------------------------------------ */

/*
 * "<boot id> <pid> <start ticks>" of the charon at the other end: one charon
 * for good, whatever pid it reuses. False if unknown (no peer credentials: a
 * charon in a pid namespace we cannot see): then the list is always asked.
 */
static bool charon_identity(const struct m2m_vpn *vpn, char *buf, size_t len)
{
	char boot[37];
	uint64_t start;

	if (vpn->charon_pid <= 0 || !m2m_boot_id(boot) ||
	    !m2m_proc_stat(vpn->charon_pid, NULL, NULL, &start))
		return false;
	snprintf(buf, len, "%s %d %llu\n", boot, vpn->charon_pid, (unsigned long long)start);
	return true;
}

static int check_swept(const char *buf, size_t len, void *ctx, struct m2m_err *err)
{
	(void)ctx;
	if (len == 0 || buf[len - 1] != '\n' || memchr(buf, '\0', len))
		return m2m_err_set(err, M2M_ERR_FAILURE, "not a charon's identity");
	return M2M_OK;
}

/* charon's list was swept before, by this very charon's lights */
static bool swept_here(const struct m2m_vpn *vpn)
{
	char want[100], *buf = NULL;
	struct m2m_state st;
	bool same = false;

	if (!charon_identity(vpn, want, sizeof(want)) ||
	    m2m_state_open_existing(&st, vpn_state_dir(vpn->cfg), NULL))
		return false;
	if (m2m_state_read(&st, SWEPT_NAME, sizeof(want), check_swept, NULL, &buf, NULL, NULL) == M2M_OK)
		same = strcmp(buf, want) == 0;
	m2m_state_close(&st);
	free(buf);
	return same;
}

static void swept_save(const struct m2m_vpn *vpn)
{
	struct m2m_state st;
	char id[100];

	if (!charon_identity(vpn, id, sizeof(id)) ||
	    m2m_state_open(&st, vpn_state_dir(vpn->cfg), NULL))
		return;
	m2m_state_write(&st, SWEPT_NAME, id, strlen(id), NULL);
	m2m_state_close(&st);
}

/* Only what could be a profile's name ([A-Za-z0-9_-], 1..32) is ours to take out. */
static bool stale(const struct m2m_config *cfg, const char *profile)
{
	size_t n = strspn(profile, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-");

	return n > 0 && n <= 32 && profile[n] == '\0' && !m2m_config_profile(cfg, profile);
}

/*
 * A profile no longer configured, taken out of charon under its own lock: a
 * run of the configuration before may still be bringing it up or down (and
 * holds the lock); then it is left to a later run. False if not taken out.
 */
static bool sweep_one(struct m2m_vpn *vpn, const char *profile, int timeout_ms)
{
	int fd = -1;
	bool ok;

	if (vpn_profile_lock(vpn->cfg, profile, 0, &fd, NULL) != M2M_OK) {
		VLOG(vpn, LOG_INFO, "%s: no longer configured, but another run holds it; left for later",
		     profile);
		return false;
	}
	VLOG(vpn, LOG_NOTICE, "%s: no longer configured; taking it out of charon", profile);
	ok = vpn_unload_profile(vpn, profile, true, timeout_ms);
	/* taken out: its lock file goes too, or every removed profile would leave one */
	if (ok)
		vpn_profile_unlock_remove(vpn->cfg, profile, fd);
	else
		m2m_state_unlock(fd);
	return ok;
}

/* See vpn_int.h. */
bool vpn_sweep_records(struct m2m_vpn *vpn, int timeout_ms)
{
	const struct m2m_config *cfg = vpn->cfg;
	struct dirent *de;
	bool dead = false;
	DIR *d;

	vpn->swept = true;
	/* what our records say we loaded */
	d = opendir(vpn_state_dir(cfg));
	while (d && (de = readdir(d))) {
		size_t n = strlen(de->d_name);
		char profile[NAME_MAX + 1];

		if (n <= 11 || strncmp(de->d_name, "vpn-", 4) != 0 ||
		    strcmp(de->d_name + n - 7, ".loaded") != 0)
			continue;
		snprintf(profile, sizeof(profile), "%.*s", (int)(n - 11), de->d_name + 4);
		if (!stale(cfg, profile))
			continue;
		sweep_one(vpn, profile, timeout_ms);
		/* charon is gone or does not answer: not at the command's expense */
		if ((dead = !vpn->vc))
			break;
	}
	if (d)
		closedir(d);
	return !dead && !swept_here(vpn);
}

/* and connections of ours no record names (a state directory lost or changed) */
void vpn_sweep_conns(struct m2m_vpn *vpn, const struct vici_node *resp, int timeout_ms)
{
	const struct m2m_config *cfg = vpn->cfg;
	size_t pre = strlen(VPN_NAME_PREFIX);
	const struct vici_node *conns = vici_find(resp, "conns");
	bool all = conns != NULL;

	for (const struct vici_node *c = conns ? conns->child : NULL; c; c = c->next) {
		struct record r;

		if (!c->value || strncmp(c->value, VPN_NAME_PREFIX, pre) != 0)
			continue;
		if (!stale(cfg, c->value + pre)) {
			/*
			 * configured, but no record names it (a state directory
			 * lost, a record set aside): only charon's list shows it
			 * until the profile is loaded again, so no mark
			 */
			if (!read_record(cfg, c->value + pre, &r))
				all = false;
			continue;
		}
		all = sweep_one(vpn, c->value + pre, timeout_ms) && all;
		if (!vpn->vc)
			return;
	}
	/* nothing of ours left in charon that the records do not name: not asked again */
	if (all)
		swept_save(vpn);
}

void vpn_sweep(struct m2m_vpn *vpn, int timeout_ms)
{
	struct vici_node *resp = NULL;

	if (vpn->swept)
		return;
	if (!vpn_sweep_records(vpn, timeout_ms) ||
	    vpn_request(vpn, "get-conns", NULL, &resp, NULL, NULL, timeout_ms, NULL))
		return;
	vpn_sweep_conns(vpn, resp, timeout_ms);
	vici_node_free(resp);
}
