/*
 * m2mtokend: the event loop serving the flow IPC socket.
 *
 * Each connection has its own frame reader (daemon/common/ipc.h), fed
 * whatever bytes arrived: a client that stalls inside a frame holds only
 * its own buffer.  Replies go out without blocking (a client that does
 * not read is not read from until its reply is sent).  Calls that talk
 * to the MEF (Bootstrap, FetchCredentials) run their exchange in a worker
 * thread, one at a time in arrival order, while the loop serves everyone
 * else; their connection waits for its reply.  A connection idle
 * for [daemon] idle_timeout seconds is closed, and so is one whose frame
 * is not whole within idle_timeout of its first byte, or whose reply is
 * not taken within idle_timeout; past max_connections, or
 * max_connections_per_uid of the caller's uid, a new connection is
 * closed at once with a log line.
 */
#ifndef M2MTOKEND_SERVER_H
#define M2MTOKEND_SERVER_H

#include "methods.h"

/*
 * Serves listen_fd (a listening AF_UNIX stream socket) until SIGTERM or
 * SIGINT.  ready() is called once the loop is set up (sd_notify).
 * 0, or -1 if the loop could not be set up (logged).
 */
int mtd_server_run(struct mtd *d, int listen_fd, void (*ready)(void));

/* A call waiting for its MEF exchange. */
struct mtd_pending {
	struct mtd_job		*job;		/* NULL: none */
	const struct mtd_method	*m;
	const char		*rule;		/* the ACL's, static */
	char			 keyid[MTD_ID_MAX + 1];
	int			 has_key;
};

/*
 * Handles one call: the frame to send back in *ret_buf / *ret_len (free
 * it), or, for a call that must talk to the MEF, *ret_buf NULL and
 * ret_pending->job set: run mtd_job_run(job) (any thread), then
 * mtd_server_finish().  0, or M2M_IPC_ERR_NO_MEMORY.
 */
int mtd_server_call(struct mtd *d, const struct m2m_peer *peer,
    const char *method, struct json_object *params, char **ret_buf,
    size_t *ret_len, struct mtd_pending *ret_pending);

/* The reply of a pending call whose job has run; frees the job. */
int mtd_server_finish(struct mtd *d, const struct m2m_peer *peer,
    struct mtd_pending *p, char **ret_buf, size_t *ret_len);

#endif /* M2MTOKEND_SERVER_H */
