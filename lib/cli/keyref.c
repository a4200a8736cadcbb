/* SPDX-License-Identifier: MIT */
/*
 * The key-reference options that every tool naming a key takes alike
 * (m2mvpn-cert's keys, m2mdm-update sign's signers): --store, --key,
 * --module, --token, --id, --label, --tcti, --handle, checked here once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cli/cli.h"
#include "m2m/keystore.h"

int cli_key_ref_option(const struct cli *c, const char *name, const char *arg,
		       struct m2m_key_ref *ref)
{
	unsigned long h;
	char *end;

	if (strcmp(name, "store") == 0) {
		if (!m2m_key_store_parse(arg, &ref->store))
			return cli_error(c, M2M_ERR_USAGE,
					 "--store '%s': expected file, tpm, pkcs11 or machine", arg);
	} else if (strcmp(name, "key") == 0) {
		ref->path = arg;
	} else if (strcmp(name, "module") == 0) {
		ref->module = arg;
	} else if (strcmp(name, "token") == 0) {
		ref->token = arg;
	} else if (strcmp(name, "id") == 0) {
		ref->id = arg;
	} else if (strcmp(name, "label") == 0) {
		ref->label = arg;
	} else if (strcmp(name, "tcti") == 0) {
		if (!m2m_tcti_allowed(arg))
			return cli_error(c, M2M_ERR_USAGE,
					 "--tcti '%s': expected device[:/dev/tpm...], tabrmd, mssim or swtpm",
					 arg);
		ref->tcti = arg;
	} else if (strcmp(name, "handle") == 0) {
		errno = 0;
		h = strtoul(arg, &end, 16);
		if (errno || *end || h < 0x81000000ul || h > 0x81fffffful)
			return cli_error(c, M2M_ERR_USAGE,
					 "--handle '%s': expected a persistent handle 0x81000000-0x81ffffff",
					 arg);
		ref->handle = (uint32_t)h;
	} else {
		return -1;
	}
	return M2M_OK;
}
