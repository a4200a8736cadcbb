/* SPDX-License-Identifier: MIT */
/*
 * m2m: the configuration model. One YAML file (see m2m.yaml(5)) is parsed and
 * validated into this structure by one validator; the tools' options override
 * single fields of it afterwards.
 */
#ifndef M2M_CONFIG_H
#define M2M_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m2m/m2m.h"

#ifdef __cplusplus
extern "C" {
#endif

#define M2M_CONFIG_DEFAULT_PATH "/etc/m2m/m2m.yaml"
#define M2M_CONFIG_ENV "M2M_CONFIG"
#define M2M_VICI_DEFAULT_URI "unix:///var/run/charon.vici"

enum m2m_vpn_mode {
	M2M_VPN_ON_DEMAND = 0,
	M2M_VPN_ALWAYS_ON = 1,
};

enum m2m_auth_method {
	M2M_AUTH_CERT = 0,     /* PEM certificate + PEM private key files */
	M2M_AUTH_PKCS12 = 1,   /* PKCS#12 file, optional PIN */
	M2M_AUTH_PKCS11 = 2,   /* key (and maybe certificate) on a PKCS#11 token, PIN */
	M2M_AUTH_TPM = 3,      /* persistent TPM 2.0 key + certificate file */
	M2M_AUTH_MACHINE = 4,  /* machine-bound key file + certificate file */
	M2M_AUTH_EAP = 5,      /* EAP-MSCHAPv2 user name + password */
	M2M_AUTH_CERT_EAP = 6, /* certificate, then EAP-MSCHAPv2 (RFC 4739) */
};

/*
 * Where a profile's certificate that a renewal replaced waits until the new one
 * is proven on the tunnel (m2mvpn-cert(1)): auth.cert with this suffix. The
 * enrolment writes it, m2m_vpn_up() settles it.
 */
#define M2M_CERT_PREV_SUFFIX ".prev"
/* The certificate of a new key, until both take the current ones' place (lib/vpn/renewed.c). */
#define M2M_CERT_NEXT_SUFFIX ".next"

struct m2m_vpn_profile {
	char *name;             /* key under vpn.profiles; [A-Za-z0-9_-], max 32 */
	char **gateways;        /* NULL-terminated; addresses or DNS names, >= 1 */
	char *remote_id;        /* gateway IKE identity; required */
	char *local_id;         /* our IKE identity; default: device.id */
	enum m2m_auth_method auth;
	char *cert;             /* CERT: PEM certificate path */
	char *key;              /* CERT: PEM private key path */
	char *pkcs12;           /* PKCS12: file path */
	struct m2m_secret_ref pin; /* PKCS12 (optional), encrypted PEM key, PKCS11 PIN, TPM auth value */
	char *module;           /* PKCS11: module path */
	char *token;            /* PKCS11: token label (NULL: the only token) */
	char *key_id;           /* PKCS11: CKA_ID in hex */
	char *tcti;             /* TPM: TCTI; NULL: M2M_TPM_DEFAULT_TCTI */
	uint32_t handle;        /* TPM: persistent handle; 0: M2M_TPM_DEFAULT_HANDLE */
	char *eap_id;           /* EAP, CERT_EAP: EAP identity; NULL: local_id */
	struct m2m_secret_ref password; /* EAP, CERT_EAP: where the password comes from */
	char **ca;              /* NULL-terminated CA certificate paths (gateway trust), >= 1 */
	char **proposals;       /* IKE proposals; NULL = charon default */
	char **esp_proposals;   /* ESP proposals; NULL = charon default */
	char **local_ts;        /* NULL = dynamic */
	char **remote_ts;       /* required, >= 1 (CIDR) */
	bool virtual_ip;        /* request a virtual IP (vips = 0.0.0.0) */
	enum m2m_vpn_mode mode;
	bool fail_closed;       /* hold protected traffic while the tunnel is down */
	bool mobike;            /* default true */
	unsigned dpd_delay_ms;  /* 0 = off; default 10 s for always-on, 0 on-demand */
	unsigned rekey_ms;      /* IKE rekey time; 0 = charon default */
	struct m2m_backoff retry_network; /* default 1 s .. 60 s */
	struct m2m_backoff retry_auth;    /* default 5 min .. 1 h */
	unsigned timeout_ms;    /* default --timeout for up; default 30 s */
};

enum m2m_dm_security {
	M2M_DM_NOSEC = 0, /* plain CoAP: only when the config says so */
	M2M_DM_PSK = 1,   /* DTLS 1.2 with a pre-shared key */
	M2M_DM_X509 = 2,  /* DTLS 1.2 with a certificate (PEM file) and its key (PEM file or token) */
};

enum m2m_dm_binding {
	M2M_DM_BINDING_U = 0,  /* always reachable over UDP */
	M2M_DM_BINDING_UQ = 1, /* queue mode: reachable only after we sent something */
};

/* The device management (OMA LwM2M) section, dm: in m2m.yaml(5). */
struct m2m_dm_config {
	bool enabled;           /* the section is present */
	char *server;           /* coap://host[:port] or coaps://host[:port] */
	char *bootstrap;        /* bootstrap server URI, or NULL */
	char *endpoint;         /* endpoint client name; default device.id */
	enum m2m_dm_security security;
	char *psk_identity;     /* PSK: identity (not secret) */
	struct m2m_secret_ref psk_key; /* PSK: where the key comes from */
	char *cert, *key, *ca;  /* X509: PEM files (ca: the server's CA); key NULL if on a token */
	char *key_module;       /* X509, key on a PKCS#11 token: module path (NULL: key is a file) */
	char *key_token;        /* X509, token: token label (NULL: any token holding the key) */
	char *key_id;           /* X509, token: the key's CKA_ID in hex */
	bool key_tpm;           /* X509: the key is in a TPM (key_tcti, key_handle) */
	char *key_tcti;         /* X509, TPM: TCTI; NULL: M2M_TPM_DEFAULT_TCTI */
	uint32_t key_handle;    /* X509, TPM: persistent handle; 0: M2M_TPM_DEFAULT_HANDLE */
	struct m2m_secret_ref key_pin; /* X509, token: the user PIN; TPM: the auth value (optional) */
	unsigned lifetime_ms;   /* registration lifetime; default 300 s */
	enum m2m_dm_binding binding;
	unsigned queue_window_ms; /* --report: stay reachable this long; default 93 s */
	unsigned jitter_ms;     /* --report: random delay before the first packet; default 0 */
	unsigned timeout_ms;    /* bound of one --report run; default 120 s */
	unsigned block_size;    /* largest CoAP block we send (16..1024, a power of 2); default 1024 */
	size_t max_body;        /* largest body taken from the server (a request's, an answer's):
				   1 KiB..16 MiB; default 64 KiB */
	char *location;         /* file with "lat lon [alt [radius]]" for object 6 */
	char *reboot_hook;      /* executable run by Device Reboot (/3/0/4) */
	char *factory_reset_hook; /* executable run by Factory Reset (/3/0/5) */
};

/*
 * A VPN profile's enroll: section (vpn.profiles.NAME.enroll in m2m.yaml(5)):
 * the certificate of the profile's key obtained and renewed over CMP (RFC
 * 9483's profile of RFC 4210) from the CA's server, so that no certificate is
 * carried to the device.
 */
struct m2m_enroll_config {
	char *server;             /* http(s)://host[:port]/path of the CA's CMP server */
	char *trust;              /* PEM file: trust anchors of the CA's signed answers
				     and of the certificates it issues (required) */
	char *recipient;          /* the CA's name (a DN), or NULL */
	char *reference;          /* MAC protection: the reference value the CA gave
				     with the secret; NULL: signed with the profile's
				     certificate and key */
	struct m2m_secret_ref secret; /* MAC protection: where the shared secret comes from */
	char *subject;            /* DN asked for; default CN=<the profile's local_id> */
	char **sans;              /* NULL-terminated; default the profile's local_id */
	unsigned timeout_ms;      /* bound of one run; default 30 s */
	char *tls_ca;             /* https: PEM file of the CA certificates of the
				     server's TLS certificate; NULL: the system's */
};

/*
 * The update engine's section, update: in m2m.yaml(5): whom packages must be
 * signed by, what this device accepts, where downloads go, the bounds, the
 * health check that decides commit or roll back, and the installers.
 */
struct m2m_update_config {
	char *trust;              /* PEM file: the trust anchor(s) of package signers (required) */
	char *model;              /* this device's model; default device.model */
	unsigned signatures;      /* distinct signers a firmware package needs: 1 or 2; default 1 */
	char **downgrades;        /* NULL-terminated exact versions allowed below the installed one, or NULL */
	char *download_dir;       /* absolute; default <state_dir>/update */
	uint64_t max_size;        /* the largest package, bytes; default 1 GiB */
	unsigned timeout_ms;      /* bound of one check or install run; default 1 h */
	unsigned health_timeout_ms; /* health.timeout: bound of the health check; default 5 min */
	char **health_profiles;   /* health.profiles: NULL-terminated VPN profile names, or NULL */
	bool health_dm;           /* health.dm: registration must succeed; default: a dm: section exists */
	bool rauc;                /* installers.rauc is configured */
	char *rauc_config;        /* installers.rauc.config: RAUC's system.conf, or NULL: RAUC's own */
	char *script;             /* installers.script.path: the script installer, or NULL */
	unsigned script_timeout_ms; /* installers.script.timeout; default 10 min */
	/* appended */
	char *ca;                 /* https pulls: the CA file servers chain to; NULL: the system's */
	/* appended: floor: where the anti-rollback floor is kept */
	bool floor_tpm;            /* floor: {tpm: ...}: a TPM NV index; false: floor: file (default) */
	char *floor_tcti;          /* floor.tpm.tcti; NULL: M2M_TPM_DEFAULT_TCTI */
	uint32_t floor_index;      /* floor.tpm.index: the NV index, 0x01000000-0x01bfffff */
	/* appended */
	unsigned jitter_ms;        /* check: the window of its delay before a download; default 10 min */
};

/* What a policy does when it is broken (policy: in m2m.yaml(5)). */
enum m2m_policy_action {
	M2M_POLICY_LOG = 0,        /* the audit log says so, nothing more */
	M2M_POLICY_QUARANTINE = 1, /* the device is cut off but for its management */
};

/*
 * The policy: section of m2m.yaml(5): what the device watches (where it is,
 * its SIM, its case) and what it does when a policy is broken. A policy
 * whose section is absent is not looked at.
 */
struct m2m_policy_config {
	unsigned timeout_ms;        /* bound of one check; default 30 s */
	/* location: the device stays within a circle */
	bool location;              /* location: is present */
	char *gpsd_host;            /* location.gpsd host; default localhost */
	char *gpsd_port;            /* location.gpsd port; default 2947 */
	double fence_lat, fence_lon; /* location.fence: the centre, degrees (WGS84) */
	double fence_radius_m;      /* location.fence.radius, metres */
	unsigned max_age_ms;        /* location.max_age: an older fix is none; default 5 min */
	enum m2m_policy_action outside; /* location.outside; default quarantine */
	enum m2m_policy_action no_fix;  /* location.no_fix; default log */
	/* sim: the device keeps its SIM */
	bool sim;                   /* sim: is present */
	char *sim_bus;              /* sim.bus: a D-Bus address; NULL: the system bus */
	char *sim_iccid;            /* sim.iccid: the card it is bound to; NULL: the first seen */
	enum m2m_policy_action sim_changed; /* sim.changed; default quarantine */
	/* tamper: the device's case stays shut */
	bool tamper;                /* tamper: is present */
	char *tamper_input;         /* tamper.input: a file whose first word is the switch's state */
	char *tamper_open;          /* tamper.open: the word that means open; default "1" */
	enum m2m_policy_action tamper_opened; /* tamper.opened; default quarantine */
	/* quarantine: what still passes */
	char **quarantine_allow;    /* quarantine.allow: NULL-terminated CIDR prefixes, or NULL */
	/* server: what the management server may order (object 33811); M2M_POLICY_ORDER_* */
	unsigned server_orders;     /* default M2M_POLICY_ORDER_RELEASE */
	/* counters: security events counted over a window, by kind (m2m_policy_counter_name) */
	struct m2m_policy_count {
		unsigned threshold;     /* events within the window that break it; 0: not counted */
		unsigned window_ms;     /* default 1 h, at most 24 h */
		enum m2m_policy_action action; /* default quarantine */
	} counters[3];              /* M2M_POLICY_N_COUNTERS */
};

/* The security events a policy counts (policy.counters; lib/state's m2m_state_event). */
enum m2m_policy_counter {
	M2M_COUNTER_VPN_AUTH = 0,         /* "vpn-auth": a tunnel's authentication failed, either side */
	M2M_COUNTER_UPDATE_INTEGRITY = 1, /* "update-integrity": a package's signature or hash wrong */
	M2M_COUNTER_PIN = 2,              /* "pin": a key store refused a PIN */
};
#define M2M_POLICY_N_COUNTERS 3
/* "vpn-auth", "update-integrity", "pin"; NULL for another value */
const char *m2m_policy_counter_name(enum m2m_policy_counter c);

/* What the management server may order through object 33811 (policy.server). */
#define M2M_POLICY_ORDER_RELEASE 1u /* lift the quarantine */
#define M2M_POLICY_ORDER_WIPE 2u    /* decommission the device (m2m_wipe) */

struct m2m_config {
	char *path;             /* the file this came from */
	struct {
		char *id;           /* device identity (also the default IKE identity) */
		char *serial;
		char *manufacturer;
		char *model;
	} device;
	struct {
		char *vici;         /* charon VICI URI, default M2M_VICI_DEFAULT_URI */
	} charon;
	char *state_dir;        /* default M2M_STATE_DEFAULT_DIR */
	struct m2m_vpn_profile *profiles;
	size_t n_profiles;
	struct m2m_dm_config dm;
	/* appended: the library allocates struct m2m_config, so it grows at its end */
	struct m2m_update_config *update; /* NULL: no update: section */
	/* appended */
	char **dm_send;           /* dm.send: NULL-terminated LwM2M paths ("/3/0/9") a
				     --report sends (LwM2M 1.1 Send); NULL: none */
	/* appended */
	struct m2m_enroll_config **enroll; /* n_profiles entries, profiles[i]'s enroll:
					      section or NULL; see m2m_config_enroll() */
	/* appended */
	struct m2m_policy_config *policy; /* NULL: no policy: section */
};

/*
 * Resolve which file to read: explicit path (from --config) wins, then
 * $M2M_CONFIG, then M2M_CONFIG_DEFAULT_PATH. Returns a static or given string.
 */
const char *m2m_config_path(const char *explicit_path);

/*
 * Load and validate a config file (path NULL: the one m2m_config_path(NULL)
 * names). Refuses a file (or its directory) that is writable by anyone but
 * root or its owner running the tool. Every problem, a missing file included,
 * is M2M_ERR_CONFIG with a one-line message naming
 * "file:line:column: what is wrong; expected what".
 */
int m2m_config_load(const char *path, struct m2m_config **out, struct m2m_err *err);
/* Same, from a buffer; name is used in messages. No permission checks. */
int m2m_config_parse(const char *name, const char *buf, size_t len,
		     struct m2m_config **out, struct m2m_err *err);
void m2m_config_free(struct m2m_config *cfg);

const struct m2m_vpn_profile *m2m_config_profile(const struct m2m_config *cfg,
						  const char *name);
/* The enroll: section of profile p (one of cfg's), or NULL if it has none. */
const struct m2m_enroll_config *m2m_config_enroll(const struct m2m_config *cfg,
						  const struct m2m_vpn_profile *p);

/* An auth method as m2m.yaml(5) writes it: "cert", "pkcs12", ..., "cert+eap"; "unknown". */
const char *m2m_auth_method_name(enum m2m_auth_method m);
/*
 * Where the key of an auth method lives, as the tools (--json "store") and
 * the LwM2M VPN object name it: "file" (cert, cert+eap), "pkcs12",
 * "pkcs11", "tpm", "machine", "none" (eap); "unknown" for no method.
 */
const char *m2m_auth_key_store(enum m2m_auth_method m);
/* The same for the dm section's DTLS key (security x509): "file", "pkcs11" or "tpm". */
const char *m2m_dm_key_store(const struct m2m_dm_config *dm);

#ifdef __cplusplus
}
#endif
#endif
