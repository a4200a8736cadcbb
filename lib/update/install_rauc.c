/* SPDX-License-Identifier: MIT */
/*
 * The RAUC backend: `rauc` on the command line, which is a D-Bus client of
 * `rauc service` (RAUC 1.8 has no direct mode). Each call is one or a few
 * rauc runs under one deadline; the error comes from what rauc printed
 * ("LastError: ..." on stdout for an install, its last stderr line
 * otherwise), classified by upd_rauc_classify(). Status is the JSON of
 * `rauc status --output-format=json`, of which only the bootloader's part is
 * read (booted, primary, each slot's boot_status): RAUC's slot status is not
 * asked for, since it is stale after a crash.
 */
#include "update/install.h"

#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "base/base.h"

#define RAUC_STATUS_MAX (256 * 1024)

struct rauc_call {
	const struct upd_install_ctx *ctx;
	int code;                   /* what the lines said (upd_rauc_classify), 0 if nothing */
	char last_error[256];       /* "LastError: ..." of an install */
	char last_line[256];        /* the last stderr line that is not RAUC's chatter */
	char *out;                  /* stdout, kept for status */
	size_t out_len;
	bool keep_out;
	bool overflow;
	bool record;                /* install: the client recorded (ctx->started) before it runs */
};

/* src into dst (size bytes), cut to fit, always terminated */
static void cpy(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memmove(dst, src, n);
	dst[n] = '\0';
}

/* What a line of rauc's output says about the failure: an m2m code, or 0. */
int upd_rauc_classify(const char *line)
{
	static const struct {
		const char *what;
		int rc;
	} map[] = {
		/*
		 * not genuine: the bundle's CMS and its chain to the keyring, its
		 * format, its payload (verity), an image's hash (older RAUC). Each
		 * is a security event (policy.counters update-integrity), so only
		 * the lines of a bundle that does not verify: RAUC's others that
		 * name a checksum or a bundle format (making a bundle, its
		 * configuration) say nothing of whether a bundle is genuine.
		 */
		{ "signature verification failed", M2M_ERR_INTEGRITY },
		{ "Verify error", M2M_ERR_INTEGRITY },
		{ "Invalid bundle format: ", M2M_ERR_INTEGRITY },
		{ "bundle is not signed", M2M_ERR_INTEGRITY },
		{ "bundle payload is corrupted", M2M_ERR_INTEGRITY },
		{ "Failed verifying checksum", M2M_ERR_INTEGRITY },
		/* genuine, but not for this device */
		{ "Compatible mismatch", M2M_ERR_REFUSED },
		{ "Already processing", M2M_ERR_BUSY },
		/* the service or the bus */
		{ "was not provided by any .service files", M2M_ERR_DAEMON },
		{ "RAUC service disappeared", M2M_ERR_DAEMON },
		{ "Could not connect", M2M_ERR_DAEMON },
		{ "error creating proxy", M2M_ERR_DAEMON },
		{ "ServiceUnknown", M2M_ERR_DAEMON },
		{ "NoReply", M2M_ERR_DAEMON },
		{ "Timeout was reached", M2M_ERR_DAEMON },
		{ "D-Bus error", M2M_ERR_DAEMON },
	};
	size_t i;

	if (!line)
		return 0;
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strstr(line, map[i].what))
			return map[i].rc;
	return 0;
}

/* The more specific of two classifications: a cause beats "the bus said no". */
static int rank(int rc)
{
	switch (rc) {
	case M2M_ERR_INTEGRITY: return 4;
	case M2M_ERR_REFUSED: return 3;
	case M2M_ERR_BUSY: return 2;
	case M2M_ERR_DAEMON: return 1;
	default: return 0;
	}
}

/* "(rauc:123): rauc-WARNING **: 17:54:40.333: text" -> "text" */
static const char *strip_glib(const char *s)
{
	const char *p = strstr(s, "**: ");

	if (s[0] == '(' && p) {
		p += 4;
		/* the time stamp */
		if (strlen(p) > 14 && p[2] == ':' && p[5] == ':' && p[12] == ':')
			p += 14;
		return p;
	}
	return s;
}

static void on_line(void *vc, int fd, const char *line)
{
	struct rauc_call *c = vc;
	int k = upd_rauc_classify(line);

	if (rank(k) > rank(c->code))
		c->code = k;
	if (c->ctx->log && *line)
		c->ctx->log(c->ctx->log_ctx, LOG_DEBUG, "rauc: %s", line);
	if (fd == 1) {
		unsigned pct;
		int n = 0;

		if (!strncmp(line, "LastError: ", 11)) {
			cpy(c->last_error, sizeof(c->last_error), line + 11);
		} else if (sscanf(line, " %u%%%n", &pct, &n) == 1 && n > 0 && pct <= 100) {
			const char *what = line + n;

			while (*what == ' ')
				what++;
			if (c->ctx->progress)
				c->ctx->progress(c->ctx->progress_ctx, pct, what);
		}
		if (c->keep_out && !c->overflow) {
			size_t l = strlen(line);
			char *p;

			if (c->out_len + l + 2 > RAUC_STATUS_MAX) {
				c->overflow = true;
				return;
			}
			p = realloc(c->out, c->out_len + l + 2);
			if (!p) {
				c->overflow = true;
				return;
			}
			c->out = p;
			memcpy(c->out + c->out_len, line, l);
			c->out_len += l;
			c->out[c->out_len++] = '\n';
			c->out[c->out_len] = '\0';
		}
		return;
	}
	line = strip_glib(line);
	/* RAUC's start-up chatter on stderr is no error */
	if (!*line || strstr(line, "rauc-Message:") || !strncmp(line, "Using central status file", 25))
		return;
	cpy(c->last_line, sizeof(c->last_line), line);
}

/* the client that hands the install to RAUC's service: recorded as such */
static int handed(void *vc, const struct upd_proc *p, struct m2m_err *err)
{
	struct rauc_call *c = vc;
	struct upd_proc q = *p;

	cpy(q.service, sizeof(q.service), "rauc");
	return c->ctx->started(c->ctx->started_ctx, &q, err);
}

static unsigned left_ms(uint64_t deadline)
{
	uint64_t now = m2m_now_ms();

	return now >= deadline ? 1 : (unsigned)(deadline - now);
}

/*
 * rauc [-c conf] ARGS... with what of the deadline is left; OK if it exited 0,
 * else the mapped code with "what: why".
 */
static int rauc_run(struct rauc_call *c, uint64_t deadline, const char *what,
		    const char *const *args, struct m2m_err *err)
{
	const struct upd_install_ctx *ctx = c->ctx;
	const char *argv[16], *envp[4];
	char bus[PATH_MAX + 64];
	const char *addr = ctx->dbus_address ? ctx->dbus_address : getenv("DBUS_SYSTEM_BUS_ADDRESS");
	struct upd_spawn r;
	size_t n = 0, e = 0;
	int rc, code;

	argv[n++] = ctx->rauc ? ctx->rauc : UPD_RAUC_DEFAULT;
	if (ctx->rauc_conf) {
		argv[n++] = "-c";
		argv[n++] = ctx->rauc_conf;
	}
	while (*args && n < sizeof(argv) / sizeof(argv[0]) - 1)
		argv[n++] = *args++;
	argv[n] = NULL;
	envp[e++] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
	envp[e++] = "LC_ALL=C";
	if (addr && *addr) {
		snprintf(bus, sizeof(bus), "DBUS_SYSTEM_BUS_ADDRESS=%s", addr);
		envp[e++] = bus;
	}
	envp[e] = NULL;

	memset(&r, 0, sizeof(r));
	r.argv = argv;
	r.envp = envp;
	r.timeout_ms = left_ms(deadline);
	r.on_line = on_line;
	r.line_ctx = c;
	if (c->record && ctx->started) {
		r.started = handed;
		r.started_ctx = c;
	}
	rc = upd_spawn(&r, err);
	if (rc == M2M_ERR_NOT_FOUND)
		return m2m_err_set(err, M2M_ERR_DAEMON, "%s: %s is not installed", what, argv[0]);
	if (rc)
		return m2m_err_prefix(err, "%s", what);
	if (r.timed_out)
		return m2m_err_set(err, M2M_ERR_TIMEOUT, "%s: no answer from RAUC within %u ms",
				   what, ctx->timeout_ms ? ctx->timeout_ms : UPD_INSTALL_TIMEOUT_DEFAULT_MS);
	if (WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0)
		return M2M_OK;
	code = c->code;
	/* rauc's exit 2: a D-Bus error (1: the install failed) */
	if (!code && WIFEXITED(r.status) && WEXITSTATUS(r.status) == 2)
		code = M2M_ERR_DAEMON;
	if (!code)
		code = M2M_ERR_FAILURE;
	if (c->last_error[0])
		return m2m_err_set(err, code, "%s: %s", what, c->last_error);
	if (c->last_line[0])
		return m2m_err_set(err, code, "%s: %s", what, c->last_line);
	if (WIFSIGNALED(r.status))
		return m2m_err_set(err, code, "%s: rauc killed by signal %d", what, WTERMSIG(r.status));
	return m2m_err_set(err, code, "%s: rauc exited %d", what, WEXITSTATUS(r.status));
}

static uint64_t deadline_of(const struct upd_install_ctx *ctx)
{
	return m2m_now_ms() + (ctx->timeout_ms ? ctx->timeout_ms : UPD_INSTALL_TIMEOUT_DEFAULT_MS);
}

static int rauc_install(const struct upd_install_ctx *ctx, const char *payload, struct m2m_err *err)
{
	struct rauc_call c = { .ctx = ctx, .record = true };
	char path[PATH_MAX];
	struct stat st;
	const char *args[] = { "install", "--progress", path, NULL };

	/* the service opens the bundle by name: an absolute, existing regular file */
	if (!payload || !realpath(payload, path))
		return m2m_err_set(err, M2M_ERR_NOT_FOUND, "rauc install: %s: %m", payload ? payload : "(none)");
	if (stat(path, &st) || !S_ISREG(st.st_mode))
		return m2m_err_set(err, M2M_ERR_NOT_FOUND, "rauc install: %s: not a regular file", path);
	return rauc_run(&c, deadline_of(ctx), "rauc install", args, err);
}

/* ---- what RAUC's service is doing: its D-Bus properties, read with busctl ---------- */

struct props {
	size_t n;                   /* values seen */
	char val[2][256];           /* Operation, LastError */
	char last_line[256];        /* busctl's last stderr line */
};

/* busctl get-property prints one value a line: s "idle" */
static void on_prop(void *vp, int fd, const char *line)
{
	struct props *pr = vp;
	size_t l = strlen(line);

	if (fd == 2) {
		if (*line)
			cpy(pr->last_line, sizeof(pr->last_line), line);
		return;
	}
	if (pr->n < 2 && l >= 4 && !strncmp(line, "s \"", 3) && line[l - 1] == '"') {
		cpy(pr->val[pr->n], l - 3 < sizeof(pr->val[0]) ? l - 3 : sizeof(pr->val[0]), line + 3);
		pr->n++;
	}
}

/* de.pengutronix.rauc.Installer's Operation and LastError, within deadline */
static int installer_props(const struct upd_install_ctx *ctx, uint64_t deadline, struct props *pr,
			   struct m2m_err *err)
{
	const char *addr = ctx->dbus_address ? ctx->dbus_address : getenv("DBUS_SYSTEM_BUS_ADDRESS");
	const char *envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL };
	char bus[PATH_MAX + 64];
	const char *argv[] = { UPD_BUSCTL, "--system", "get-property", "de.pengutronix.rauc", "/",
			       "de.pengutronix.rauc.Installer", "Operation", "LastError", NULL };
	struct upd_spawn r;
	int rc;

	if (addr && *addr) {
		snprintf(bus, sizeof(bus), "--address=%s", addr);
		argv[1] = bus;
	}
	memset(pr, 0, sizeof(*pr));
	memset(&r, 0, sizeof(r));
	r.argv = argv;
	r.envp = envp;
	r.timeout_ms = left_ms(deadline) < 10000 ? left_ms(deadline) : 10000;
	r.on_line = on_prop;
	r.line_ctx = pr;
	rc = upd_spawn(&r, err);
	if (rc == M2M_ERR_NOT_FOUND)
		return m2m_err_set(err, M2M_ERR_NOT_FOUND, "rauc: %s is not installed", UPD_BUSCTL);
	if (rc)
		return m2m_err_prefix(err, "rauc: its state");
	if (r.timed_out)
		return m2m_err_set(err, M2M_ERR_DAEMON, "rauc: its state: no answer within %u ms",
				   r.timeout_ms);
	if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0 || pr->n != 2)
		return m2m_err_set(err, M2M_ERR_DAEMON, "rauc: its state: %s",
				   pr->last_line[0] ? pr->last_line : "busctl gave no answer");
	return M2M_OK;
}

int upd_rauc_await(const struct upd_install_ctx *ctx, const struct upd_proc *p, unsigned wait_ms,
		   volatile const int *stop, char *last_error, size_t len, struct m2m_err *err)
{
	uint64_t end = m2m_now_ms() + wait_ms, now;
	struct props pr;
	bool seen = false;
	int rc;

	for (;;) {
		/* each look has a second at least, even at the end of the bound */
		rc = installer_props(ctx, m2m_now_ms() + 1000 > end ? m2m_now_ms() + 1000 : end, &pr, err);
		if (rc && !seen)
			return rc;
		/* it answered "installing" before: a look that fails is no sign of its end */
		if (rc) {
			cpy(pr.val[0], sizeof(pr.val[0]), "installing");
			m2m_err_clear(err);
		}
		seen = true;
		if (!strcmp(pr.val[0], "idle")) {
			cpy(last_error, len, pr.val[1]);
			return M2M_OK;
		}
		if (!upd_proc_left_ms(p))
			return m2m_err_set(err, M2M_ERR_BUSY, "rauc: still %s past the install's limit "
					   "of %u ms (RAUC's install cannot be stopped); the next run "
					   "waits again", pr.val[0], p->limit_ms);
		now = m2m_now_ms();
		if ((stop && *stop) || now >= end)
			return m2m_err_set(err, M2M_ERR_BUSY, "rauc: still %s the install an earlier "
					   "run handed to it; the next run waits again", pr.val[0]);
		m2m_sleep_ms(end - now < UPD_RAUC_POLL_MS ? (unsigned)(end - now) : UPD_RAUC_POLL_MS, stop);
	}
}

static int get_str(struct json_object *o, const char *key, char *out, size_t size)
{
	struct json_object *v;

	out[0] = '\0';
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return -1;
	snprintf(out, size, "%s", json_object_get_string(v));
	return 0;
}

/* The JSON of `rauc status --output-format=json` into st. */
int upd_rauc_parse_status(const char *json, struct upd_slot_status *st, struct m2m_err *err)
{
	struct json_object *root, *slots;
	char primary_slot[32];
	size_t i, n;
	const char *p = json ? strchr(json, '{') : NULL;

	memset(st, 0, sizeof(*st));
	if (!p || !(root = json_tokener_parse(p)))
		return m2m_err_set(err, M2M_ERR_FAILURE, "rauc status: not JSON");
	if (!json_object_is_type(root, json_type_object) ||
	    !json_object_object_get_ex(root, "slots", &slots) ||
	    !json_object_is_type(slots, json_type_array)) {
		json_object_put(root);
		return m2m_err_set(err, M2M_ERR_FAILURE, "rauc status: no slots in its JSON");
	}
	get_str(root, "compatible", st->compatible, sizeof(st->compatible));
	get_str(root, "booted", st->booted, sizeof(st->booted));
	get_str(root, "boot_primary", primary_slot, sizeof(primary_slot));
	n = json_object_array_length(slots);
	for (i = 0; i < n && st->n < UPD_SLOTS_MAX; i++) {
		struct json_object *one = json_object_array_get_idx(slots, i);
		struct upd_slot *s = &st->slot[st->n];
		struct json_object *ss, *bundle;
		char state[32], boot[16];

		/* [{"rootfs.0": {...}}, ...]: one object a slot, keyed by its name */
		if (!json_object_is_type(one, json_type_object))
			continue;
		json_object_object_foreach(one, name, body) {
			if (!json_object_is_type(body, json_type_object))
				continue;
			cpy(s->name, sizeof(s->name), name);
			get_str(body, "bootname", s->bootname, sizeof(s->bootname));
			get_str(body, "class", s->class_, sizeof(s->class_));
			get_str(body, "state", state, sizeof(state));
			get_str(body, "boot_status", boot, sizeof(boot));
			s->booted = !strcmp(state, "booted");
			s->boot = !strcmp(boot, "good") ? UPD_BOOT_GOOD :
				  !strcmp(boot, "bad") ? UPD_BOOT_BAD : UPD_BOOT_UNKNOWN;
			s->primary = *primary_slot && !strcmp(name, primary_slot);
			/* --detailed: "slot_status": {"bundle": {"version": ...}} */
			if (json_object_object_get_ex(body, "slot_status", &ss) &&
			    json_object_is_type(ss, json_type_object) &&
			    json_object_object_get_ex(ss, "bundle", &bundle) &&
			    json_object_is_type(bundle, json_type_object) &&
			    (get_str(bundle, "version", s->version, sizeof(s->version)) ||
			     strlen(s->version) + 1 >= sizeof(s->version)))
				s->version[0] = '\0';
			if (s->primary)
				cpy(st->primary, sizeof(st->primary), s->bootname);
			if (s->booted && !st->booted[0])
				cpy(st->booted, sizeof(st->booted), s->bootname);
			st->n++;
			break;
		}
	}
	json_object_put(root);
	if (!st->n)
		return m2m_err_set(err, M2M_ERR_FAILURE, "rauc status: no slots in its JSON");
	return M2M_OK;
}

static int status_until(const struct upd_install_ctx *ctx, uint64_t deadline, bool detailed,
			struct upd_slot_status *st, struct m2m_err *err)
{
	struct rauc_call c = { .ctx = ctx, .keep_out = true };
	const char *args[] = { "status", "--output-format=json", detailed ? "--detailed" : NULL, NULL };
	int rc;

	rc = rauc_run(&c, deadline, "rauc status", args, err);
	if (!rc && c.overflow)
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "rauc status: output too long");
	if (!rc)
		rc = upd_rauc_parse_status(c.out, st, err);
	free(c.out);
	return rc;
}

static int rauc_status(const struct upd_install_ctx *ctx, struct upd_slot_status *st,
		       struct m2m_err *err)
{
	return status_until(ctx, deadline_of(ctx), false, st, err);
}

int upd_rauc_status_detailed(const struct upd_install_ctx *ctx, struct upd_slot_status *st,
			     struct m2m_err *err)
{
	return status_until(ctx, deadline_of(ctx), true, st, err);
}

static int mark(const struct upd_install_ctx *ctx, uint64_t deadline, const char *how,
		const char *slot, struct m2m_err *err)
{
	struct rauc_call c = { .ctx = ctx };
	const char *args[] = { "status", how, slot, NULL };
	char what[96];

	snprintf(what, sizeof(what), "rauc status %s %s", how, slot);
	return rauc_run(&c, deadline, what, args, err);
}

static int rauc_mark_good(const struct upd_install_ctx *ctx, struct m2m_err *err)
{
	return mark(ctx, deadline_of(ctx), "mark-good", "booted", err);
}

static int rauc_mark_bad(const struct upd_install_ctx *ctx, struct m2m_err *err)
{
	return mark(ctx, deadline_of(ctx), "mark-bad", "booted", err);
}

int upd_rauc_rollback_plan(const struct upd_slot_status *st, const char *target,
			   const struct upd_slot **old, const struct upd_slot **fresh,
			   bool *mark_fresh, struct m2m_err *err)
{
	const struct upd_slot *booted = upd_slot_find(st, st->booted);

	*old = *fresh = NULL;
	*mark_fresh = false;
	if (!booted)
		return m2m_err_set(err, M2M_ERR_FAILURE, "rollback: RAUC does not know the booted slot");
	if (target && *target)
		*fresh = upd_slot_find(st, target);
	else if (booted->boot == UPD_BOOT_BAD)
		*fresh = booted;                 /* running the new version, already marked bad */
	else if (st->primary[0] && strcmp(st->primary, st->booted))
		*fresh = upd_slot_find(st, st->primary); /* installed, not rebooted yet */
	else
		*fresh = booted;                 /* rebooted into it, not marked yet */
	if (!*fresh)
		return m2m_err_set(err, M2M_ERR_NOT_FOUND, "rollback: no slot %s", target);
	/* the old one: the other slot of the new one's class */
	for (size_t i = 0; i < st->n; i++) {
		const struct upd_slot *s = &st->slot[i];

		if (s == *fresh || strcmp(s->class_, (*fresh)->class_))
			continue;
		if (*old)
			return m2m_err_set(err, M2M_ERR_FAILURE,
					   "rollback: more than one other %s slot", (*fresh)->class_);
		*old = s;
	}
	if (!*old)
		return m2m_err_set(err, M2M_ERR_FAILURE, "rollback: no slot to go back to");
	/* neither booted nor the next boot: no install made it bootable (the caller knows
	   better if it finished), and marking it bad would take away the fallback an
	   untouched slot still is */
	*mark_fresh = (*fresh)->booted || (*fresh)->primary;
	return M2M_OK;
}

static int rauc_rollback(const struct upd_install_ctx *ctx, struct m2m_err *err)
{
	uint64_t deadline = deadline_of(ctx);
	struct upd_slot_status st;
	const struct upd_slot *fresh, *old;
	bool mark_fresh;
	int rc;

	rc = status_until(ctx, deadline, false, &st, err);
	if (rc)
		return m2m_err_prefix(err, "rollback");
	rc = upd_rauc_rollback_plan(&st, ctx->target, &old, &fresh, &mark_fresh, err);
	/* the old slot first: a power cut between the two calls still boots it */
	if (!rc)
		rc = mark(ctx, deadline, "mark-active", old->name, err);
	if (!rc && (mark_fresh || ctx->installed))
		rc = mark(ctx, deadline, "mark-bad", fresh->name, err);
	return rc;
}

static int rauc_probe(const struct upd_install_ctx *ctx, struct m2m_err *err)
{
	struct upd_slot_status st;
	const char *prog = ctx->rauc ? ctx->rauc : UPD_RAUC_DEFAULT;

	if (access(prog, X_OK))
		return m2m_err_set(err, M2M_ERR_DAEMON, "rauc: %s: %m", prog);
	return rauc_status(ctx, &st, err);
}

const struct upd_installer_ops upd_installer_rauc = {
	.name = "rauc",
	.probe = rauc_probe,
	.install = rauc_install,
	.status = rauc_status,
	.mark_good = rauc_mark_good,
	.mark_bad = rauc_mark_bad,
	.rollback = rauc_rollback,
};
