/*
 * p11wire codec: the value encodings of client mode (docs/protocol.md,
 * "Values"), written once for both ends.  Each call has a signature, a
 * string with one letter per encoded argument (p11w_call_sig); the
 * module fills an array of struct p11w_arg from its caller's arguments,
 * encodes the request and decodes the reply into the caller's memory;
 * the worker decodes the request into the same array (its buffers in an
 * arena), calls the real function and encodes the reply.  So the two
 * sides cannot disagree on a layout.
 *
 * Letters (C arguments in brackets):
 *   u  CK_ULONG, handle, flags, type (v)          B  CK_BBOOL (v)
 *   b  input bytes (p, v = length)                L  label, 32 bytes (p)
 *   o  output bytes (p, lp = pulLen)              p  output CK_ULONG (p)
 *   r  output of fixed length (p, v = length: C_GenerateRandom)
 *   t  input template (p, v = count)              q  attribute query (p, v)
 *   m  CK_MECHANISM_PTR (p)
 *   l  handle list, count in and out (p, lp: C_GetSlotList,
 *      C_GetMechanismList)
 *   f  handle list of C_FindObjects (p, v = capacity, lp = count out)
 *   I S T E M  CK_INFO, CK_SLOT_INFO, CK_TOKEN_INFO, CK_SESSION_INFO,
 *      CK_MECHANISM_INFO (p)
 */
#ifndef M2M_P11WIRE_CODEC_H
#define M2M_P11WIRE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include <m2mtoken/pkcs11-m2m.h>

#include "p11wire.h"

#define P11W_MAX_ARGS		6	/* longest signature */
#define P11W_TEMPLATE_MAX	1024	/* most attributes of a template */
/* room kept in a reply body for everything but the output bytes */
#define P11W_REPLY_SLACK	1024

/* Mechanism parameter forms (docs/protocol.md). */
enum p11w_form {
	P11W_FORM_NONE = 0,
	P11W_FORM_BYTES = 1,
	P11W_FORM_GCM = 2,
	P11W_FORM_HKDF = 3,
	P11W_FORM_KUC = 4,
	P11W_FORM_TLS12_PSK = 5
};

/*
 * One argument.  The module sets v, p and lp from its caller (pointers
 * into the caller's memory); the worker's decoder sets them to its own
 * storage (st, mech, mp, info, or the arena).
 */
struct p11w_arg {
	CK_ULONG	 v;
	void		*p;
	CK_ULONG	*lp;
	/* the worker's storage */
	CK_ULONG	 st;		/* *lp, or *p of a 'p' */
	CK_MECHANISM	 mech;
	union {
		CK_GCM_PARAMS		gcm;
		CK_HKDF_PARAMS		hkdf;
		CK_M2M_KUC_PARAMS	kuc;
		CK_M2M_TLS12_PSK_PARAMS	psk;
	}		 mp;
	union {
		CK_INFO			i;
		CK_SLOT_INFO		s;
		CK_TOKEN_INFO		t;
		CK_SESSION_INFO		e;
		CK_MECHANISM_INFO	m;
	}		 info;
};

/*
 * The worker's per-connection scratch memory: buffers of one request,
 * taken by p11w_req_decode, forgotten (wiped) by p11w_arena_reset.  The
 * output room (what the reply can carry) is frame_max minus
 * P11W_REPLY_SLACK; outputs are offered at most what is left of it.
 */
struct p11w_arena {
	uint8_t	*base;
	size_t	 cap;
	size_t	 used;
	size_t	 room;		/* output bytes the reply can still take */
	size_t	 frame_max;
};

/* An arena for frames of at most frame_max bytes; -1 out of memory. */
int	p11w_arena_init(struct p11w_arena *a, size_t frame_max);
/* Wipe what the last request used; the room is whole again. */
void	p11w_arena_reset(struct p11w_arena *a);
/* Wipe and free; NULL-safe after init. */
void	p11w_arena_free(struct p11w_arena *a);

/* The signature of call (see above), "" for one without arguments,
   NULL for HELLO, C_Initialize, C_Finalize (special) or an unknown one. */
const char	*p11w_call_sig(uint32_t call);

/*
 * The module: encode the arguments a[] of call (signature sig) as a
 * request body, appended to b.  CKR_OK; CKR_ATTRIBUTE_TYPE_INVALID for
 * an attribute whose value holds pointers (CKF_ARRAY_ATTRIBUTE);
 * CKR_ARGUMENTS_BAD for a template of more than P11W_TEMPLATE_MAX
 * attributes or a request that does not fit b (a template);
 * CKR_DATA_LEN_RANGE for one that does not fit because of its data;
 * CKR_HOST_MEMORY when b could not grow (b->nomem).
 */
CK_RV	p11w_req_encode(struct p11w_buf *b, uint32_t call,
	    const struct p11w_arg *a);

/*
 * The module, before p11w_req_encode: CKR_MECHANISM_PARAM_INVALID for
 * arguments a[] of call that the worker's decoder (p11w_req_decode)
 * would answer malformed, failing the connection, although they fit a
 * frame of frame_max: a GCM IV (pIv not NULL) longer than the reply's
 * room, frame_max - P11W_REPLY_SLACK (the worker offers the token a
 * buffer of that room for a generated IV).  CKR_OK otherwise.
 */
CK_RV	p11w_req_check(uint32_t call, const struct p11w_arg *a,
	    size_t frame_max);

/*
 * The module: decode the reply body of call into *ret_rv and the
 * caller's output arguments a[] (as the request was encoded from them).
 * Nothing is written beyond a capacity the caller stated.  0, or -1 when
 * the body does not decode, claims more than a capacity, or says other
 * than the worker would (p11w_reply_encode): after CKR_OK with a buffer
 * (and a length pointer), a length or count other than the bytes or
 * entries sent, C_GenerateRandom's bytes other than its length; output
 * bytes or entries, an info struct or a GCM IV with any other rv (values
 * of C_GetAttributeValue: also after CKR_ATTRIBUTE_SENSITIVE,
 * CKR_ATTRIBUTE_TYPE_INVALID and CKR_BUFFER_TOO_SMALL, each with its
 * length, or none with CK_UNAVAILABLE_INFORMATION); no info struct after
 * CKR_OK.  Some outputs may then be written.
 */
int	p11w_reply_decode(struct p11w_rd *r, uint32_t call,
	    struct p11w_arg *a, CK_RV *ret_rv);

/*
 * The worker: decode the request body of call into a[], buffers from ar.
 * Input bytes point into the body (which must outlive the call).  0, or
 * -1 when it does not decode (short, trailing bytes, a count over
 * P11W_TEMPLATE_MAX, an unknown form, an output of fixed length beyond
 * the room).  Output capacities are cut to the room.
 */
int	p11w_req_decode(struct p11w_rd *r, uint32_t call, struct p11w_arg *a,
	    struct p11w_arena *ar);

/*
 * The worker: the reply body of call after the real function returned
 * rv, appended to b (check b->failed).
 */
void	p11w_reply_encode(struct p11w_buf *b, uint32_t call,
	    const struct p11w_arg *a, CK_RV rv);

#endif /* M2M_P11WIRE_CODEC_H */
