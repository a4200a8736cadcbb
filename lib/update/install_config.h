/* SPDX-License-Identifier: MIT */
/*
 * The installer of configuration packages (manifest installer "config"): the
 * toolkit's own, so it has no backend in install.h. A new m2m.yaml replaces
 * the current one atomically, the current one kept beside it as
 * <config_path>.prev until the health check commits or rolls back.
 *
 * payload is the path of the verified payload file (the new m2m.yaml); every
 * call may be repeated, also after a power cut at any point (install_config.c
 * says why each state is safe), and the engine's journal does repeat them.
 */
#ifndef M2M_UPDATE_INSTALL_CONFIG_H
#define M2M_UPDATE_INSTALL_CONFIG_H

#include <stdbool.h>

#include "m2m/m2m.h"

/* The largest configuration accepted. */
#define UPD_CONFIG_MAX (1024u * 1024u)

/*
 * Validate payload as m2m_config_parse() does (relative paths against
 * config_path's directory, as when it is loaded there): CONFIG with its
 * file:line:column message if invalid; REFUSED if it has no update: section
 * or names a trust anchor file that cannot be read (the device could never
 * be updated again). Then keep the current file as <config_path>.prev and
 * replace config_path, each atomically (a temporary file in the same
 * directory, fsync, rename, fsync of the directory), with the current
 * file's owner and its mode cut to 0640 at most. OK at once when
 * config_path already holds the payload. BUSY if a .prev of an earlier
 * update is still there (neither committed nor rolled back); NOT_FOUND if
 * config_path does not exist.
 */
int upd_config_install(const char *config_path, const char *payload, struct m2m_err *err);
/*
 * The same for new trust anchors over trust_path (update.trust): REFUSED
 * unless the payload is PEM certificates, at least one, each a CA.
 */
int upd_trust_install(const char *trust_path, const char *payload, struct m2m_err *err);
/*
 * What install would refuse, found before anything is touched (the engine
 * asks before the install, so that a refusal ends the update as failed and
 * no rollback touches a .prev that is not this update's): the payload's
 * validation (trust: as upd_trust_install's), and BUSY for a .prev of
 * another update. A new configuration may not move state_dir,
 * update.download_dir or update.floor (REFUSED).
 */
int upd_config_check(const char *path, const char *payload, bool trust, struct m2m_err *err);
/* The new configuration (or trust) is good: remove <config_path>.prev (OK if there is none). */
int upd_config_commit(const char *config_path, struct m2m_err *err);
/* Put <config_path>.prev back over config_path, atomically, and remove it (OK if none). */
int upd_config_rollback(const char *config_path, struct m2m_err *err);

#endif
