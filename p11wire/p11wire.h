/*
 * p11wire: the binary, versioned, length-capped protocol of client mode
 * (docs/protocol.md, "Client mode: the PKCS#11 wire").  The module in
 * client mode (pkcs11/remote.c) and the daemon's worker
 * (daemon/m2mtokend/p11srv.c, p11worker.c) share it; it includes only
 * the public headers of include/, so that no arrow runs from the module
 * up to the daemon.
 *
 * A frame is a 12-byte header and a body:
 *   u32 len    bytes of body that follow (<= the negotiated frame_max)
 *   u32 id     request id chosen by the client; a reply echoes it
 *   u32 code   request: a P11W_CALL_*; reply: 0 (P11W_OK, the body is the
 *              call's reply) or a P11W_ERR_* (the body is a one-line
 *              UTF-8 reason; the sender closes the connection after it)
 * All integers are big-endian.  Bodies may carry PINs and the values
 * PKCS#11 lets a caller read: every buffer here is wiped when freed.
 */
#ifndef M2M_P11WIRE_H
#define M2M_P11WIRE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <m2mtoken/pkcs11-m2m.h>

#define P11W_HDR_LEN		12
#define P11W_MAGIC		"m2mtoken-p11"	/* 12 bytes, in HELLO */
#define P11W_MAGIC_LEN		12
#define P11W_VERSION_MAJOR	1	/* a different major is refused */
#define P11W_VERSION_MINOR	0
#define P11W_FRAME_MIN		4096		/* smallest frame_max */
#define P11W_FRAME_DEFAULT	(1u << 20)	/* 1 MiB */
#define P11W_FRAME_HARD_MAX	(16u << 20)	/* largest frame_max */

/* Reply codes other than P11W_OK: protocol errors, then close. */
enum p11w_err {
	P11W_OK = 0,
	P11W_ERR_VERSION = 1,	/* magic, major version or CK_ULONG size */
	P11W_ERR_MALFORMED = 2,	/* a body that does not decode */
	P11W_ERR_TOO_BIG = 3,	/* len over frame_max */
	P11W_ERR_ORDER = 4,	/* a call before HELLO, HELLO twice, an
				   unknown call number */
	P11W_ERR_STALLED = 5,	/* a frame not finished in time */
	P11W_ERR_BUSY = 6,	/* the daemon serves max_clients already */
	P11W_ERR_INTERNAL = 7,	/* the daemon failed (out of memory, ...) */
	P11W_ERR_DENIED = 8	/* no [caller] rule with tokens names the
				   client: no worker for it */
};

/*
 * Call numbers: HELLO, then the order of CK_FUNCTION_LIST_3_0 without
 * C_GetFunctionList, C_GetInterfaceList, C_GetInterface (answered by the
 * module itself) and without the v3.0 message functions (the token offers
 * none: the module answers CKR_FUNCTION_NOT_SUPPORTED itself).  Numbers
 * are never reused; new calls are appended.
 */
enum p11w_call {
	P11W_CALL_HELLO = 0,
	P11W_CALL_C_Initialize,
	P11W_CALL_C_Finalize,
	P11W_CALL_C_GetInfo,
	P11W_CALL_C_GetSlotList,
	P11W_CALL_C_GetSlotInfo,
	P11W_CALL_C_GetTokenInfo,
	P11W_CALL_C_GetMechanismList,
	P11W_CALL_C_GetMechanismInfo,
	P11W_CALL_C_InitToken,
	P11W_CALL_C_InitPIN,		/* 10 */
	P11W_CALL_C_SetPIN,
	P11W_CALL_C_OpenSession,
	P11W_CALL_C_CloseSession,
	P11W_CALL_C_CloseAllSessions,
	P11W_CALL_C_GetSessionInfo,
	P11W_CALL_C_GetOperationState,
	P11W_CALL_C_SetOperationState,
	P11W_CALL_C_Login,
	P11W_CALL_C_Logout,
	P11W_CALL_C_CreateObject,	/* 20 */
	P11W_CALL_C_CopyObject,
	P11W_CALL_C_DestroyObject,
	P11W_CALL_C_GetObjectSize,
	P11W_CALL_C_GetAttributeValue,
	P11W_CALL_C_SetAttributeValue,
	P11W_CALL_C_FindObjectsInit,
	P11W_CALL_C_FindObjects,
	P11W_CALL_C_FindObjectsFinal,
	P11W_CALL_C_EncryptInit,
	P11W_CALL_C_Encrypt,		/* 30 */
	P11W_CALL_C_EncryptUpdate,
	P11W_CALL_C_EncryptFinal,
	P11W_CALL_C_DecryptInit,
	P11W_CALL_C_Decrypt,
	P11W_CALL_C_DecryptUpdate,
	P11W_CALL_C_DecryptFinal,
	P11W_CALL_C_DigestInit,
	P11W_CALL_C_Digest,
	P11W_CALL_C_DigestUpdate,
	P11W_CALL_C_DigestKey,		/* 40 */
	P11W_CALL_C_DigestFinal,
	P11W_CALL_C_SignInit,
	P11W_CALL_C_Sign,
	P11W_CALL_C_SignUpdate,
	P11W_CALL_C_SignFinal,
	P11W_CALL_C_SignRecoverInit,
	P11W_CALL_C_SignRecover,
	P11W_CALL_C_VerifyInit,
	P11W_CALL_C_Verify,
	P11W_CALL_C_VerifyUpdate,	/* 50 */
	P11W_CALL_C_VerifyFinal,
	P11W_CALL_C_VerifyRecoverInit,
	P11W_CALL_C_VerifyRecover,
	P11W_CALL_C_DigestEncryptUpdate,
	P11W_CALL_C_DecryptDigestUpdate,
	P11W_CALL_C_SignEncryptUpdate,
	P11W_CALL_C_DecryptVerifyUpdate,
	P11W_CALL_C_GenerateKey,
	P11W_CALL_C_GenerateKeyPair,
	P11W_CALL_C_WrapKey,		/* 60 */
	P11W_CALL_C_UnwrapKey,
	P11W_CALL_C_DeriveKey,
	P11W_CALL_C_SeedRandom,
	P11W_CALL_C_GenerateRandom,
	P11W_CALL_C_GetFunctionStatus,
	P11W_CALL_C_CancelFunction,
	P11W_CALL_C_WaitForSlotEvent,
	P11W_CALL_C_LoginUser,
	P11W_CALL_C_SessionCancel,
	P11W_CALL_COUNT			/* 70: first unused number */
};

/* "C_Sign" for P11W_CALL_C_Sign, "HELLO", or NULL for a number >= COUNT. */
const char	*p11w_call_name(uint32_t call);
/* "version", "malformed", ... for a P11W_ERR_*, "unknown" otherwise. */
const char	*p11w_err_name(uint32_t err);

/*
 * A growing output buffer.  Every put is a no-op once the buffer failed
 * (out of memory, or more than max bytes): check failed once, at the end.
 * The bytes are wiped when the buffer is reset, grown or freed.
 */
struct p11w_buf {
	uint8_t	*data;
	size_t	 len;
	size_t	 cap;
	size_t	 max;		/* most bytes it may hold */
	int	 failed;
	int	 nomem;		/* failed for want of memory, not of room */
};

void	p11w_buf_init(struct p11w_buf *b, size_t max);
void	p11w_buf_reset(struct p11w_buf *b);	/* len 0, failed 0, wiped */
void	p11w_buf_free(struct p11w_buf *b);	/* wiped; init'ed again */
void	p11w_put_u8(struct p11w_buf *b, uint8_t v);
void	p11w_put_u32(struct p11w_buf *b, uint32_t v);
void	p11w_put_u64(struct p11w_buf *b, uint64_t v);
void	p11w_put_raw(struct p11w_buf *b, const void *p, size_t n);
/* u32 n, then n bytes (n must fit a u32, else the buffer fails) */
void	p11w_put_bytes(struct p11w_buf *b, const void *p, size_t n);
/*
 * Reserve n bytes at the end and return them (NULL once failed): for a
 * header written after its body is known, or a value read into place.
 */
uint8_t	*p11w_put_space(struct p11w_buf *b, size_t n);
/*
 * A mutex held while any buffer's data and cap change (the allocate,
 * copy, wipe, free and assign of a growth; p11w_buf_free), or NULL, the
 * default (m2mtokend's worker).  The module in client mode sets its own,
 * which its fork handler takes: a child never copies a buffer mid-resize,
 * its data a block already freed (wiped and freed again in the child) or
 * the new block not yet its (never wiped).  Nothing else is locked while
 * it is held.  Set once, before any thread uses a buffer.
 */
void	p11w_set_resize_lock(pthread_mutex_t *lk);

/*
 * A reader over a received body.  Every get fails (returns -1) once one
 * failed (short body, a length beyond the end): check bad once, or each
 * return.  p11w_rd_done: 0 when every byte was read and none failed.
 */
struct p11w_rd {
	const uint8_t	*p;
	size_t		 len;
	size_t		 off;
	int		 bad;
};

void	p11w_rd_init(struct p11w_rd *r, const void *p, size_t len);
int	p11w_get_u8(struct p11w_rd *r, uint8_t *v);
int	p11w_get_u32(struct p11w_rd *r, uint32_t *v);
int	p11w_get_u64(struct p11w_rd *r, uint64_t *v);
/* n bytes in place (*p points into the body), no copy */
int	p11w_get_raw(struct p11w_rd *r, size_t n, const uint8_t **p);
/* u32 n then n bytes, in place */
int	p11w_get_bytes(struct p11w_rd *r, const uint8_t **p, size_t *n);
int	p11w_rd_done(const struct p11w_rd *r);

/* A parsed frame header. */
struct p11w_hdr {
	uint32_t	len;
	uint32_t	id;
	uint32_t	code;
};

void	p11w_hdr_put(uint8_t out[P11W_HDR_LEN], const struct p11w_hdr *h);
void	p11w_hdr_get(const uint8_t in[P11W_HDR_LEN], struct p11w_hdr *h);

/*
 * Append a whole frame (header and body) to out: a request (code = a
 * call), a reply (code 0) or a protocol error (code = P11W_ERR_*, body =
 * the reason's bytes, NUL not included, cut to 200 bytes).
 */
void	p11w_frame(struct p11w_buf *out, uint32_t id, uint32_t code,
	    const void *body, size_t len);
void	p11w_error_frame(struct p11w_buf *out, uint32_t id,
	    enum p11w_err err, const char *reason);

/*
 * HELLO bodies.  Request: magic, u16 major, u16 minor, u8
 * sizeof(CK_ULONG).  Reply: magic, u16 major, u16 minor, u32 frame_max.
 * p11w_hello_check: 0 when the request is one this side speaks; else
 * P11W_ERR_VERSION (or _MALFORMED) and a reason naming both versions.
 */
struct p11w_hello {
	uint16_t	major;
	uint16_t	minor;
	uint8_t		ulong_size;	/* request only */
	uint32_t	frame_max;	/* reply only */
};

void	p11w_hello_request(struct p11w_buf *body);
void	p11w_hello_reply(struct p11w_buf *body, uint32_t frame_max);
int	p11w_hello_check(const uint8_t *body, size_t len,
	    struct p11w_hello *ret, char *reason, size_t reasonlen);
int	p11w_hello_reply_check(const uint8_t *body, size_t len,
	    struct p11w_hello *ret, char *reason, size_t reasonlen);

#endif /* M2M_P11WIRE_H */
