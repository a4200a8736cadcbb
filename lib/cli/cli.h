/* SPDX-License-Identifier: MIT */
/*
 * Shared command-line layer of the m2m tools: the option table (which is also
 * the --help text), errors on stderr, colours, durations, JSON output.
 */
#ifndef M2M_CLI_H
#define M2M_CLI_H

#include <stdarg.h>
#include <stdbool.h>
#include <getopt.h>
#include <stdio.h>
#include <time.h>

#include <json-c/json.h>

#include "m2m/config.h"
#include "m2m/m2m.h"
#include "m2m/vpn.h"

struct cli_option {
	const char *name;   /* long name */
	int short_name;     /* 0 if none */
	const char *arg;    /* argument name, NULL for a flag */
	const char *help;
};

struct cli_command {
	const char *name;
	const char *args;   /* synopsis of its arguments */
	const char *help;
};

struct cli {
	const char *prog;
	const char *config_path;
	int verbose;        /* -v count */
	bool quiet;
	bool json;
	bool color;         /* resolved: use colour on stdout */
	unsigned timeout_ms; /* 0: not given */
	const char *color_when; /* --color as given; NULL: auto */
	int log_max;        /* highest syslog priority logged without -v (0: LOG_INFO) */
};

/*
 * The library's log callback for the tools (ctx is the struct cli): one line
 * on stderr, with a "<N>" priority prefix under journald, a time stamp on a
 * terminal; -v adds debug lines, -q keeps only warnings and worse.
 */
void cli_log_line(void *ctx, int prio, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void cli_vlog_line(const struct cli *c, int prio, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/*
 * The options every tool shares (config, timeout, json, quiet, verbose,
 * color, help, version), by long name. Returns CLI_OPT_NOT_MINE for the
 * tool's own options, CLI_OPT_EXIT when the tool must exit with *rc (help,
 * version, a bad value), CLI_OPT_DONE otherwise.
 */
enum cli_opt_result { CLI_OPT_DONE, CLI_OPT_NOT_MINE, CLI_OPT_EXIT };
enum cli_opt_result cli_common_option(struct cli *c, const struct cli_option *opts, int opt,
				      const char *arg, const char *summary,
				      const struct cli_command *cmds, int *rc);

/*
 * The command line of a tool with commands: options may come before or after
 * the command. The common ones go through cli_common_option(), each of the
 * tool's own to option(ctx, its index in opts, its argument), which returns
 * M2M_OK or an exit code (its message said). --color is resolved. The
 * operands, the command first, go to *args (free() it; never empty on
 * CLI_OPT_DONE). CLI_OPT_EXIT with *rc: help, version, a bad option, no command.
 */
enum cli_opt_result cli_parse(struct cli *c, int argc, char **argv, const char *summary,
			      const struct cli_command *cmds, const struct cli_option *opts,
			      int (*option)(void *ctx, int k, const char *arg), void *ctx,
			      char ***args, int *nargs, int *rc);

/*
 * The key-reference options every tool that names a key takes alike (keyref.c):
 * --store, --key, --module, --token, --id, --label, --tcti, --handle, by long
 * name, into ref. M2M_OK, USAGE (with the message said), or -1 for another
 * option.
 */
struct m2m_key_ref;
int cli_key_ref_option(const struct cli *c, const char *name, const char *arg,
		       struct m2m_key_ref *ref);

/*
 * Build getopt_long's tables from an option table (NULL-terminated by name):
 * an option with a short name returns it, a long-only one 256 + its index.
 * lopts must have room for every option plus the terminator. sopts starts
 * with prefix ("-" to return operands in order, "+" to stop at the first).
 */
void cli_getopt_tables(const struct cli_option *opts, struct option *lopts, char *sopts,
		       size_t sopts_len, const char *prefix);
/* The index in opts of what getopt_long returned; -1 if unknown. */
int cli_option_index(const struct cli_option *opts, int opt);

/* Print "prog: message" on stderr; returns rc. */
int cli_error(const struct cli *c, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int cli_fail(const struct cli *c, const struct m2m_err *err);

/* Usage text generated from the tables. */
void cli_usage(FILE *out, const char *prog, const char *summary, const struct cli_command *cmds,
	       const struct cli_option *opts);

/* "20", "2.5", "500ms", "3s", "1.5m" -> ms (m2m_parse_duration()); false if malformed or > 24 h. */
bool cli_parse_duration(const char *s, unsigned *ms);

/* Resolve --color=auto|always|never (NO_COLOR honoured for auto). */
bool cli_set_color(struct cli *c, const char *when);
const char *cli_col(const struct cli *c, const char *code); /* "" without colour */
#define CLI_GREEN "\033[32m"
#define CLI_RED "\033[31m"
#define CLI_YELLOW "\033[33m"
#define CLI_BOLD "\033[1m"
#define CLI_DIM "\033[2m"
#define CLI_RESET "\033[0m"

/* Load the configuration the usual way (--config, $M2M_CONFIG, default). */
int cli_load_config(struct cli *c, struct m2m_config **cfg);

/* A versioned JSON document {"schema": schema, list_key: []}; *arr is that list. */
json_object *cli_json_doc(const char *schema, const char *list_key, json_object **arr);
/* Print a JSON document on stdout (pretty, newline-terminated) and free it. */
void cli_print_json(json_object *doc);
/* A JSON string, or NULL (JSON null) for NULL or "". */
json_object *cli_json_str(const char *s);
/* t as "2026-11-24T03:30:16Z" (UTC). */
void cli_time_utc(time_t t, char *buf, size_t len);

/* The VPN status as JSON and as text: the same fields. */
json_object *cli_vpn_status_json(const struct m2m_vpn_status *st, const struct m2m_vpn_profile *p);
void cli_vpn_status_text(const struct cli *c, FILE *out, const struct m2m_vpn_status *st,
			 const struct m2m_vpn_profile *p);

/*
 * What every tool does first: umask 077, no core dumps (a PIN or a key could be in
 * one), and the library's prompt for secrets set to cli_tty_prompt.
 */
void cli_init(void);
/*
 * SIGTERM, SIGINT and SIGHUP set the flag returned, for the library's stop
 * arguments (no SA_RESTART: a blocking call returns); SIGPIPE is ignored.
 */
volatile const int *cli_catch_stop(void);
/* The family's m2m_prompt_fn: asks on /dev/tty without echo, only if stdin is a terminal. */
int cli_tty_prompt(void *ctx, const char *what, char *buf, size_t size, struct m2m_err *err);

#endif
