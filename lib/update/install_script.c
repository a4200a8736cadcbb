/* SPDX-License-Identifier: MIT */
/*
 * The script backend: a vendor's program (SWUpdate's client, a package
 * manager, a shell script) run with the contract documented in install.h:
 * the verb as argv[1], the payload as argv[2], a fixed environment, a time
 * bound, exit codes mapped to m2m codes.
 */
#include "update/install.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "base/base.h"

/* upd_type_name() is manifest.c's, a slice of its own: the three names, not to depend on it */
static const char *type_name(enum upd_type t)
{
	switch (t) {
	case UPD_FIRMWARE: return "firmware";
	case UPD_SOFTWARE: return "software";
	case UPD_CONFIG: return "config";
	default: return "";
	}
}

static void on_line(void *vctx, int fd, const char *line)
{
	const struct upd_install_ctx *ctx = vctx;

	if (ctx->log && *line)
		ctx->log(ctx->log_ctx, fd == 2 ? LOG_NOTICE : LOG_INFO, "script: %s", line);
}

/* It runs as us: it must be ours (or root's) and nobody else may change it. */
static int check_script(const char *path, struct m2m_err *err)
{
	struct stat st;

	if (!path || !*path)
		return m2m_err_set(err, M2M_ERR_CONFIG, "script: no program configured");
	if (path[0] != '/')
		return m2m_err_set(err, M2M_ERR_CONFIG, "script: %s: not an absolute path", path);
	if (stat(path, &st))
		return m2m_err_set(err, M2M_ERR_NOT_FOUND, "script: %s: %m", path);
	if (!S_ISREG(st.st_mode))
		return m2m_err_set(err, M2M_ERR_CONFIG, "script: %s: not a regular file", path);
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return m2m_err_set(err, M2M_ERR_CONFIG, "script: %s: owned by uid %u, neither root nor us",
				   path, (unsigned)st.st_uid);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return m2m_err_set(err, M2M_ERR_CONFIG, "script: %s: writable by others (mode %03o)",
				   path, (unsigned)(st.st_mode & 07777));
	if (access(path, X_OK))
		return m2m_err_set(err, M2M_ERR_CONFIG, "script: %s: not executable", path);
	return M2M_OK;
}

static int run_verb(const struct upd_install_ctx *ctx, const char *verb, const char *payload,
		    struct m2m_err *err)
{
	char e_verb[64], e_name[128], e_ver[96], e_type[64], e_pay[PATH_MAX + 32], path[PATH_MAX];
	const char *argv[4], *envp[8];
	struct upd_spawn r;
	unsigned code;
	int rc;
	size_t e = 0;

	rc = check_script(ctx->script, err);
	if (rc)
		return rc;
	argv[0] = ctx->script;
	argv[1] = verb;
	argv[2] = NULL;
	if (payload) {
		struct stat st;

		if (!realpath(payload, path))
			return m2m_err_set(err, M2M_ERR_NOT_FOUND, "script %s: %s: %m", verb, payload);
		if (stat(path, &st) || !S_ISREG(st.st_mode))
			return m2m_err_set(err, M2M_ERR_NOT_FOUND, "script %s: %s: not a regular file",
					   verb, path);
		argv[2] = path;
	}
	argv[3] = NULL;
	snprintf(e_verb, sizeof(e_verb), "M2M_UPDATE_VERB=%s", verb);
	snprintf(e_name, sizeof(e_name), "M2M_UPDATE_NAME=%s", ctx->name ? ctx->name : "");
	snprintf(e_ver, sizeof(e_ver), "M2M_UPDATE_VERSION=%s", ctx->version ? ctx->version : "");
	snprintf(e_type, sizeof(e_type), "M2M_UPDATE_TYPE=%s",
		 type_name(ctx->type));
	envp[e++] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
	envp[e++] = "LC_ALL=C";
	envp[e++] = e_verb;
	envp[e++] = e_name;
	envp[e++] = e_ver;
	envp[e++] = e_type;
	if (payload) {
		snprintf(e_pay, sizeof(e_pay), "M2M_UPDATE_PAYLOAD=%s", path);
		envp[e++] = e_pay;
	}
	envp[e] = NULL;

	memset(&r, 0, sizeof(r));
	r.argv = argv;
	r.envp = envp;
	r.timeout_ms = ctx->timeout_ms;
	r.on_line = on_line;
	r.line_ctx = (void *)ctx;
	/* install: its group into the journal before it runs (a restart waits for it) */
	if (payload) {
		r.started = ctx->started;
		r.started_ctx = ctx->started_ctx;
		/* ... and its output to files that outlive us: no SIGPIPE if we die */
		r.out_dir = ctx->output_dir;
	}
	rc = upd_spawn(&r, err);
	if (rc)
		return m2m_err_prefix(err, "script %s", verb);
	if (r.timed_out)
		return m2m_err_set(err, M2M_ERR_TIMEOUT, "script %s: %s did not finish within %u ms%s%s",
				   verb, ctx->script,
				   ctx->timeout_ms ? ctx->timeout_ms : UPD_INSTALL_TIMEOUT_DEFAULT_MS,
				   r.last_err[0] ? "; its last words: " : "", r.last_err);
	if (WIFSIGNALED(r.status))
		return m2m_err_set(err, M2M_ERR_FAILURE, "script %s: %s killed by signal %d%s%s", verb,
				   ctx->script, WTERMSIG(r.status), r.last_err[0] ? ": " : "", r.last_err);
	code = WEXITSTATUS(r.status);
	switch (code) {
	case 0:
		return M2M_OK;
	case M2M_ERR_INTEGRITY:
	case M2M_ERR_REFUSED:
	case M2M_ERR_STORAGE:
		rc = (int)code;
		break;
	default:
		rc = M2M_ERR_FAILURE;
	}
	if (r.last_err[0])
		return m2m_err_set(err, rc, "script %s: %s", verb, r.last_err);
	return m2m_err_set(err, rc, "script %s: %s exited %u", verb, ctx->script, code);
}

static int script_probe(const struct upd_install_ctx *ctx, struct m2m_err *err)
{
	return check_script(ctx->script, err);
}

static int script_install(const struct upd_install_ctx *ctx, const char *payload, struct m2m_err *err)
{
	if (!payload)
		return m2m_err_set(err, M2M_ERR_NOT_FOUND, "script install: no payload");
	return run_verb(ctx, "install", payload, err);
}

static int script_status(const struct upd_install_ctx *ctx, struct upd_slot_status *st,
			 struct m2m_err *err)
{
	memset(st, 0, sizeof(*st));
	return m2m_err_set(err, M2M_ERR_NOT_FOUND, "script: a script has no slot status");
}

static int script_commit(const struct upd_install_ctx *ctx, struct m2m_err *err)
{
	return run_verb(ctx, "commit", NULL, err);
}

static int script_rollback(const struct upd_install_ctx *ctx, struct m2m_err *err)
{
	return run_verb(ctx, "rollback", NULL, err);
}

const struct upd_installer_ops upd_installer_script = {
	.name = "script",
	.probe = script_probe,
	.install = script_install,
	.status = script_status,
	.mark_good = script_commit,
	.mark_bad = script_rollback,
	.rollback = script_rollback,
};
