/* SPDX-License-Identifier: MIT */
/* The certificate a key store keeps with the key (a token, a PKCS#12 file), as facts. */
#include <stdlib.h>

#include "m2m/keystore.h"
#include "m2m/pki.h"

int m2m_cert_info_key(struct m2m_key *k, struct m2m_cert_info *ci, struct m2m_err *err)
{
	unsigned char *der = NULL;
	size_t len = 0;
	int rc = m2m_key_cert_der(k, &der, &len, err);

	if (!rc)
		rc = m2m_cert_info_der(der, len, ci, err);
	free(der);
	return rc;
}
