/*
 * m2mtokend: serves the calls of one client-mode connection (the module
 * in client mode, docs/protocol.md "Client mode: the PKCS#11 wire") on
 * the local module's function list.  Used by the worker process that the
 * daemon starts for each such connection (p11worker.c): the worker reads
 * frames, handles HELLO itself, and hands every other request body here.
 *
 * Sessions, handles and logins live in the worker's own instance of the
 * module, so they belong to that connection alone and end with it.  The
 * token's store is shared by every connection: a call that would create,
 * copy, generate, derive, unwrap, change or destroy a token object in a
 * session not logged in (as the user or the SO) gets
 * CKR_USER_NOT_LOGGED_IN and a log line, before the module sees it;
 * session objects stay free.
 */
#ifndef M2MTOKEND_P11SRV_H
#define M2MTOKEND_P11SRV_H

#include <stddef.h>
#include <stdint.h>

#include <m2mtoken/pkcs11-m2m.h>

#include "p11wire.h"

struct p11srv;

/*
 * May this connection see the token labelled label (32 bytes, blank
 * padded, as CK_TOKEN_INFO has it; all blanks for a token not yet
 * initialised)?  1 or 0.
 */
typedef int	(*p11srv_visible_fn)(void *arg, const CK_UTF8CHAR label[32]);

/*
 * A server over fl (the local module: loaded, not initialised by this
 * process yet; the client's C_Initialize initialises it).  Slots whose
 * token visible() refuses do not exist for this connection
 * (CKR_SLOT_ID_INVALID, left out of C_GetSlotList); a C_InitToken that
 * would give a token a label visible() refuses fails with
 * CKR_TOKEN_WRITE_PROTECTED and a log line.  frame_max: the largest reply
 * body.  NULL when out of memory.
 */
struct p11srv	*p11srv_new(CK_FUNCTION_LIST_3_0 *fl, p11srv_visible_fn visible,
		    void *arg, size_t frame_max);

/*
 * One request: the body of a frame whose code is call (any P11W_CALL_*
 * but HELLO).  0 (P11W_OK): reply (reset by the caller) holds the reply
 * body, whose first field is the call's CK_RV.  Else a P11W_ERR_*
 * (MALFORMED: the body does not decode as call's arguments; ORDER: an
 * unknown call; INTERNAL: out of memory) with a one-line reason in err;
 * the worker then sends the error frame and closes.
 */
int		 p11srv_call(struct p11srv *s, uint32_t call,
		    const uint8_t *body, size_t len, struct p11w_buf *reply,
		    char *err, size_t errlen);

/*
 * The connection ended (EOF, error, protocol error): C_Finalize when the
 * client had initialised and not finalised, so that its sessions, logins
 * and session objects end here.  NULL is fine.
 */
void		 p11srv_free(struct p11srv *s);

#endif /* M2MTOKEND_P11SRV_H */
