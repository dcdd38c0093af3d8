/*
 * m2mtokend: the event loop serving the flow IPC socket.
 *
 * Each connection has its own frame reader (daemon/common/ipc.h), fed
 * whatever bytes arrived: a client that stalls inside a frame holds only
 * its own buffer.  Replies go out without blocking (a client that does
 * not read is not read from until its reply is sent).  A connection idle
 * for [daemon] idle_timeout seconds is closed; past max_connections a
 * new connection is closed at once with a log line.
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

/*
 * Handles one call (exposed for tests): the frame to send back in
 * *ret_buf / *ret_len (free it); 0, or M2M_IPC_ERR_NO_MEMORY.
 */
int mtd_server_call(struct mtd *d, const struct m2m_peer *peer,
    const char *method, struct json_object *params, char **ret_buf,
    size_t *ret_len);

#endif /* M2MTOKEND_SERVER_H */
