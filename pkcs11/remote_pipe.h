/*
 * m2mtoken: what client mode knows of its sessions' sign and verify
 * operations, to decide when a C_SignInit or C_VerifyInit may be
 * pipelined (docs/protocol.md, "Pipelined operation init"): sent without
 * waiting for its reply, its answer taken to be the CKR_OK the same init
 * got before.  remote.c calls these with its connection's lock held; the
 * table has no lock of its own.  No I/O here.
 *
 * The rule: a session's init may be pipelined when the same session got
 * CKR_OK from the daemon for an init of the same call, mechanism (type and
 * parameter bytes, a mechanism of rp_mech_ok) and key, in the connection's
 * current epoch (rp_keeps_epoch: every other call moves it on, before and
 * after), and the session is known to have no operation active (an
 * operation of its kind ended since, by the PKCS#11 rules).  When unsure,
 * the answer is no.
 */
#ifndef M2M_REMOTE_PIPE_H
#define M2M_REMOTE_PIPE_H

#include <stdint.h>

#include <m2mtoken/pkcs11-m2m.h>

#include "codec.h"

#define RP_SIGN		0
#define RP_VERIFY	1
#define RP_PARAM_MAX	32	/* most parameter bytes a cached init keeps */

/* 1 when call changes nothing an init could answer (the allow-list). */
int	rp_keeps_epoch(uint32_t call);

/* 1 for a mechanism whose parameter carries nothing back (HMAC, ECDSA). */
int	rp_mech_ok(CK_MECHANISM_TYPE type);

/*
 * 1 when call is one that reads or changes the table: the arguments a[]
 * (codec.h order) then go to rp_take_pending and rp_after.
 */
int	rp_tracks(uint32_t call);

/*
 * May the init call (C_SignInit or C_VerifyInit, arguments a[]) be
 * pipelined at epoch?  1 and *ret_gen (the session entry's generation,
 * for rp_init_reply) when it may; then the caller holds its frame and
 * calls rp_pipelined.  0 otherwise.
 */
int	rp_may_pipeline(uint32_t call, const struct p11w_arg *a,
	    uint64_t epoch, uint64_t *ret_gen);

/*
 * The init call on session h was pipelined as request id, the seq'th
 * request of the connection (seq counts from 1, never wraps).
 */
void	rp_pipelined(uint32_t call, CK_SESSION_HANDLE h, uint32_t id,
	    uint64_t seq);

/*
 * The reply rv to the pipelined init id of call on session h (entry
 * generation gen).  1 when rv is an error recorded as the session's
 * pending error (the caller logs it), else 0 (CKR_OK, or the session was
 * closed or cancelled since: the error is dropped with it).
 */
int	rp_init_reply(uint32_t call, CK_SESSION_HANDLE h, uint64_t gen,
	    uint32_t id, CK_RV rv);

/*
 * Before the reply to call (arguments a[], the seq'th request) is
 * decoded: the pending error of a pipelined init of the same operation on
 * its session, taken (the call returns it instead of its own result,
 * whose outputs are not written), or CKR_OK.  *ret_earlier is 1 when call
 * was sent before the session's last pipelined init (two threads on one
 * session): its own reply stands, no pending error is taken, and the
 * caller passes substituted 1 to rp_after (the session's state is not
 * known).  Else *ret_overtaken is 1 when the session's pipelined init has
 * no reply yet: the reply to a later request came first, which the
 * worker's in-order replies rule out (the caller fails the connection).
 */
CK_RV	rp_take_pending(uint32_t call, const struct p11w_arg *a,
	    uint64_t seq, int *ret_overtaken, int *ret_earlier);

/*
 * After call (arguments a[]) returned rv over the wire (substituted: 1
 * when rv is a pending error from rp_take_pending, or the call was sent
 * before the session's last pipelined init).  epoch0 and epoch1:
 * the connection's epoch when the call began and now; an init answered
 * CKR_OK is remembered for pipelining only when they are equal.
 */
void	rp_after(uint32_t call, const struct p11w_arg *a, CK_RV rv,
	    int substituted, uint64_t epoch0, uint64_t epoch1);

/* Forget every session (C_Finalize, a failed C_Initialize, a fork). */
void	rp_clear(void);

/* Sessions in the table (for tests). */
size_t	rp_count(void);

#endif /* M2M_REMOTE_PIPE_H */
