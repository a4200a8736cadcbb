/* SPDX-License-Identifier: MIT */
/*
 * m2mdm-update status: the last update as the state directory tells it, and the
 * firmware that runs (no lock, no network).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "m2m/update.h"

#include "upd.h"

/* the version on its way in: from verified until it ends */
static const char *pending(const struct m2m_update_status *st)
{
	return st->state >= M2M_UPDATE_DOWNLOADING && st->state <= M2M_UPDATE_INSTALLED ? st->version : "";
}

static json_object *json_time(int64_t t)
{
	char b[32];

	if (!t)
		return NULL;
	cli_time_utc((time_t)t, b, sizeof(b));
	return json_object_new_string(b);
}

/* "firmware": what runs (null if no firmware was committed); "fallback": null unless the
   bootloader fell back from the firmware committed last */
static void json_fw(json_object *d, const struct m2m_update_fw_info *fw, bool have)
{
	json_object *f = NULL, *b = NULL;

	if (have) {
		f = json_object_new_object();
		json_object_object_add(f, "name", cli_json_str(fw->name));
		json_object_object_add(f, "version", cli_json_str(fw->fw_version));
		json_object_object_add(f, "slot", cli_json_str(fw->slot));
		json_object_object_add(f, "committed", json_time(fw->committed));
		json_object_object_add(f, "source", cli_json_str(fw->source));
	}
	if (have && fw->fell_back) {
		b = json_object_new_object();
		json_object_object_add(b, "name", cli_json_str(fw->from_name));
		json_object_object_add(b, "version", cli_json_str(fw->from_version));
		json_object_object_add(b, "slot", cli_json_str(fw->from_slot));
		json_object_object_add(b, "committed", json_time(fw->from_committed));
		json_object_object_add(b, "time", json_time(fw->fell_back_at));
	}
	json_object_object_add(d, "firmware", f);
	json_object_object_add(d, "fallback", b);
}

static void json(const struct m2m_update_status *st, const struct m2m_update_fw_info *fw, bool have)
{
	json_object *d = json_object_new_object();
	char t[32];

	json_object_object_add(d, "schema", json_object_new_string(M2M_UPDATE_SCHEMA));
	json_object_object_add(d, "state", json_object_new_string(m2m_update_state_name(st->state)));
	json_object_object_add(d, "done", json_object_new_boolean(st->done));
	json_object_object_add(d, "name", cli_json_str(st->name));
	json_object_object_add(d, "version", cli_json_str(st->version));
	json_object_object_add(d, "type", cli_json_str(st->type));
	json_object_object_add(d, "source", cli_json_str(st->source));
	json_object_object_add(d, "downloaded", json_object_new_int64((int64_t)st->offset));
	json_object_object_add(d, "slot", cli_json_str(st->slot));
	json_object_object_add(d, "installed", cli_json_str(st->installed));
	json_object_object_add(d, "pending", cli_json_str(pending(st)));
	json_object_object_add(d, "floor", cli_json_str(st->floor));
	json_object_object_add(d, "result", json_object_new_string(m2m_rc_name(st->result)));
	json_object_object_add(d, "result_code", json_object_new_int(st->result));
	json_object_object_add(d, "message", cli_json_str(st->message));
	if (st->time) {
		cli_time_utc((time_t)st->time, t, sizeof(t));
		json_object_object_add(d, "time", json_object_new_string(t));
	} else {
		json_object_object_add(d, "time", NULL);
	}
	json_object_object_add(d, "next", json_object_new_string(st->next));
	json_fw(d, fw, have);
	cli_print_json(d);
}

static const char *next_words(const char *next)
{
	static const struct { const char *k, *v; } w[] = {
		{ "none", "nothing (m2mdm-update install FILE|URL starts one)" },
		{ "fetch", "resume the download (m2mdm-update check)" },
		{ "verify", "verify the package (m2mdm-update check)" },
		{ "install", "install the package (m2mdm-update check)" },
		{ "health", "the health check (m2mdm-update check), or commit / rollback" },
		{ "finish", "finish the commit or rollback (m2mdm-update check)" },
	};

	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		if (strcmp(next, w[i].k) == 0)
			return w[i].v;
	return next;
}

static void local_time(int64_t t, char *b, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	snprintf(b, len, "?");
	if (t && localtime_r(&tt, &tm))
		strftime(b, len, "%Y-%m-%d %H:%M:%S", &tm);
}

static void text_fw(const struct cli *c, const struct m2m_update_fw_info *fw)
{
	char b[32];

	printf("%sFirmware%s     ", cli_col(c, CLI_BOLD), cli_col(c, CLI_RESET));
	if (fw->fw_version[0])
		printf("%s %s", fw->name, fw->fw_version);
	else
		printf("%snot known%s", cli_col(c, CLI_YELLOW), cli_col(c, CLI_RESET));
	if (fw->slot[0])
		printf(" (slot %s)", fw->slot);
	if (strcmp(fw->source, "rauc") == 0)
		printf(", as RAUC's status of the slot says");
	printf("\n");
	if (!fw->fell_back)
		return;
	local_time(fw->from_committed, b, sizeof(b));
	printf("  %-11s %sthe bootloader fell back from slot %s%s (%s %s, committed %s)\n",
	       "fallback", cli_col(c, CLI_YELLOW), fw->from_slot, cli_col(c, CLI_RESET),
	       fw->from_name[0] ? fw->from_name : "firmware",
	       fw->from_version[0] ? fw->from_version : "of a version not known", b);
	local_time(fw->fell_back_at, b, sizeof(b));
	printf("  %-11s %s\n", "noticed", b);
}

static void text(const struct cli *c, const struct m2m_update_status *st)
{
	const char *col = st->state == M2M_UPDATE_COMMITTED ? CLI_GREEN :
			  st->state == M2M_UPDATE_FAILED || st->state == M2M_UPDATE_ROLLED_BACK ? CLI_RED :
			  st->state == M2M_UPDATE_IDLE ? "" : CLI_YELLOW;
	char b[32], w[160];

	printf("%sUpdate%s       %s\n", cli_col(c, CLI_BOLD), cli_col(c, CLI_RESET),
	       st->state == M2M_UPDATE_IDLE ? "none yet" : pkg_words(st, w, sizeof(w)));
	printf("  %-11s %s%s%s%s\n", "state", cli_col(c, col), m2m_update_state_name(st->state),
	       cli_col(c, CLI_RESET), st->state == M2M_UPDATE_INSTALLED ? ", awaiting the health check" : "");
	if (st->type[0])
		printf("  %-11s %s\n", "type", st->type);
	if (st->source[0])
		printf("  %-11s %s\n", "source", st->source);
	if (st->offset) {
		cli_human_bytes(st->offset, b, sizeof(b));
		printf("  %-11s %s\n", "downloaded", b);
	}
	if (st->slot[0])
		printf("  %-11s %s\n", "slot", st->slot);
	if (st->state != M2M_UPDATE_IDLE)
		printf("  %-11s %s%s%s%s%s\n", "result", st->result ? cli_col(c, CLI_RED) : "",
		       st->result ? m2m_rc_name(st->result) : "ok", st->message[0] ? ": " : "",
		       st->message, st->result ? cli_col(c, CLI_RESET) : "");
	if (st->time) {
		time_t t = (time_t)st->time;
		struct tm tm;

		localtime_r(&t, &tm);
		strftime(b, sizeof(b), "%Y-%m-%d %H:%M:%S", &tm);
		printf("  %-11s %s\n", "since", b);
	}
	printf("  %-11s %s\n", "installed", st->installed[0] ? st->installed : "(none recorded)");
	if (pending(st)[0])
		printf("  %-11s %s\n", "pending", pending(st));
	if (st->floor[0])
		printf("  %-11s %s (nothing older is accepted)\n", "floor", st->floor);
	printf("  %-11s %s\n", "next", next_words(st->next));
}

int cmd_status(struct opts *o, int argc, char **argv)
{
	struct m2m_update_status st;
	struct m2m_update_fw_info fw = { .version = M2M_UPDATE_FW_INFO_VERSION };
	struct m2m_err err;
	bool have;
	int rc;

	if (argc)
		return cli_error(&o->c, M2M_ERR_USAGE, "status: takes no arguments");
	rc = load_cfg(o);
	if (rc)
		return rc;
	m2m_err_clear(&err);
	if (m2m_update_status(o->cfg, &st, &err))
		return cli_fail(&o->c, &err);
	/* no firmware committed, or a damaged record: none shown (m2m_update_firmware claims none) */
	have = m2m_update_fw_info(o->cfg, &fw, &err) == M2M_OK;
	if (o->c.json) {
		json(&st, &fw, have);
	} else {
		text(&o->c, &st);
		if (have)
			text_fw(&o->c, &fw);
	}
	return M2M_OK;
}
