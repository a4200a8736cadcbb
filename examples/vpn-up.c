/*
 * The C API in a payment application: bring the tunnel up before talking to
 * the payment host, with the same result codes the tools exit with.
 *   cc -o vpn-up vpn-up.c $(pkg-config --cflags --libs libm2m)
 *   ./vpn-up pos            (config from $M2M_CONFIG or /etc/m2m/m2m.yaml)
 */
#include <stdio.h>

#include <m2m/config.h>
#include <m2m/m2m.h>
#include <m2m/vpn.h>

int main(int argc, char **argv)
{
	struct m2m_config *cfg = NULL;
	struct m2m_vpn *vpn = NULL;
	struct m2m_vpn_status st;
	struct m2m_err err = { 0 };
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: %s PROFILE\n", argv[0]);
		return M2M_ERR_USAGE;
	}
	rc = m2m_config_load(NULL, &cfg, &err);
	if (!rc)
		rc = m2m_vpn_open(cfg, &vpn, &err);
	if (!rc)
		rc = m2m_vpn_up(vpn, argv[1], 20000, &st, &err);
	if (rc) {
		fprintf(stderr, "vpn-up: %s (%s)\n", err.msg, m2m_rc_name(rc));
	} else {
		printf("%s is %s", argv[1], m2m_vpn_state_name(st.state));
		if (st.n_vips)
			printf(", our address in the tunnel is %s", st.vips[0]);
		printf("\n");
	}
	m2m_vpn_close(vpn);
	m2m_config_free(cfg);
	return rc;
}
