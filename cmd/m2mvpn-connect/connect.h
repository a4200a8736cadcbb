/* SPDX-License-Identifier: MIT */
/* m2mvpn-connect: the subcommands kept in files of their own (this directory). */
#ifndef M2MVPN_CONNECT_H
#define M2MVPN_CONNECT_H

#include "cli/cli.h"
#include "m2m/config.h"

/* show.c */
int cmd_status(struct cli *c, struct m2m_config *cfg, int argc, char **argv);
int cmd_list(struct cli *c, struct m2m_config *cfg, int argc, char **argv);

#endif
