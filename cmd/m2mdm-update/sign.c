/* SPDX-License-Identifier: MIT */
/* m2mdm-update sign: the vendor side, a package from a manifest, a payload and signers' keys. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "base/base.h"
#include "cli/cli.h"
#include "m2m/keystore.h"
#include "m2m/update.h"

#include "upd.h"

int cmd_sign(struct opts *o, int argc, char **argv)
{
	struct m2m_update_signer s[MAX_SIGNERS] = { { 0 } };
	struct m2m_key *keys[MAX_SIGNERS] = { 0 };
	struct m2m_err err;
	struct stat sb;
	char *manifest = NULL;
	size_t len = 0;
	int rc, n = o->n_signers;

	if (argc)
		return cli_error(&o->c, M2M_ERR_USAGE, "sign: takes no arguments (--manifest, --payload, --out)");
	if (!o->manifest || !o->payload || !o->out)
		return cli_error(&o->c, M2M_ERR_USAGE, "sign: needs --manifest FILE, --payload FILE and --out FILE");
	if (o->signers[n].named)
		return cli_error(&o->c, M2M_ERR_USAGE, "sign: the last signer's key has no --cert");
	if (n == 0)
		return cli_error(&o->c, M2M_ERR_USAGE, "sign: who signs? give a key (--key FILE, or --store and its options) and its --cert");
	/* a key store that does not answer (a frozen TPM resource manager) ends the command in time */
	m2m_keystore_set_deadline(m2m_now_ms() + (o->c.timeout_ms ? o->c.timeout_ms : M2M_KEYSTORE_DEFAULT_MS));
	m2m_err_clear(&err);
	rc = m2m_read_file(o->manifest, 64 * 1024, &manifest, &len, &err);
	for (int i = 0; !rc && i < n; i++) {
		if (!o->signers[i].have_store && !o->signers[i].ref.path)
			rc = m2m_err_set(&err, M2M_ERR_USAGE, "signer %d (--cert %s): which key? give --key or --store",
					 i + 1, o->signers[i].cert);
		else
			rc = m2m_key_open(&o->signers[i].ref, &keys[i], &err);
		s[i] = (struct m2m_update_signer){ keys[i], o->signers[i].cert, o->signers[i].chain };
	}
	if (!rc)
		rc = m2m_update_sign(manifest, len, o->payload, s, (size_t)n, o->out, &err);
	for (int i = 0; i < n; i++)
		m2m_key_close(keys[i]);
	free(manifest);
	if (rc)
		return cli_fail(&o->c, &err);
	if (!o->c.quiet && stat(o->out, &sb) == 0)
		printf("%s: %lld bytes, signed by %d key%s\n", o->out, (long long)sb.st_size, n,
		       n == 1 ? "" : "s");
	return M2M_OK;
}
