/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "cli/cli.h"

void cli_getopt_tables(const struct cli_option *opts, struct option *lopts, char *sopts,
		       size_t sopts_len, const char *prefix)
{
	size_t k = 0, l;

	snprintf(sopts, sopts_len, "%s", prefix);
	for (const struct cli_option *o = opts; o->name; o++, k++) {
		lopts[k] = (struct option){ o->name, o->arg ? required_argument : no_argument, NULL,
					    o->short_name ? o->short_name : 256 + (int)k };
		l = strlen(sopts);
		if (o->short_name && l + 3 < sopts_len) {
			sopts[l++] = (char)o->short_name;
			if (o->arg)
				sopts[l++] = ':';
			sopts[l] = '\0';
		}
	}
	lopts[k] = (struct option){ 0 };
}

int cli_option_index(const struct cli_option *opts, int opt)
{
	int n = 0;

	while (opts[n].name)
		n++;
	if (opt >= 256)
		return opt - 256 < n ? opt - 256 : -1;
	for (int k = 0; k < n; k++)
		if (opts[k].short_name == opt)
			return k;
	return -1;
}

enum cli_opt_result cli_common_option(struct cli *c, const struct cli_option *opts, int opt,
				      const char *arg, const char *summary,
				      const struct cli_command *cmds, int *rc)
{
	int k = cli_option_index(opts, opt);
	const char *name = k >= 0 ? opts[k].name : "";

	if (strcmp(name, "config") == 0) {
		c->config_path = arg;
	} else if (strcmp(name, "timeout") == 0) {
		if (!cli_parse_duration(arg, &c->timeout_ms) || c->timeout_ms == 0) {
			*rc = cli_error(c, M2M_ERR_USAGE,
					"--timeout '%s': expected seconds (e.g. 20, 2.5, 500ms)", arg);
			return CLI_OPT_EXIT;
		}
	} else if (strcmp(name, "json") == 0) {
		c->json = true;
	} else if (strcmp(name, "quiet") == 0) {
		c->quiet = true;
	} else if (strcmp(name, "verbose") == 0) {
		c->verbose++;
	} else if (strcmp(name, "color") == 0) {
		c->color_when = arg;
	} else if (strcmp(name, "help") == 0) {
		cli_usage(stdout, c->prog, summary, cmds, opts);
		*rc = M2M_OK;
		return CLI_OPT_EXIT;
	} else if (strcmp(name, "version") == 0) {
		printf("%s %s\n", c->prog, m2m_version());
		*rc = M2M_OK;
		return CLI_OPT_EXIT;
	} else {
		return CLI_OPT_NOT_MINE;
	}
	return CLI_OPT_DONE;
}

enum cli_opt_result cli_parse(struct cli *c, int argc, char **argv, const char *summary,
			      const struct cli_command *cmds, const struct cli_option *opts,
			      int (*option)(void *ctx, int k, const char *arg), void *ctx,
			      char ***args, int *nargs, int *rc)
{
	size_t n = 0;
	struct option *lopts;
	char *sopts, **rest;
	int opt, nrest = 0;

	while (opts[n].name)
		n++;
	lopts = calloc(n + 1, sizeof(*lopts));
	sopts = calloc(3 * n + 2, 1);
	rest = calloc((size_t)argc + 1, sizeof(*rest));
	*args = NULL;
	*nargs = 0;
	if (!lopts || !sopts || !rest) {
		*rc = cli_error(c, M2M_ERR_FAILURE, "out of memory");
		goto exit;
	}
	/* "-": operands in order, so options may come after the command */
	cli_getopt_tables(opts, lopts, sopts, 3 * n + 2, "-");
	while ((opt = getopt_long(argc, argv, sopts, lopts, NULL)) != -1) {
		int k;

		if (opt == 1) {
			rest[nrest++] = optarg;
			continue;
		}
		switch (cli_common_option(c, opts, opt, optarg, summary, cmds, rc)) {
		case CLI_OPT_DONE:
			continue;
		case CLI_OPT_EXIT:
			goto exit;
		case CLI_OPT_NOT_MINE:
			break;
		}
		k = cli_option_index(opts, opt);
		if (k < 0) {
			fprintf(stderr, "Try '%s --help'.\n", c->prog);
			*rc = M2M_ERR_USAGE;
			goto exit;
		}
		*rc = option(ctx, k, optarg);
		if (*rc)
			goto exit;
	}
	for (int i = optind; i < argc; i++)
		rest[nrest++] = argv[i];
	if (!cli_set_color(c, c->color_when)) {
		*rc = cli_error(c, M2M_ERR_USAGE, "--color '%s': expected auto, always or never",
				c->color_when);
		goto exit;
	}
	if (nrest == 0) {
		cli_usage(stderr, c->prog, summary, cmds, opts);
		*rc = M2M_ERR_USAGE;
		goto exit;
	}
	free(lopts);
	free(sopts);
	*args = rest;
	*nargs = nrest;
	return CLI_OPT_DONE;
exit:
	free(lopts);
	free(sopts);
	free(rest);
	return CLI_OPT_EXIT;
}

void cli_vlog_line(const struct cli *c, int prio, const char *fmt, va_list ap)
{
	int max = c->verbose ? LOG_DEBUG : c->log_max ? c->log_max : LOG_INFO;

	if (prio > max || (c->quiet && prio > LOG_WARNING))
		return;
	if (getenv("JOURNAL_STREAM")) {
		fprintf(stderr, "<%d>", prio);
	} else {
		char ts[16];
		time_t t = time(NULL);
		struct tm tm;

		localtime_r(&t, &tm);
		strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
		fprintf(stderr, "%s ", ts);
	}
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void cli_log_line(void *ctx, int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vlog_line(ctx, prio, fmt, ap);
	va_end(ap);
}

int cli_error(const struct cli *c, int rc, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", c->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return rc;
}

int cli_fail(const struct cli *c, const struct m2m_err *err)
{
	int rc = err->rc ? err->rc : M2M_ERR_FAILURE;

	return cli_error(c, rc, "%s", err->msg[0] ? err->msg : m2m_rc_describe(rc));
}

void cli_usage(FILE *out, const char *prog, const char *summary, const struct cli_command *cmds,
	       const struct cli_option *opts)
{
	/* a tool whose modes are options has no command table */
	if (!cmds || !cmds->name)
		fprintf(out, "Usage: %s [OPTIONS]\n%s\n", prog, summary);
	else
		fprintf(out, "Usage: %s [OPTIONS] COMMAND [ARGS]\n%s\n\nCommands:\n", prog, summary);
	for (const struct cli_command *c = cmds; c && c->name; c++) {
		char lhs[64];

		snprintf(lhs, sizeof(lhs), "%s %s", c->name, c->args);
		fprintf(out, "  %-24s %s\n", lhs, c->help);
	}
	fprintf(out, "\nOptions:\n");
	for (const struct cli_option *o = opts; o->name; o++) {
		char lhs[64];

		if (o->short_name)
			snprintf(lhs, sizeof(lhs), "-%c, --%s%s%s", o->short_name, o->name,
				 o->arg ? " " : "", o->arg ? o->arg : "");
		else
			snprintf(lhs, sizeof(lhs), "    --%s%s%s", o->name, o->arg ? "=" : "",
				 o->arg ? o->arg : "");
		fprintf(out, "  %-24s %s\n", lhs, o->help);
	}
	fprintf(out, "\nExit status: 0 on success, otherwise one of the codes in m2m-exit-codes(7).\n");
}

bool cli_parse_duration(const char *s, unsigned *ms)
{
	/* the grammar of m2m.yaml's durations too: an option and the file never differ */
	return s && !m2m_parse_duration(s, ms);
}

bool cli_set_color(struct cli *c, const char *when)
{
	if (!when || strcmp(when, "auto") == 0) {
		const char *nc = getenv("NO_COLOR");
		const char *term = getenv("TERM");

		c->color = isatty(STDOUT_FILENO) && !(nc && *nc) && !(term && strcmp(term, "dumb") == 0);
	} else if (strcmp(when, "always") == 0) {
		c->color = true;
	} else if (strcmp(when, "never") == 0) {
		c->color = false;
	} else {
		return false;
	}
	return true;
}

const char *cli_col(const struct cli *c, const char *code)
{
	return c->color ? code : "";
}

int cli_load_config(struct cli *c, struct m2m_config **cfg)
{
	struct m2m_err err;
	int rc;

	m2m_err_clear(&err);
	rc = m2m_config_load(m2m_config_path(c->config_path), cfg, &err);
	if (rc)
		return cli_fail(c, &err);
	return M2M_OK;
}

json_object *cli_json_doc(const char *schema, const char *list_key, json_object **arr)
{
	json_object *doc = json_object_new_object();

	*arr = json_object_new_array();
	json_object_object_add(doc, "schema", json_object_new_string(schema));
	json_object_object_add(doc, list_key, *arr);
	return doc;
}

void cli_print_json(json_object *doc)
{
	fputs(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
						  JSON_C_TO_STRING_SPACED |
						  JSON_C_TO_STRING_NOSLASHESCAPE),
	      stdout);
	fputc('\n', stdout);
	json_object_put(doc);
}

json_object *cli_json_str(const char *s)
{
	return s && *s ? json_object_new_string(s) : NULL;
}

void cli_time_utc(time_t t, char *buf, size_t len)
{
	m2m_time_utc((int64_t)t, buf, len);
}

static const char *mode_name(const struct m2m_vpn_profile *p)
{
	return p->mode == M2M_VPN_ALWAYS_ON ? "always-on" : "on-demand";
}

json_object *cli_vpn_status_json(const struct m2m_vpn_status *st, const struct m2m_vpn_profile *p)
{
	json_object *o = json_object_new_object(), *vips = json_object_new_array();
	bool unconfirmed = st->state == M2M_VPN_STATE_UNCONFIRMED;
	bool up = st->state == M2M_VPN_STATE_UP || unconfirmed;

	json_object_object_add(o, "name", json_object_new_string(p->name));
	json_object_object_add(o, "state", json_object_new_string(m2m_vpn_state_name(st->state)));
	json_object_object_add(o, "mode", json_object_new_string(mode_name(p)));
	json_object_object_add(o, "gateway", json_object_new_string(
					  st->remote_host[0] ? st->remote_host : p->gateways[0]));
	json_object_object_add(o, "remote_id", json_object_new_string(
					    st->remote_id[0] ? st->remote_id : p->remote_id));
	json_object_object_add(o, "local_host", cli_json_str(st->local_host));
	json_object_object_add(o, "local_id", cli_json_str(st->local_id));
	for (unsigned i = 0; i < st->n_vips; i++)
		json_object_array_add(vips, json_object_new_string(st->vips[i]));
	json_object_object_add(o, "virtual_ips", vips);
	json_object_object_add(o, "ike_state", cli_json_str(st->ike_state));
	json_object_object_add(o, "child_state", cli_json_str(st->child_state));
	json_object_object_add(o, "established_s", up ? json_object_new_int64((int64_t)st->established_s) : NULL);
	json_object_object_add(o, "ike_proposal", cli_json_str(st->ike_proposal));
	json_object_object_add(o, "esp_proposal", cli_json_str(st->esp_proposal));
	json_object_object_add(o, "udp_encap", json_object_new_boolean(st->encap));
	json_object_object_add(o, "bytes_in", json_object_new_int64((int64_t)st->bytes_in));
	json_object_object_add(o, "packets_in", json_object_new_int64((int64_t)st->packets_in));
	json_object_object_add(o, "bytes_out", json_object_new_int64((int64_t)st->bytes_out));
	json_object_object_add(o, "packets_out", json_object_new_int64((int64_t)st->packets_out));
	json_object_object_add(o, "fail_closed", json_object_new_boolean(p->fail_closed));
	json_object_object_add(o, "guard_active", json_object_new_boolean(st->guard_active));
	if (st->last_rc) {
		json_object *e = json_object_new_object();

		json_object_object_add(e, "code", json_object_new_int(st->last_rc));
		json_object_object_add(e, "name", json_object_new_string(m2m_rc_name(st->last_rc)));
		json_object_object_add(e, "message", json_object_new_string(st->last_error));
		json_object_object_add(e, "time", json_object_new_int64((int64_t)st->last_error_time));
		json_object_object_add(o, "last_error", e);
	} else {
		json_object_object_add(o, "last_error", NULL);
	}
	/* appended: since when the gateway leaves our liveness checks unanswered (state unconfirmed) */
	json_object_object_add(o, "unconfirmed_since",
			       unconfirmed ? json_object_new_int64((int64_t)st->last_error_time) : NULL);
	return o;
}

static void human_bytes(uint64_t b, char *buf, size_t len)
{
	if (b < 10240)
		snprintf(buf, len, "%llu B", (unsigned long long)b);
	else if (b < 10ull * 1024 * 1024)
		snprintf(buf, len, "%.1f KiB", b / 1024.0);
	else
		snprintf(buf, len, "%.1f MiB", b / 1048576.0);
}

static void human_secs(uint64_t s, char *buf, size_t len)
{
	if (s < 120)
		snprintf(buf, len, "%llu s", (unsigned long long)s);
	else if (s < 7200)
		snprintf(buf, len, "%llu min", (unsigned long long)(s / 60));
	else
		snprintf(buf, len, "%llu h %llu min", (unsigned long long)(s / 3600),
			 (unsigned long long)(s % 3600 / 60));
}

void cli_vpn_status_text(const struct cli *c, FILE *out, const struct m2m_vpn_status *st,
			 const struct m2m_vpn_profile *p)
{
	bool unconfirmed = st->state == M2M_VPN_STATE_UNCONFIRMED;
	const char *col = st->state == M2M_VPN_STATE_UP ? CLI_GREEN :
			  st->state == M2M_VPN_STATE_CONNECTING || unconfirmed ? CLI_YELLOW : CLI_RED;
	char a[48], b[48];
	bool unguarded = p->fail_closed && !st->guard_active && st->state == M2M_VPN_STATE_UP;

	if (unconfirmed) {
		time_t t = (time_t)st->last_error_time;
		struct tm tm;

		localtime_r(&t, &tm);
		strftime(a, sizeof(a), "%H:%M:%S", &tm);
		fprintf(out, "%s%s%s: %sup, not confirmed since %s%s\n", cli_col(c, CLI_BOLD), p->name,
			cli_col(c, CLI_RESET), cli_col(c, col), a, cli_col(c, CLI_RESET));
	} else {
		fprintf(out, "%s%s%s: %s%s%s%s\n", cli_col(c, CLI_BOLD), p->name, cli_col(c, CLI_RESET),
			cli_col(c, unguarded ? CLI_RED : col), m2m_vpn_state_name(st->state),
			unguarded ? ", but its fail-closed guard is not whole" : "", cli_col(c, CLI_RESET));
	}
	fprintf(out, "  %-13s %s (%s)\n", "gateway:", st->remote_host[0] ? st->remote_host : p->gateways[0],
		st->remote_id[0] ? st->remote_id : p->remote_id);
	if (st->local_host[0])
		fprintf(out, "  %-13s %s (%s)\n", "local:", st->local_host, st->local_id);
	for (unsigned i = 0; i < st->n_vips; i++)
		fprintf(out, "  %-13s %s\n", i ? "" : "virtual IP:", st->vips[i]);
	if (st->state == M2M_VPN_STATE_UP || unconfirmed) {
		human_secs(st->established_s, a, sizeof(a));
		fprintf(out, "  %-13s %s\n", "up for:", a);
	}
	if (st->ike_proposal[0])
		fprintf(out, "  %-13s %s\n", "IKE:", st->ike_proposal);
	if (st->esp_proposal[0])
		fprintf(out, "  %-13s %s%s\n", "ESP:", st->esp_proposal,
			st->encap ? ", in UDP" : "");
	if (st->child_state[0] || st->bytes_in || st->bytes_out) {
		human_bytes(st->bytes_in, a, sizeof(a));
		human_bytes(st->bytes_out, b, sizeof(b));
		fprintf(out, "  %-13s in %s / %llu packets, out %s / %llu packets\n", "traffic:", a,
			(unsigned long long)st->packets_in, b, (unsigned long long)st->packets_out);
	}
	fprintf(out, "  %-13s %s\n", "mode:", mode_name(p));
	fprintf(out, "  %-13s %s\n", "fail-closed:",
		!p->fail_closed ? "no" : st->guard_active ? "yes, guard active" :
		"yes, guard NOT active (missing, or a chain or rule of it gone or changed)");
	if (st->last_rc) {
		char when[32];
		time_t t = (time_t)st->last_error_time;
		struct tm tm;

		localtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		fprintf(out, "  %-13s %s%s%s (%s, exit %d, %s)\n", "last error:", cli_col(c, CLI_RED),
			st->last_error, cli_col(c, CLI_RESET), m2m_rc_name(st->last_rc), st->last_rc, when);
	}
}
