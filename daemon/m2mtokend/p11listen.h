/*
 * m2mtokend: the client-mode socket ([pkcs11] socket; docs/protocol.md,
 * "Client mode: the PKCS#11 wire").  The daemon's event loop accepts a
 * connection, reads the caller's credentials (SO_PEERCRED), takes the
 * token patterns its [caller] rules grant (no rule with tokens names it:
 * a denied error frame, one log line, no worker), logs one line, and
 * starts one worker process for it: this program again,
 * "m2mtokend --pkcs11-worker -c CONFIG -- PATTERN...", with the
 * connection as fd 3 and no other descriptor.  At [pkcs11] max_clients
 * workers, or max_clients_per_uid of the caller's uid, a new connection
 * gets a busy error frame and is closed.
 * Workers are reaped on SIGCHLD (each exit logged) and sent SIGTERM when
 * the daemon stops.
 */
#ifndef M2MTOKEND_P11LISTEN_H
#define M2MTOKEND_P11LISTEN_H

#include <event2/event.h>

#include "conf.h"

#define MTD_P11_WORKER_ARG	"--pkcs11-worker"
#define MTD_P11_WORKER_FD	3	/* the connection, in the worker */
#define MTD_P11_PATTERNS_MAX	256	/* token patterns of one caller */

struct mtd_p11listen;

/*
 * A listener on fd (a listening AF_UNIX stream socket, owned from now
 * on) for the daemon whose configuration conf (kept, not owned) came from
 * conf_path (handed to every worker).  NULL when out of memory (fd is
 * closed then).
 */
struct mtd_p11listen *mtd_p11listen_new(const struct mtd_conf *conf,
    const char *conf_path, int fd);

/*
 * Serve on base: accept, SIGCHLD.  0, or -1 if an event could not be set
 * up (logged).
 */
int mtd_p11listen_start(struct mtd_p11listen *l, struct event_base *base);

/*
 * Stop accepting, SIGTERM every worker and wait for them (SIGKILL after
 * 2 s), close the socket, free l.  NULL is fine.
 */
void mtd_p11listen_free(struct mtd_p11listen *l);

/* Workers running now. */
unsigned int mtd_p11listen_workers(const struct mtd_p11listen *l);

#endif /* M2MTOKEND_P11LISTEN_H */
