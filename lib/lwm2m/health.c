/* SPDX-License-Identifier: MIT */
/*
 * The health check of an update (update.health): the configured VPN profiles
 * come up and the device registers with its management server, all within
 * one bound. It lives here, not in lib/update, because it needs vpn and the
 * LwM2M client (layer 4 may use neither); the update engine gets it from its
 * caller as a callback.
 *
 * The device is left as it was found: a check that brings up an on-demand
 * tunnel nobody asked for would leave it up for good (nothing takes an
 * on-demand profile down by itself), so those go down again after the verdict.
 */
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "base/base.h"
#include "lwm2m/lwm2m.h"
#include "m2m/dm.h"
#include "m2m/keystore.h"
#include "m2m/vpn.h"
#include "state/state.h"

#define HEALTH_DEFAULT_MS (5u * 60u * 1000u) /* m2m.yaml(5)'s default of update.health.timeout */
#define HEALTH_DOWN_MS 2000u                 /* taking a profile down again, after the verdict */
#define HEALTH_BACK_MS 30000u                /* the profiles up again under the old configuration */
#define HEALTH_SLACK_MS 50u                 /* a step that ends this close to the bound ran out */
#define HEALTH_POLL_MS 500u                  /* looking at a serving client's registration */

struct health {
	const struct m2m_config *cfg;
	const struct m2m_dm_health_opts *o;
	volatile const int *stop;
	uint64_t deadline;
	uint64_t renewed;     /* profiles that were up and came up again under the new configuration */
	bool own_lock;        /* the caller holds dm.lock: the registration is made here */
};

/* What is left of the bound; 0 once it has run out. */
static unsigned left_ms(const struct health *h)
{
	uint64_t now = m2m_now_ms();

	return now >= h->deadline ? 0 : (unsigned)(h->deadline - now);
}

static int out_of_time(const struct health *h, const char *step, struct m2m_err *err)
{
	return m2m_err_set(err, M2M_ERR_TIMEOUT, "health: %s: %s", step,
			   *h->stop ? "stopped" : "out of time");
}

/* A step cut short by *stop: TIMEOUT, whatever the step made of it so far. */
static int stopped(struct m2m_err *err)
{
	err->rc = M2M_ERR_TIMEOUT;
	m2m_err_prefix(err, "stopped");
	return M2M_ERR_TIMEOUT;
}

/*
 * A step that was given all that was left and failed only at the bound ran
 * out of time: its own class for silence (UNREACHABLE: "no answer within")
 * would hide that a longer bound might have passed.
 */
static int ran_out(const struct health *h, int rc, struct m2m_err *err)
{
	if (left_ms(h) > HEALTH_SLACK_MS)
		return rc;
	if (rc != M2M_ERR_TIMEOUT) {
		err->rc = M2M_ERR_TIMEOUT;
		m2m_err_prefix(err, "out of time");
	}
	return M2M_ERR_TIMEOUT;
}

/*
 * Bring every health profile up. Those that were down and are on-demand are
 * remembered in *mine (bit i: profile i of the list) to be taken down again.
 */
/* "health: profile NAME: why", where the VPN's own message may start with "NAME:" already */
static void name_profile(struct m2m_err *err, const char *name)
{
	size_t n = strlen(name);

	char old[sizeof(err->msg)];

	if (strncmp(err->msg, name, n) != 0 || err->msg[n] != ':') {
		m2m_err_prefix(err, "health: profile %s", name);
		return;
	}
	memcpy(old, err->msg, sizeof(old));
	if (snprintf(err->msg, sizeof(err->msg), "health: profile %s", old) >= (int)sizeof(err->msg))
		err->msg[sizeof(err->msg) - 1] = '\0';
}

static int profiles_up(struct health *h, struct m2m_vpn *vpn, char **names, uint64_t *mine,
		       struct m2m_err *err)
{
	for (size_t i = 0; names && names[i]; i++) {
		const struct m2m_vpn_profile *p = m2m_config_profile(h->cfg, names[i]);
		struct m2m_vpn_status st;
		struct m2m_err e = { 0 };
		unsigned left = left_ms(h);
		bool was_up;
		int rc;

		if (!left || *h->stop)
			return out_of_time(h, "profiles", err);
		if (!p)
			return m2m_err_set(err, M2M_ERR_NOT_FOUND, "health: profile %s: not in vpn.profiles",
					   names[i]);
		/* a charon that does not answer here does not answer the up either: the up says so */
		was_up = m2m_vpn_status(vpn, names[i], &st, &e) == M2M_OK &&
			 st.state == M2M_VPN_STATE_UP;
		if (was_up && h->o->before && i < 64) {
			/* up under the configuration being replaced: that proves nothing of the new one */
			h->renewed |= 1ull << i;
			LW_LOG(h->o->log, h->o->log_ctx, LOG_INFO, "health: profile %s: down, to come "
			       "up under the new configuration", names[i]);
			rc = m2m_vpn_down(vpn, names[i], left < HEALTH_DOWN_MS ? left : HEALTH_DOWN_MS, err);
			if (rc) {
				name_profile(err, names[i]);
				return rc;
			}
			was_up = false;
			left = left_ms(h);
			if (!left)
				return out_of_time(h, "profiles", err);
		}
		rc = m2m_vpn_up(vpn, names[i], left, NULL, err);
		if (rc) {
			/* a cancelled up names what it saw so far (no answer yet): stopping is no verdict */
			if (*h->stop && rc != M2M_ERR_TIMEOUT)
				rc = stopped(err);
			else
				rc = ran_out(h, rc, err);
			name_profile(err, names[i]);
			return rc;
		}
		LW_LOG(h->o->log, h->o->log_ctx, LOG_INFO, "health: profile %s is up%s", names[i],
		       was_up ? " (it was)" : "");
		/* one renewed was up before the check: it stays up, as it was found */
		if (!was_up && p->mode == M2M_VPN_ON_DEMAND && i < 64 && !(h->renewed & (1ull << i)))
			*mine |= 1ull << i;
	}
	return M2M_OK;
}

static void profiles_restore(struct health *h, struct m2m_vpn *vpn, char **names, uint64_t mine)
{
	for (size_t i = 0; names && names[i] && i < 64; i++) {
		struct m2m_err e = { 0 };

		if (!(mine & (1ull << i)))
			continue;
		if (m2m_vpn_down(vpn, names[i], HEALTH_DOWN_MS, &e))
			LW_LOG(h->o->log, h->o->log_ctx, LOG_WARNING, "health: profile %s: not taken "
			       "down again: %s", names[i], e.msg);
		else
			LW_LOG(h->o->log, h->o->log_ctx, LOG_INFO, "health: profile %s is down again "
			       "(on-demand, brought up for the check)", names[i]);
	}
}

/*
 * A failed check of a new configuration: the profiles it took down come up
 * under the old one. Past the check's bound (the device as it was is worth
 * it), within a bound of its own for them all (HEALTH_BACK_MS, m2m/dm.h says
 * so), and cut short by *stop like the check: a client that ends leaves them
 * to the next m2mvpn-connect up (or the always-on watch).
 */
static void profiles_back(struct health *h, char **names)
{
	struct m2m_vpn *old = NULL;
	struct m2m_err e = { 0 };
	uint64_t end;

	if (!h->renewed || m2m_vpn_open(h->o->before, &old, &e) != M2M_OK) {
		if (h->renewed)
			LW_LOG(h->o->log, h->o->log_ctx, LOG_WARNING, "health: the old configuration's "
			       "profiles: %s", e.msg);
		return;
	}
	m2m_vpn_set_log(old, h->o->log, h->o->log_ctx);
	m2m_vpn_set_cancel(old, h->stop);
	end = m2m_now_ms() + HEALTH_BACK_MS;
	for (size_t i = 0; names && names[i] && i < 64; i++) {
		uint64_t now = m2m_now_ms();

		if (!(h->renewed & (1ull << i)))
			continue;
		if (now >= end || *h->stop) {
			LW_LOG(h->o->log, h->o->log_ctx, LOG_WARNING, "health: profile %s: not brought up "
			       "again under the old configuration (%s)", names[i],
			       *h->stop ? "stopped" : "out of time");
			continue;
		}
		if (m2m_vpn_up(old, names[i], (unsigned)(end - now), NULL, &e))
			LW_LOG(h->o->log, h->o->log_ctx, LOG_WARNING, "health: profile %s: not up again "
			       "under the old configuration: %s", names[i], e.msg);
		else
			LW_LOG(h->o->log, h->o->log_ctx, LOG_INFO, "health: profile %s is up again under "
			       "the old configuration", names[i]);
	}
	m2m_vpn_close(old);
}

/* Register or Update, as a report run does, holding dm.lock (the caller's, or ours). */
static int do_register(struct health *h, struct m2m_err *err)
{
	struct m2m_dm *dm = NULL;
	unsigned left = left_ms(h);
	int rc;

	/* a DTLS key in a TPM that does not answer must not hold the check past its bound */
	m2m_keystore_set_deadline(h->deadline);
	/* a factory configuration gets its real server from the bootstrap server first */
	if (h->cfg->dm.bootstrap && !m2m_dm_bootstrapped(h->cfg)) {
		rc = m2m_dm_bootstrap(h->cfg, left, h->o->log, h->o->log_ctx, err);
		if (rc) {
			m2m_keystore_set_deadline(0);
			return rc;
		}
		left = left_ms(h);
		if (!left) {
			m2m_keystore_set_deadline(0);
			return m2m_err_set(err, M2M_ERR_TIMEOUT, "out of time after the bootstrap");
		}
	}
	rc = lw_dm_open(h->cfg, left, h->stop, &dm, err);
	if (!rc) {
		m2m_dm_set_log(dm, h->o->log, h->o->log_ctx);
		/* what the name lookup left */
		left = left_ms(h);
		rc = left ? m2m_dm_register(dm, left, err) :
			    m2m_err_set(err, M2M_ERR_TIMEOUT, "out of time after the name lookup");
		m2m_dm_close(dm);
	}
	/* a process that lives on (a serving client) gets the key stores' own bound back */
	m2m_keystore_set_deadline(0);
	return rc;
}

/* A serving client's saved registration: alive, and its last attempt succeeded. */
static bool served_alive(const struct m2m_config *cfg, char *why, size_t len)
{
	struct m2m_dm_state ds;
	uint64_t now = (uint64_t)time(NULL);

	if (m2m_dm_state_load(cfg, &ds) != M2M_OK) {
		snprintf(why, len, "%s", ds.last_error[0] ? ds.last_error : "no registration saved");
		return false;
	}
	if (ds.last_rc != M2M_OK) {
		snprintf(why, len, "its last attempt failed: %s", ds.last_error);
		return false;
	}
	if (!ds.registered || ds.registered_at + ds.lifetime_s <= now) {
		snprintf(why, len, "not registered");
		return false;
	}
	return true;
}

static int registration(struct health *h, struct m2m_err *err)
{
	char why[sizeof(((struct m2m_dm_state *)0)->last_error) + 32] = "";
	struct m2m_state st;
	bool told = false;
	int rc, fd = -1;

	if (h->own_lock && left_ms(h) && !*h->stop) {
		rc = do_register(h, err);
		goto out;
	}
	for (;;) {
		if (!left_ms(h) || *h->stop) {
			if (told)
				return m2m_err_set(err, M2M_ERR_TIMEOUT, "health: registration: %s, "
						   "and the client holding dm.lock is not registered: "
						   "%s", *h->stop ? "stopped" : "out of time", why);
			return out_of_time(h, "registration", err);
		}
		rc = m2m_state_open(&st, h->cfg->state_dir, err);
		if (rc)
			break;
		/* one client at a time: two would both write the registration and the observations */
		rc = m2m_state_lock(&st, "dm.lock", 0, &fd, err);
		m2m_state_close(&st);
		if (!rc) {
			rc = do_register(h, err);
			m2m_unlock(fd);
			break;
		}
		if (rc != M2M_ERR_BUSY)
			break;
		/* an always-on client serves: its registration is the proof */
		m2m_err_clear(err);
		if (served_alive(h->cfg, why, sizeof(why))) {
			LW_LOG(h->o->log, h->o->log_ctx, LOG_INFO, "health: registered (by the "
			       "client that serves)");
			return M2M_OK;
		}
		if (!told)
			LW_LOG(h->o->log, h->o->log_ctx, LOG_INFO, "health: dm.lock is held by "
			       "another client; waiting for its registration (%s)", why);
		told = true;
		m2m_sleep_ms(left_ms(h) < HEALTH_POLL_MS ? left_ms(h) : HEALTH_POLL_MS, h->stop);
	}
out:
	if (rc) {
		if (*h->stop && rc != M2M_ERR_TIMEOUT)
			rc = stopped(err);
		else
			rc = ran_out(h, rc, err);
		return m2m_err_prefix(err, "health: registration");
	}
	LW_LOG(h->o->log, h->o->log_ctx, LOG_INFO, "health: registered");
	return M2M_OK;
}

int m2m_dm_health(const struct m2m_config *cfg, const struct m2m_dm_health_opts *o,
		  struct m2m_err *caller_err)
{
	return lw_dm_health(cfg, o, false, caller_err);
}

int lw_dm_health(const struct m2m_config *cfg, const struct m2m_dm_health_opts *o, bool own_lock,
		 struct m2m_err *caller_err)
{
	struct m2m_err local, *err = caller_err ? caller_err : &local;
	static const int never;
	struct health h = { .cfg = cfg, .o = o, .own_lock = own_lock };
	struct m2m_vpn *vpn = NULL;
	char **profiles = NULL;
	uint64_t mine = 0;
	unsigned bound;
	bool dm;
	int rc;

	m2m_err_clear(err);
	if (!cfg || !o || o->version < 1 || o->version > M2M_DM_HEALTH_OPTS_VERSION)
		return m2m_err_set(err, M2M_ERR_USAGE, "m2m_dm_health: options of version %u, not 1..%u",
				   o ? o->version : 0, M2M_DM_HEALTH_OPTS_VERSION);
	bound = o->timeout_ms ? o->timeout_ms :
		cfg->update && cfg->update->health_timeout_ms ? cfg->update->health_timeout_ms :
		HEALTH_DEFAULT_MS;
	h.deadline = m2m_now_ms() + bound;
	/* the waits below take a stop flag: one that is never set if the caller has none */
	h.stop = o->stop ? o->stop : &never;
	if (cfg->update) {
		profiles = cfg->update->health_profiles;
		dm = cfg->update->health_dm;
	} else {
		dm = cfg->dm.enabled;
	}
	if (dm && !cfg->dm.enabled)
		return m2m_err_set(err, M2M_ERR_CONFIG, "health: %s: dm: not configured", cfg->path);
	LW_LOG(o->log, o->log_ctx, LOG_INFO, "health: checking within %u ms", bound);
	if (profiles && profiles[0]) {
		rc = m2m_vpn_open(cfg, &vpn, err);
		if (rc)
			return m2m_err_prefix(err, "health");
		m2m_vpn_set_cancel(vpn, h.stop);
		m2m_vpn_set_log(vpn, o->log, o->log_ctx);
		rc = profiles_up(&h, vpn, profiles, &mine, err);
		if (rc)
			goto out;
	}
	rc = dm ? registration(&h, err) : M2M_OK;
out:
	if (vpn) {
		/* the cancel flag must not cut the clean-up short */
		m2m_vpn_set_cancel(vpn, NULL);
		profiles_restore(&h, vpn, profiles, mine);
		m2m_vpn_close(vpn);
	}
	if (rc)
		profiles_back(&h, profiles);
	if (!rc)
		LW_LOG(o->log, o->log_ctx, LOG_INFO, "health: healthy");
	return rc;
}
