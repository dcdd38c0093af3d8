/*
 * m2mtokend: the frame loop of one client-mode connection (docs/protocol.md
 * "Client mode: the PKCS#11 wire"), run by the worker process that the
 * daemon starts per connection (m2mtokend --pkcs11-worker, the connection
 * as fd 3).  Requests are served in order by p11srv.c; replies to every
 * whole frame read at once leave in one write.
 */
#ifndef M2MTOKEND_P11WORKER_H
#define M2MTOKEND_P11WORKER_H

#include <stddef.h>

#include <m2mtoken/pkcs11-m2m.h>

#include "p11srv.h"

/* The limits of one connection (docs/operations.md, [pkcs11]). */
struct mtd_p11worker_limits {
	size_t		 frame_max;	/* the largest body either way
					   (P11W_FRAME_MIN ..
					   P11W_FRAME_HARD_MAX) */
	unsigned int	 stall_s;	/* most seconds a frame may take to
					   arrive once begun (0: no limit) */
	unsigned int	 hello_s;	/* most seconds from the start to a
					   whole HELLO (0: no limit) */
	unsigned int	 idle_s;	/* most seconds between frames after
					   HELLO (0: no limit) */
};

/*
 * Serve the connection fd (a connected stream socket, blocking or not)
 * with the local module fl (loaded, not initialised: the client's
 * C_Initialize initialises it; C_Finalize, EOF or an error finalises it).
 * visible, arg: the slot filter of p11srv_new (NULL: every token).
 * lim: the limits above.  HELLO first, whole within lim->hello_s of the
 * start; every protocol error (a deadline missed is `stalled`) is
 * answered with its error frame and one log line, then the connection
 * ends.  Does not close fd.  Returns 0 after EOF, C_Finalize or a client
 * that has gone (a reset, a broken pipe), else the P11W_ERR_* that ended
 * it (or -1: a read or write failed otherwise).
 */
int	mtd_p11worker_run(int fd, CK_FUNCTION_LIST_3_0 *fl,
	    p11srv_visible_fn visible, void *arg,
	    const struct mtd_p11worker_limits *lim);

#endif /* M2MTOKEND_P11WORKER_H */
