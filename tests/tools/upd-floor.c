/* SPDX-License-Identifier: MIT */
/*
 * upd-floor: the anti-rollback floor's two calls (lib/update/journal.h,
 * struct upd_floor_ops) against the file backend or the TPM backend, for
 * tests/integration/306-update-floor-tpm.t.
 *
 *   upd-floor WHERE get NAME            prints the floor of NAME ("" if none)
 *   upd-floor WHERE raise NAME VERSION  raises it (a lower version: nothing)
 *
 *   WHERE is one of
 *     state=DIR                  the file backend in the state directory DIR
 *     tcti=TCTI index=0xHANDLE   the TPM backend at that NV index
 *     config=FILE                what m2m.yaml's update.floor says (file: in
 *                                its state_dir)
 *   Exit: the call's enum m2m_rc; its message on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "m2m/config.h"
#include "state/state.h"
#include "update/floor.h"
#include "update/journal.h"

static int usage(void)
{
	fprintf(stderr, "usage: upd-floor state=DIR|tcti=TCTI index=0xN|config=FILE "
			"get NAME | raise NAME VERSION\n");
	return M2M_ERR_USAGE;
}

int main(int argc, char **argv)
{
	struct m2m_update_config tcfg = { 0 };
	const struct m2m_update_config *ucfg = NULL;
	const char *state = NULL, *config = NULL;
	struct m2m_config *cfg = NULL;
	const struct upd_floor_ops *ops;
	struct m2m_err err = { 0 };
	struct m2m_state st = { .dirfd = -1 };
	char version[64];
	void *ctx = NULL;
	int i, rc;

	for (i = 1; i < argc && strchr(argv[i], '='); i++) {
		if (strncmp(argv[i], "state=", 6) == 0)
			state = argv[i] + 6;
		else if (strncmp(argv[i], "config=", 7) == 0)
			config = argv[i] + 7;
		else if (strncmp(argv[i], "tcti=", 5) == 0)
			tcfg.floor_tcti = argv[i] + 5;
		else if (strncmp(argv[i], "index=", 6) == 0)
			tcfg.floor_index = (uint32_t)strtoul(argv[i] + 6, NULL, 16);
		else
			return usage();
	}
	if (i >= argc || !((strcmp(argv[i], "get") == 0 && argc - i == 2) ||
			   (strcmp(argv[i], "raise") == 0 && argc - i == 3)))
		return usage();
	if (config) {
		rc = m2m_config_load(config, &cfg, &err);
		if (rc)
			goto out;
		if (!cfg->update) {
			rc = m2m_err_set(&err, M2M_ERR_CONFIG, "%s: no update: section", config);
			goto out;
		}
		ucfg = cfg->update;
		if (!ucfg->floor_tpm)
			state = cfg->state_dir ? cfg->state_dir : M2M_STATE_DEFAULT_DIR;
	} else if (tcfg.floor_index) {
		tcfg.floor_tpm = true;
		ucfg = &tcfg;
	}
	if (state) {
		rc = m2m_state_open(&st, state, &err);
		if (rc)
			goto out;
		ops = &upd_floor_file_ops;
		ctx = &st;
	} else if (ucfg) {
		rc = upd_floor_tpm_open(ucfg, &ctx, &err);
		if (rc)
			goto out;
		ops = &upd_floor_tpm_ops;
	} else {
		return usage();
	}
	if (strcmp(argv[i], "get") == 0) {
		rc = ops->get(ctx, argv[i + 1], version, sizeof(version), &err);
		if (!rc)
			printf("%s\n", version);
	} else {
		rc = ops->raise(ctx, argv[i + 1], argv[i + 2], &err);
	}
	if (!state)
		upd_floor_tpm_close(ctx);
out:
	if (st.dirfd >= 0)
		m2m_state_close(&st);
	m2m_config_free(cfg);
	if (rc)
		fprintf(stderr, "upd-floor: %s\n", err.msg);
	return rc;
}
