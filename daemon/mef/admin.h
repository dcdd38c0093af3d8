/*
 * m2m-mef: the administration commands (enrolee, target).  Each returns
 * the process exit status: 0 done, 1 refused or failed (one line on stderr
 * says why and what to do), 2 usage error.
 *
 * Order of the two writes (a key in the token, a row in the registry):
 *   add:    import the key, then write the row; if the row fails, destroy
 *           the key.  A crash between leaves a key no row names: harmless
 *           (every request of its identity is refused) and replaced by the
 *           next add of the same ID.
 *   remove: delete the row (for an enrolee with its KeIds, in one
 *           transaction), then destroy the keys.  A crash between leaves
 *           keys no row names; the next remove of the same ID destroys
 *           them, and the server destroys orphan Ke objects at start.
 */
#ifndef M2M_MEF_ADMIN_H
#define M2M_MEF_ADMIN_H

#include "conf.h"

int	mef_cmd_enrolee(const struct mef_conf *c, int argc, char **argv);
int	mef_cmd_target(const struct mef_conf *c, int argc, char **argv);

/* ke list | ke purge: the issued KeIds; purge forgets the expired ones. */
int	mef_cmd_ke(const struct mef_conf *c, int argc, char **argv);

/* The usage of command cmd on stdout: 0, or 2 for an unknown command. */
int	mef_cmd_help(const char *cmd);

#endif /* M2M_MEF_ADMIN_H */
