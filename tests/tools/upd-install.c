/* SPDX-License-Identifier: MIT */
/*
 * upd-install: the installer backends of lib/update from the command line, for
 * the tests (303-update-rauc.t, 304-update-script.t) and the demo.
 *
 *   upd-install [-t MS] [-c SYSTEM_CONF] [-r RAUC] [-b BUS] [-s SCRIPT] [-S TARGET_SLOT]
 *               [-n NAME] [-v VERSION] [-T firmware|software|config]
 *               rauc|script  install PAYLOAD | status | mark-good | mark-bad | rollback | probe
 *
 * Progress goes to stdout ("progress N% what"), status as one line
 * "booted=A primary=B A=good B=bad"; an error to stderr as "upd-install: what: why".
 * The exit status is the m2m code.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "update/install.h"

static void progress(void *ctx, unsigned pct, const char *what)
{
	printf("progress %u%% %s\n", pct, what);
	fflush(stdout);
}

static void logline(void *ctx, int prio, const char *fmt, ...)
{
	va_list ap;

	if (!getenv("UPD_INSTALL_LOG"))
		return;
	va_start(ap, fmt);
	fprintf(stderr, "log<%d> ", prio);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int usage(void)
{
	fprintf(stderr, "usage: upd-install [-t MS] [-c CONF] [-r RAUC] [-b BUS] [-s SCRIPT] [-S SLOT] [-n NAME] "
			"[-v VERSION] [-T TYPE] rauc|script install PAYLOAD|status|mark-good|mark-bad|rollback|probe\n");
	return M2M_ERR_USAGE;
}

int main(int argc, char **argv)
{
	struct upd_install_ctx ctx = { .progress = progress, .log = logline };
	const struct upd_installer_ops *ops;
	struct m2m_err err = { 0 };
	const char *verb;
	int o, rc;

	while ((o = getopt(argc, argv, "t:c:r:b:s:n:v:T:S:")) != -1) {
		switch (o) {
		case 't': ctx.timeout_ms = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'c': ctx.rauc_conf = optarg; break;
		case 'r': ctx.rauc = optarg; break;
		case 'b': ctx.dbus_address = optarg; break;
		case 's': ctx.script = optarg; break;
		case 'S': ctx.target = optarg; break;
		case 'n': ctx.name = optarg; break;
		case 'v': ctx.version = optarg; break;
		case 'T':
			ctx.type = !strcmp(optarg, "firmware") ? UPD_FIRMWARE :
				   !strcmp(optarg, "software") ? UPD_SOFTWARE :
				   !strcmp(optarg, "config") ? UPD_CONFIG : 0;
			break;
		default: return usage();
		}
	}
	if (argc - optind < 2)
		return usage();
	ops = upd_installer_find(argv[optind]);
	if (!ops) {
		fprintf(stderr, "upd-install: no installer backend \"%s\"\n", argv[optind]);
		return M2M_ERR_USAGE;
	}
	verb = argv[optind + 1];
	if (!strcmp(verb, "install")) {
		if (argc - optind != 3)
			return usage();
		rc = ops->install(&ctx, argv[optind + 2], &err);
	} else if (!strcmp(verb, "status")) {
		struct upd_slot_status st;
		size_t i;

		rc = ops->status(&ctx, &st, &err);
		if (!rc) {
			printf("booted=%s primary=%s", st.booted, st.primary);
			for (i = 0; i < st.n; i++)
				printf(" %s=%s", st.slot[i].bootname, upd_boot_status_name(st.slot[i].boot));
			printf("\n");
		}
	} else if (!strcmp(verb, "mark-good")) {
		rc = ops->mark_good(&ctx, &err);
	} else if (!strcmp(verb, "mark-bad")) {
		rc = ops->mark_bad(&ctx, &err);
	} else if (!strcmp(verb, "rollback")) {
		rc = ops->rollback(&ctx, &err);
	} else if (!strcmp(verb, "probe")) {
		rc = ops->probe(&ctx, &err);
	} else {
		return usage();
	}
	if (rc)
		fprintf(stderr, "upd-install: %s\n", err.msg);
	return rc;
}
