/*
 * Unit tests of p11wire/codec.c: the value encodings of client mode, both
 * ends (the module's request encoder and reply decoder, the worker's
 * request decoder and reply encoder), round trips, truncated and oversized
 * inputs, and hostile replies.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"
#include "p11wire.h"
#include "support_alloc.h"

#define FRAME	(64u << 10)

struct wire {
	struct p11w_buf		req;
	struct p11w_buf		rep;
	struct p11w_arena	ar;
	struct p11w_arg		srv[P11W_MAX_ARGS];
};

static int
setup(void **state)
{
	static struct wire w;

	p11w_buf_init(&w.req, FRAME);
	p11w_buf_init(&w.rep, FRAME);
	assert_int_equal(p11w_arena_init(&w.ar, FRAME), 0);
	*state = &w;
	return 0;
}

static int
teardown(void **state)
{
	struct wire *w = *state;

	p11w_buf_free(&w->req);
	p11w_buf_free(&w->rep);
	p11w_arena_free(&w->ar);
	return 0;
}

/* client args -> request -> the worker's args */
static void
to_server(struct wire *w, uint32_t call, struct p11w_arg *cli)
{
	struct p11w_rd r;

	p11w_buf_reset(&w->req);
	p11w_buf_reset(&w->rep);
	p11w_arena_reset(&w->ar);
	assert_int_equal(p11w_req_encode(&w->req, call, cli), CKR_OK);
	p11w_rd_init(&r, w->req.data, w->req.len);
	assert_int_equal(p11w_req_decode(&r, call, w->srv, &w->ar), 0);
}

/* the worker's reply -> the client's args */
static CK_RV
to_client(struct wire *w, uint32_t call, struct p11w_arg *cli, CK_RV rv)
{
	struct p11w_rd r;
	CK_RV got = 0xdead;

	p11w_reply_encode(&w->rep, call, w->srv, rv);
	assert_false(w->rep.failed);
	p11w_rd_init(&r, w->rep.data, w->rep.len);
	assert_int_equal(p11w_reply_decode(&r, call, cli, &got), 0);
	return got;
}

/* C_Sign: session, input bytes, output bytes; and its size query */
static void
test_sign_round_trip(void **state)
{
	struct wire *w = *state;
	uint8_t data[5] = "hello", sig[64];
	CK_ULONG siglen = sizeof(sig);
	struct p11w_arg a[P11W_MAX_ARGS] = {
		{ .v = 7 }, { .p = data, .v = 5 }, { .p = sig, .lp = &siglen }
	};

	memset(sig, 0xaa, sizeof(sig));
	to_server(w, P11W_CALL_C_Sign, a);
	assert_int_equal(w->srv[0].v, 7);
	assert_int_equal(w->srv[1].v, 5);
	assert_memory_equal(w->srv[1].p, "hello", 5);
	assert_non_null(w->srv[2].p);
	assert_ptr_equal(w->srv[2].lp, &w->srv[2].st);
	assert_int_equal(*w->srv[2].lp, 64);
	memset(w->srv[2].p, 0x42, 32);
	*w->srv[2].lp = 32;
	assert_int_equal(to_client(w, P11W_CALL_C_Sign, a, CKR_OK), CKR_OK);
	assert_int_equal(siglen, 32);
	assert_int_equal(sig[0], 0x42);
	assert_int_equal(sig[31], 0x42);
	assert_int_equal(sig[32], 0xaa);	/* nothing beyond */

	/* size query: NULL buffer travels as NULL */
	a[2].p = NULL;
	siglen = 0;
	to_server(w, P11W_CALL_C_Sign, a);
	assert_null(w->srv[2].p);
	assert_non_null(w->srv[2].lp);
	*w->srv[2].lp = 32;
	assert_int_equal(to_client(w, P11W_CALL_C_Sign, a, CKR_OK), CKR_OK);
	assert_int_equal(siglen, 32);

	/* NULL data and NULL length pointer stay NULL */
	a[1].p = NULL;
	a[2].lp = NULL;
	to_server(w, P11W_CALL_C_Sign, a);
	assert_null(w->srv[1].p);
	assert_int_equal(w->srv[1].v, 5);
	assert_null(w->srv[2].lp);
	assert_int_equal(to_client(w, P11W_CALL_C_Sign, a,
	    CKR_ARGUMENTS_BAD), CKR_ARGUMENTS_BAD);
}

/* a template with values and a NULL value; a handle out */
static void
test_template_round_trip(void **state)
{
	struct wire *w = *state;
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE t[3] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_TOKEN, &yes, 1 },
		{ CKA_LABEL, NULL, 9 }
	};
	CK_OBJECT_HANDLE h = 0;
	CK_ATTRIBUTE *st;
	struct p11w_arg a[P11W_MAX_ARGS] = {
		{ .v = 3 }, { .p = t, .v = 3 }, { .p = &h }
	};

	to_server(w, P11W_CALL_C_CreateObject, a);
	st = w->srv[1].p;
	assert_int_equal(w->srv[1].v, 3);
	assert_int_equal(st[0].type, CKA_CLASS);
	assert_int_equal(st[0].ulValueLen, sizeof(cls));
	assert_memory_equal(st[0].pValue, &cls, sizeof(cls));
	assert_int_equal(*(CK_BBOOL *)st[1].pValue, CK_TRUE);
	assert_null(st[2].pValue);
	assert_int_equal(st[2].ulValueLen, 9);
	*(CK_ULONG *)w->srv[2].p = 99;
	assert_int_equal(to_client(w, P11W_CALL_C_CreateObject, a, CKR_OK),
	    CKR_OK);
	assert_int_equal(h, 99);
	/* a failed call writes no handle */
	h = 0;
	to_server(w, P11W_CALL_C_CreateObject, a);
	*(CK_ULONG *)w->srv[2].p = 99;
	assert_int_equal(to_client(w, P11W_CALL_C_CreateObject, a,
	    CKR_TEMPLATE_INCOMPLETE), CKR_TEMPLATE_INCOMPLETE);
	assert_int_equal(h, 0);
}

/* C_GetAttributeValue: lengths, values, unavailable information */
static void
test_query_round_trip(void **state)
{
	struct wire *w = *state;
	uint8_t label[16];
	CK_ATTRIBUTE t[3] = {
		{ CKA_LABEL, label, sizeof(label) },
		{ CKA_VALUE, NULL, 0 },
		{ CKA_ID, NULL, 0 }
	};
	CK_ATTRIBUTE *st;
	struct p11w_arg a[P11W_MAX_ARGS] = {
		{ .v = 1 }, { .v = 2 }, { .p = t, .v = 3 }
	};

	memset(label, 0xee, sizeof(label));
	to_server(w, P11W_CALL_C_GetAttributeValue, a);
	st = w->srv[2].p;
	assert_int_equal(st[0].ulValueLen, 16);
	assert_non_null(st[0].pValue);
	assert_null(st[1].pValue);
	memcpy(st[0].pValue, "gw", 2);
	st[0].ulValueLen = 2;
	st[1].ulValueLen = CK_UNAVAILABLE_INFORMATION;
	st[2].ulValueLen = 4;
	assert_int_equal(to_client(w, P11W_CALL_C_GetAttributeValue, a,
	    CKR_ATTRIBUTE_SENSITIVE), CKR_ATTRIBUTE_SENSITIVE);
	assert_int_equal(t[0].ulValueLen, 2);
	assert_memory_equal(label, "gw", 2);
	assert_int_equal(label[2], 0xee);
	assert_int_equal(t[1].ulValueLen, CK_UNAVAILABLE_INFORMATION);
	assert_int_equal(t[2].ulValueLen, 4);
}

/* every mechanism parameter form, and the generated GCM IV coming back */
static void
test_mechanisms(void **state)
{
	struct wire *w = *state;
	uint8_t iv[12] = { 0 }, aad[3] = "aad", salt[4] = "salt";
	uint8_t info[4] = "info", cr[32], sr[32], bytes[7] = "general";
	CK_GCM_PARAMS gcm = { iv, sizeof(iv), 0, aad, sizeof(aad), 128 };
	CK_HKDF_PARAMS hkdf = { CK_TRUE, CK_FALSE, CKM_SHA256,
	    CKF_HKDF_SALT_DATA, salt, 4, 0, info, 4 };
	CK_M2M_KUC_PARAMS kuc = { 3, (CK_UTF8CHAR_PTR)"target", 6 };
	CK_M2M_TLS12_PSK_PARAMS psk = { CKM_SHA384, CK_FALSE, cr, 32, sr, 32,
	    NULL, 0 };
	CK_MECHANISM m = { CKM_AES_GCM, &gcm, sizeof(gcm) };
	CK_MECHANISM *sm;
	CK_GCM_PARAMS *sg;
	CK_HKDF_PARAMS *sh;
	CK_M2M_KUC_PARAMS *sk;
	CK_M2M_TLS12_PSK_PARAMS *sp;
	struct p11w_arg a[P11W_MAX_ARGS] = {
		{ .v = 1 }, { .p = &m }, { .v = 5 }
	};

	memset(cr, 1, sizeof(cr));
	memset(sr, 2, sizeof(sr));
	to_server(w, P11W_CALL_C_EncryptInit, a);
	sm = w->srv[1].p;
	sg = sm->pParameter;
	assert_int_equal(sm->mechanism, CKM_AES_GCM);
	assert_int_equal(sm->ulParameterLen, sizeof(CK_GCM_PARAMS));
	assert_int_equal(sg->ulIvLen, 12);
	assert_int_equal(sg->ulTagBits, 128);
	assert_memory_equal(sg->pAAD, "aad", 3);
	memset(sg->pIv, 0x5a, 12);	/* the token generates one */
	assert_int_equal(to_client(w, P11W_CALL_C_EncryptInit, a, CKR_OK),
	    CKR_OK);
	assert_int_equal(iv[0], 0x5a);
	assert_int_equal(iv[11], 0x5a);

	m = (CK_MECHANISM){ CKM_HKDF_DERIVE, &hkdf, sizeof(hkdf) };
	to_server(w, P11W_CALL_C_EncryptInit, a);
	sh = ((CK_MECHANISM *)w->srv[1].p)->pParameter;
	assert_int_equal(sh->bExtract, CK_TRUE);
	assert_int_equal(sh->prfHashMechanism, CKM_SHA256);
	assert_memory_equal(sh->pSalt, "salt", 4);
	assert_memory_equal(sh->pInfo, "info", 4);

	m = (CK_MECHANISM){ CKM_M2M_KUC_DERIVE, &kuc, sizeof(kuc) };
	to_server(w, P11W_CALL_C_EncryptInit, a);
	sk = ((CK_MECHANISM *)w->srv[1].p)->pParameter;
	assert_int_equal(sk->ulSuid, 3);
	assert_memory_equal(sk->pTargetId, "target", 6);

	m = (CK_MECHANISM){ CKM_M2M_TLS12_PSK_MASTER, &psk, sizeof(psk) };
	to_server(w, P11W_CALL_C_EncryptInit, a);
	sp = ((CK_MECHANISM *)w->srv[1].p)->pParameter;
	assert_int_equal(sp->prfHashMechanism, CKM_SHA384);
	assert_memory_equal(sp->pServerRandom, sr, 32);
	assert_null(sp->pSessionHash);

	/* a parameter of another size travels as bytes */
	m = (CK_MECHANISM){ CKM_AES_GCM, bytes, sizeof(bytes) };
	to_server(w, P11W_CALL_C_EncryptInit, a);
	sm = w->srv[1].p;
	assert_int_equal(sm->ulParameterLen, 7);
	assert_memory_equal(sm->pParameter, "general", 7);

	/* none: the length stays, the pointer stays NULL */
	m = (CK_MECHANISM){ CKM_SHA256_HMAC, NULL, 4 };
	to_server(w, P11W_CALL_C_EncryptInit, a);
	sm = w->srv[1].p;
	assert_null(sm->pParameter);
	assert_int_equal(sm->ulParameterLen, 4);

	a[1].p = NULL;
	to_server(w, P11W_CALL_C_EncryptInit, a);
	assert_null(w->srv[1].p);
}

static void
test_info_and_lists(void **state)
{
	struct wire *w = *state;
	CK_TOKEN_INFO ti, *st;
	CK_SLOT_ID slots[2] = { 0, 0 };
	CK_ULONG n = 2;
	CK_ULONG *sl;
	struct p11w_arg a[P11W_MAX_ARGS] = { { .v = 3 }, { .p = &ti } };

	memset(&ti, 0, sizeof(ti));
	to_server(w, P11W_CALL_C_GetTokenInfo, a);
	st = w->srv[1].p;
	memset(st->label, 'L', sizeof(st->label));
	memcpy(st->utcTime, "2026120702350000", 16);
	st->ulMaxPinLen = 64;
	st->firmwareVersion.minor = 9;
	assert_int_equal(to_client(w, P11W_CALL_C_GetTokenInfo, a, CKR_OK),
	    CKR_OK);
	assert_memory_equal(ti.label, st->label, 32);
	assert_memory_equal(ti.utcTime, "2026120702350000", 16);
	assert_int_equal(ti.ulMaxPinLen, 64);
	assert_int_equal(ti.firmwareVersion.minor, 9);

	/* slot list: too small says how many, the list is not written */
	a[0].v = CK_TRUE;
	a[1] = (struct p11w_arg){ .p = slots, .lp = &n };
	to_server(w, P11W_CALL_C_GetSlotList, a);
	sl = w->srv[1].p;
	assert_int_equal(*w->srv[1].lp, 2);
	*w->srv[1].lp = 3;
	assert_int_equal(to_client(w, P11W_CALL_C_GetSlotList, a,
	    CKR_BUFFER_TOO_SMALL), CKR_BUFFER_TOO_SMALL);
	assert_int_equal(n, 3);
	assert_int_equal(slots[0], 0);
	n = 2;
	to_server(w, P11W_CALL_C_GetSlotList, a);
	sl = w->srv[1].p;
	sl[0] = 4;
	sl[1] = 5;
	assert_int_equal(to_client(w, P11W_CALL_C_GetSlotList, a, CKR_OK),
	    CKR_OK);
	assert_int_equal(slots[1], 5);
}

/* every proper prefix and one byte more of a request fail to decode */
static void
test_truncated_requests(void **state)
{
	struct wire *w = *state;
	uint8_t iv[12] = { 1 };
	CK_GCM_PARAMS gcm = { iv, sizeof(iv), 96, NULL, 0, 128 };
	CK_MECHANISM m = { CKM_AES_GCM, &gcm, sizeof(gcm) };
	CK_BYTE v = 1;
	CK_ATTRIBUTE t[1] = { { CKA_TOKEN, &v, 1 } };
	CK_OBJECT_HANDLE h;
	struct p11w_arg a[P11W_MAX_ARGS] = {
		{ .v = 1 }, { .p = &m }, { .v = 2 }, { .p = t, .v = 1 },
		{ .p = &h }
	};
	struct p11w_rd r;
	uint8_t more[512];
	size_t n, full;

	p11w_buf_reset(&w->req);
	assert_int_equal(p11w_req_encode(&w->req, P11W_CALL_C_DeriveKey, a),
	    CKR_OK);
	full = w->req.len;
	for (n = 0; n < full; n++) {
		p11w_arena_reset(&w->ar);
		p11w_rd_init(&r, w->req.data, n);
		assert_int_equal(p11w_req_decode(&r, P11W_CALL_C_DeriveKey,
		    w->srv, &w->ar), -1);
	}
	memcpy(more, w->req.data, full);
	more[full] = 0;
	p11w_arena_reset(&w->ar);
	p11w_rd_init(&r, more, full + 1);
	assert_int_equal(p11w_req_decode(&r, P11W_CALL_C_DeriveKey, w->srv,
	    &w->ar), -1);
	/* an unknown call has no signature */
	p11w_rd_init(&r, more, full);
	assert_int_equal(p11w_req_decode(&r, P11W_CALL_COUNT, w->srv,
	    &w->ar), -1);
}

/* hostile counts and sizes: refused or capped, never allocated */
static void
test_oversized(void **state)
{
	struct wire *w = *state;
	struct p11w_rd r;
	struct p11w_buf b;
	CK_ATTRIBUTE t[2] = { { CKA_WRAP_TEMPLATE, NULL, 0 } };
	struct p11w_arg a[P11W_MAX_ARGS] = { { .v = 1 }, { .p = t, .v = 1 } };

	/* the module refuses what the worker would */
	p11w_buf_init(&b, FRAME);
	assert_int_equal(p11w_req_encode(&b, P11W_CALL_C_FindObjectsInit, a),
	    CKR_ATTRIBUTE_TYPE_INVALID);
	p11w_buf_reset(&b);
	/* ... but asks for its length, without a buffer */
	t[0] = (CK_ATTRIBUTE){ CKA_WRAP_TEMPLATE, t, sizeof(t) };
	a[1] = (struct p11w_arg){ .v = 2 };
	a[2] = (struct p11w_arg){ .p = t, .v = 1 };
	assert_int_equal(p11w_req_encode(&b, P11W_CALL_C_GetAttributeValue,
	    a), CKR_OK);
	assert_int_equal(b.len, 8 + 8 + 1 + 8 + 8 + 1 + 8);
	assert_int_equal(b.data[b.len - 9], 0);
	assert_int_equal(b.data[b.len - 1], 0);
	p11w_buf_reset(&b);
	a[1] = (struct p11w_arg){ .p = t, .v = 1 };
	a[1].v = P11W_TEMPLATE_MAX + 1;
	assert_int_equal(p11w_req_encode(&b, P11W_CALL_C_FindObjectsInit, a),
	    CKR_ARGUMENTS_BAD);
	p11w_buf_reset(&b);
	t[0] = (CK_ATTRIBUTE){ CKA_VALUE, t, FRAME };
	a[1].v = 1;
	assert_int_equal(p11w_req_encode(&b, P11W_CALL_C_FindObjectsInit, a),
	    CKR_ARGUMENTS_BAD);
	p11w_buf_reset(&b);

	/* a template count over P11W_TEMPLATE_MAX */
	p11w_put_u64(&b, 1);
	p11w_put_u8(&b, 1);
	p11w_put_u64(&b, P11W_TEMPLATE_MAX + 1);
	p11w_arena_reset(&w->ar);
	p11w_rd_init(&r, b.data, b.len);
	assert_int_equal(p11w_req_decode(&r, P11W_CALL_C_FindObjectsInit,
	    w->srv, &w->ar), -1);

	/* an output capacity of 2^62 is offered as the room only */
	p11w_buf_reset(&b);
	p11w_put_u64(&b, 1);
	p11w_put_u8(&b, 1);
	p11w_put_u32(&b, 0);
	p11w_put_raw(&b, "", 0);
	p11w_put_u8(&b, 1);
	p11w_put_u8(&b, 1);
	p11w_put_u64(&b, 1ULL << 62);
	p11w_arena_reset(&w->ar);
	p11w_rd_init(&r, b.data, b.len);
	assert_int_equal(p11w_req_decode(&r, P11W_CALL_C_Sign, w->srv,
	    &w->ar), 0);
	assert_int_equal(*w->srv[2].lp, FRAME - P11W_REPLY_SLACK);

	/* a handle list of 2^62 entries: capped the same way */
	p11w_buf_reset(&b);
	p11w_put_u64(&b, 1);
	p11w_put_u8(&b, 1);
	p11w_put_u8(&b, 1);
	p11w_put_u64(&b, 1ULL << 62);
	p11w_arena_reset(&w->ar);
	p11w_rd_init(&r, b.data, b.len);
	assert_int_equal(p11w_req_decode(&r, P11W_CALL_C_FindObjects, w->srv,
	    &w->ar), 0);
	assert_int_equal(w->srv[1].v, (FRAME - P11W_REPLY_SLACK) / 8);

	/* C_GenerateRandom beyond the room: refused */
	p11w_buf_reset(&b);
	p11w_put_u64(&b, 1);
	p11w_put_u8(&b, 1);
	p11w_put_u64(&b, FRAME);
	p11w_arena_reset(&w->ar);
	p11w_rd_init(&r, b.data, b.len);
	assert_int_equal(p11w_req_decode(&r, P11W_CALL_C_GenerateRandom,
	    w->srv, &w->ar), -1);

	/* a flag that is not 0 or 1 */
	p11w_buf_reset(&b);
	p11w_put_u64(&b, 1);
	p11w_put_u8(&b, 2);
	p11w_arena_reset(&w->ar);
	p11w_rd_init(&r, b.data, b.len);
	assert_int_equal(p11w_req_decode(&r, P11W_CALL_C_GetSessionInfo,
	    w->srv, &w->ar), -1);
	p11w_buf_free(&b);
}

/* a reply claiming more bytes than the caller's buffer: refused */
static void
test_hostile_reply(void **state)
{
	struct wire *w = *state;
	uint8_t out[8], big[16];
	CK_ULONG outlen = sizeof(out);
	struct p11w_arg a[P11W_MAX_ARGS] = {
		{ .v = 1 }, { .p = "x", .v = 1 }, { .p = out, .lp = &outlen }
	};
	struct p11w_rd r;
	struct p11w_buf b;
	CK_RV rv = 0;

	memset(out, 0, sizeof(out));
	memset(big, 0x77, sizeof(big));
	p11w_buf_init(&b, FRAME);
	p11w_put_u64(&b, CKR_OK);
	p11w_put_u64(&b, 16);
	p11w_put_bytes(&b, big, 16);
	p11w_rd_init(&r, b.data, b.len);
	assert_int_equal(p11w_reply_decode(&r, P11W_CALL_C_Sign, a, &rv), -1);
	assert_int_equal(out[0], 0);
	assert_int_equal(outlen, 8);
	/* truncated replies */
	p11w_buf_reset(&b);
	p11w_put_u64(&b, CKR_OK);
	p11w_put_u64(&b, 4);
	p11w_put_u32(&b, 4);
	p11w_rd_init(&r, b.data, b.len);
	assert_int_equal(p11w_reply_decode(&r, P11W_CALL_C_Sign, a, &rv), -1);
	p11w_rd_init(&r, b.data, 4);
	assert_int_equal(p11w_reply_decode(&r, P11W_CALL_C_Sign, a, &rv), -1);
	assert_int_equal(rv, 0);
	(void)w;
	p11w_buf_free(&b);
}

/* the reply body in b decoded for call into a[]: 0 or -1 */
static int
decode(uint32_t call, struct p11w_arg *a, struct p11w_buf *b, CK_RV *rv)
{
	struct p11w_rd r;

	assert_false(b->failed);
	p11w_rd_init(&r, b->data, b->len);
	return p11w_reply_decode(&r, call, a, rv);
}

/*
 * Counts and lengths that disagree with the bytes a reply carries (the
 * review's proofs of concept): before, the decoder bounded the bytes it
 * wrote but passed on the daemon's *pulLen, count or ulValueLen, so a
 * caller read beyond its buffer or took bytes never written; and it took
 * output bytes with an error rv.  Now each is a protocol error; what the
 * worker sends still decodes.
 */
static void
test_hostile_counts(void **state)
{
	static const uint8_t fields[128];	/* a CK_INFO's, zero */
	uint8_t out[16], v[8], big[32];
	CK_ULONG outlen, n;
	CK_OBJECT_HANDLE objs[2];
	CK_SLOT_ID slots[2];
	CK_ATTRIBUTE t[1];
	CK_INFO info;
	uint8_t iv[12];
	CK_GCM_PARAMS gcm = { iv, sizeof(iv), 0, NULL, 0, 128 };
	CK_MECHANISM mech = { CKM_AES_GCM, &gcm, sizeof(gcm) };
	struct p11w_arg a[P11W_MAX_ARGS];
	struct p11w_buf b;
	CK_RV rv;

	(void)state;
	memset(big, 0x41, sizeof(big));
	p11w_buf_init(&b, FRAME);

	/* C_Decrypt: CKR_OK, *pulLen 4096 and no bytes, a 16-byte buffer */
	memset(a, 0, sizeof(a));
	a[0].v = 1;
	a[1] = (struct p11w_arg){ .p = "x", .v = 1 };
	a[2] = (struct p11w_arg){ .p = out, .lp = &outlen };
	outlen = sizeof(out);
	p11w_put_u64(&b, CKR_OK);
	p11w_put_u64(&b, 4096);
	p11w_put_bytes(&b, NULL, 0);
	assert_int_equal(decode(P11W_CALL_C_Decrypt, a, &b, &rv), -1);
	assert_int_equal(outlen, sizeof(out));
	/* CKR_OK, *pulLen 8 with 4 bytes */
	p11w_buf_reset(&b);
	p11w_put_u64(&b, CKR_OK);
	p11w_put_u64(&b, 8);
	p11w_put_bytes(&b, big, 4);
	assert_int_equal(decode(P11W_CALL_C_Decrypt, a, &b, &rv), -1);
	/* an error with bytes: not written */
	memset(out, 0, sizeof(out));
	p11w_buf_reset(&b);
	p11w_put_u64(&b, CKR_ENCRYPTED_DATA_INVALID);
	p11w_put_u64(&b, 16);
	p11w_put_bytes(&b, big, 16);
	assert_int_equal(decode(P11W_CALL_C_Decrypt, a, &b, &rv), -1);
	assert_int_equal(out[0], 0);
	/* what the worker sends: CKR_OK with 4 of 4 bytes ... */
	p11w_buf_reset(&b);
	p11w_put_u64(&b, CKR_OK);
	p11w_put_u64(&b, 4);
	p11w_put_bytes(&b, big, 4);
	assert_int_equal(decode(P11W_CALL_C_Decrypt, a, &b, &rv), 0);
	assert_int_equal(rv, CKR_OK);
	assert_int_equal(outlen, 4);
	assert_int_equal(out[3], 0x41);
	/* ... CKR_BUFFER_TOO_SMALL with the length needed, no bytes ... */
	outlen = sizeof(out);
	p11w_buf_reset(&b);
	p11w_put_u64(&b, CKR_BUFFER_TOO_SMALL);
	p11w_put_u64(&b, 4096);
	p11w_put_bytes(&b, NULL, 0);
	assert_int_equal(decode(P11W_CALL_C_Decrypt, a, &b, &rv), 0);
	assert_int_equal(outlen, 4096);
	/* ... and a size query: a length, no bytes */
	a[2].p = NULL;
	p11w_buf_reset(&b);
	p11w_put_u64(&b, CKR_OK);
	p11w_put_u64(&b, 4096);
	p11w_put_bytes(&b, NULL, 0);
	assert_int_equal(decode(P11W_CALL_C_Decrypt, a, &b, &rv), 0);
	assert_int_equal(outlen, 4096);

	/* C_FindObjects: CKR_OK, count 1000 (or 1) with no entries, max 2 */
	memset(a, 0, sizeof(a));
	a[0].v = 1;
	a[1] = (struct p11w_arg){ .p = objs, .v = 2, .lp = &n };
	n = 0;
	p11w_buf_reset(&b);
	p11w_put_u64(&b, CKR_OK);
	p11w_put_u64(&b, 1000);
	p11w_put_u32(&b, 0);
	assert_int_equal(decode(P11W_CALL_C_FindObjects, a, &b, &rv), -1);
	assert_int_equal(n, 0);
	p11w_buf_reset(&b);
	p11w_put_u64(&b, CKR_OK);
	p11w_put_u64(&b, 1);
	p11w_put_u32(&b, 0);
	assert_int_equal(decode(P11W_CALL_C_FindObjects, a, &b, &rv), -1);
	/* an error with entries */
	p11w_buf_reset(&b);
	p11w_put_u64(&b, CKR_SESSION_HANDLE_INVALID);
	p11w_put_u64(&b, 1);
	p11w_put_u32(&b, 1);
	p11w_put_u64(&b, 7);
	assert_int_equal(decode(P11W_CALL_C_FindObjects, a, &b, &rv), -1);
	/* the worker's: count 2, 2 entries */
	p11w_buf_reset(&b);
	p11w_put_u64(&b, CKR_OK);
	p11w_put_u64(&b, 2);
	p11w_put_u32(&b, 2);
	p11w_put_u64(&b, 7);
	p11w_put_u64(&b, 8);
	assert_int_equal(decode(P11W_CALL_C_FindObjects, a, &b, &rv), 0);
	assert_int_equal(n, 2);
	assert_int_equal(objs[1], 8);

	/* C_GetSlotList: CKR_OK, count 1000, capacity 2 */
	memset(a, 0, sizeof(a));
	a[0].v = CK_TRUE;
	a[1] = (struct p11w_arg){ .p = slots, .lp = &n };
	n = 2;
	p11w_buf_reset(&b);
	p11w_put_u64(&b, CKR_OK);
	p11w_put_u64(&b, 1000);
	p11w_put_u32(&b, 0);
	assert_int_equal(decode(P11W_CALL_C_GetSlotList, a, &b, &rv), -1);
	assert_int_equal(n, 2);
	/* the size query: a count, no entries */
	a[1].p = NULL;
	assert_int_equal(decode(P11W_CALL_C_GetSlotList, a, &b, &rv), 0);
	assert_int_equal(n, 1000);

	/* C_GetAttributeValue: CKR_OK, ulValueLen 1 MiB, an 8-byte buffer */
	memset(a, 0, sizeof(a));
	a[0].v = 1;
	a[1].v = 2;
	a[2] = (struct p11w_arg){ .p = t, .v = 1 };
	t[0] = (CK_ATTRIBUTE){ CKA_VALUE, v, sizeof(v) };
	p11w_buf_reset(&b);
	p11w_put_u64(&b, CKR_OK);
	p11w_put_u64(&b, 1 << 20);
	p11w_put_bytes(&b, NULL, 0);
	assert_int_equal(decode(P11W_CALL_C_GetAttributeValue, a, &b, &rv),
	    -1);
	/* CKR_OK, ulValueLen 8 with 2 bytes */
	t[0].ulValueLen = sizeof(v);
	p11w_buf_reset(&b);
	p11w_put_u64(&b, CKR_OK);
	p11w_put_u64(&b, 8);
	p11w_put_bytes(&b, big, 2);
	assert_int_equal(decode(P11W_CALL_C_GetAttributeValue, a, &b, &rv),
	    -1);
	/* a value with an rv after which none is written */
	t[0].ulValueLen = sizeof(v);
	p11w_buf_reset(&b);
	p11w_put_u64(&b, CKR_OBJECT_HANDLE_INVALID);
	p11w_put_u64(&b, 2);
	p11w_put_bytes(&b, big, 2);
	assert_int_equal(decode(P11W_CALL_C_GetAttributeValue, a, &b, &rv),
	    -1);
	/* the worker's: CKR_ATTRIBUTE_SENSITIVE, unavailable, no bytes */
	t[0].ulValueLen = sizeof(v);
	p11w_buf_reset(&b);
	p11w_put_u64(&b, CKR_ATTRIBUTE_SENSITIVE);
	p11w_put_u64(&b, CK_UNAVAILABLE_INFORMATION);
	p11w_put_bytes(&b, NULL, 0);
	assert_int_equal(decode(P11W_CALL_C_GetAttributeValue, a, &b, &rv),
	    0);
	assert_true(t[0].ulValueLen == CK_UNAVAILABLE_INFORMATION);
	/* ... and CKR_OK, 3 bytes of 3 */
	t[0].ulValueLen = sizeof(v);
	p11w_buf_reset(&b);
	p11w_put_u64(&b, CKR_OK);
	p11w_put_u64(&b, 3);
	p11w_put_bytes(&b, big, 3);
	assert_int_equal(decode(P11W_CALL_C_GetAttributeValue, a, &b, &rv),
	    0);
	assert_int_equal(t[0].ulValueLen, 3);
	/*
	 * CKA_WRAP_TEMPLATE, asked for without a buffer: a length, or
	 * bytes (pointers of the daemon's choosing), is refused
	 */
	t[0] = (CK_ATTRIBUTE){ CKA_WRAP_TEMPLATE, v, sizeof(v) };
	memset(v, 0, sizeof(v));
	p11w_buf_reset(&b);
	p11w_put_u64(&b, CKR_OK);
	p11w_put_u64(&b, sizeof(v));
	p11w_put_bytes(&b, big, sizeof(v));
	assert_int_equal(decode(P11W_CALL_C_GetAttributeValue, a, &b, &rv),
	    -1);
	p11w_buf_reset(&b);
	p11w_put_u64(&b, CKR_OK);
	p11w_put_u64(&b, 4);
	p11w_put_bytes(&b, NULL, 0);
	assert_int_equal(decode(P11W_CALL_C_GetAttributeValue, a, &b, &rv),
	    -1);
	assert_int_equal(v[0], 0);
	/* the worker's: CKR_ATTRIBUTE_TYPE_INVALID, unavailable */
	p11w_buf_reset(&b);
	p11w_put_u64(&b, CKR_ATTRIBUTE_TYPE_INVALID);
	p11w_put_u64(&b, CK_UNAVAILABLE_INFORMATION);
	p11w_put_bytes(&b, NULL, 0);
	assert_int_equal(decode(P11W_CALL_C_GetAttributeValue, a, &b, &rv),
	    0);
	assert_true(t[0].ulValueLen == CK_UNAVAILABLE_INFORMATION);

	/* C_GenerateRandom: CKR_OK with 8 of the 16 bytes asked */
	memset(a, 0, sizeof(a));
	a[0].v = 1;
	a[1] = (struct p11w_arg){ .p = out, .v = sizeof(out) };
	p11w_buf_reset(&b);
	p11w_put_u64(&b, CKR_OK);
	p11w_put_bytes(&b, big, 8);
	assert_int_equal(decode(P11W_CALL_C_GenerateRandom, a, &b, &rv), -1);
	/* an error with bytes */
	p11w_buf_reset(&b);
	p11w_put_u64(&b, CKR_DEVICE_MEMORY);
	p11w_put_bytes(&b, big, 16);
	assert_int_equal(decode(P11W_CALL_C_GenerateRandom, a, &b, &rv), -1);
	/* the worker's: all 16 */
	p11w_buf_reset(&b);
	p11w_put_u64(&b, CKR_OK);
	p11w_put_bytes(&b, big, 16);
	assert_int_equal(decode(P11W_CALL_C_GenerateRandom, a, &b, &rv), 0);

	/* C_GetInfo: the struct with an error, none with CKR_OK */
	memset(a, 0, sizeof(a));
	a[0].p = &info;
	p11w_buf_reset(&b);
	p11w_put_u64(&b, CKR_GENERAL_ERROR);
	p11w_put_u8(&b, 1);
	p11w_put_raw(&b, fields, 2 + 32 + 8 + 32 + 2);
	assert_int_equal(decode(P11W_CALL_C_GetInfo, a, &b, &rv), -1);
	p11w_buf_reset(&b);
	p11w_put_u64(&b, CKR_OK);
	p11w_put_u8(&b, 0);
	assert_int_equal(decode(P11W_CALL_C_GetInfo, a, &b, &rv), -1);

	/* C_EncryptInit, GCM: an IV with an error, a short IV */
	memset(a, 0, sizeof(a));
	a[0].v = 1;
	a[1].p = &mech;
	a[2].v = 2;
	memset(iv, 0, sizeof(iv));
	p11w_buf_reset(&b);
	p11w_put_u64(&b, CKR_KEY_HANDLE_INVALID);
	p11w_put_u8(&b, P11W_FORM_GCM);
	p11w_put_u8(&b, 1);
	p11w_put_bytes(&b, big, sizeof(iv));
	assert_int_equal(decode(P11W_CALL_C_EncryptInit, a, &b, &rv), -1);
	assert_int_equal(iv[0], 0);
	p11w_buf_reset(&b);
	p11w_put_u64(&b, CKR_OK);
	p11w_put_u8(&b, P11W_FORM_GCM);
	p11w_put_u8(&b, 1);
	p11w_put_bytes(&b, big, 4);
	assert_int_equal(decode(P11W_CALL_C_EncryptInit, a, &b, &rv), -1);
	/* the worker's: CKR_OK and the whole IV */
	p11w_buf_reset(&b);
	p11w_put_u64(&b, CKR_OK);
	p11w_put_u8(&b, P11W_FORM_GCM);
	p11w_put_u8(&b, 1);
	p11w_put_bytes(&b, big, sizeof(iv));
	assert_int_equal(decode(P11W_CALL_C_EncryptInit, a, &b, &rv), 0);
	assert_int_equal(iv[11], 0x41);
	p11w_buf_free(&b);
}

/*
 * C_EncryptInit(session 1, mechanism t with parameter form form carrying
 * len bytes of param, key 2) as a raw frame, decoded by the worker: 0 or -1.
 */
static int
raw_encrypt_init(struct wire *w, CK_MECHANISM_TYPE t, uint8_t form,
    const void *param, size_t len)
{
	struct p11w_rd r;

	p11w_buf_reset(&w->req);
	p11w_put_u64(&w->req, 1);
	p11w_put_u8(&w->req, 1);
	p11w_put_u64(&w->req, t);
	p11w_put_u8(&w->req, form);
	p11w_put_bytes(&w->req, param, len);
	p11w_put_u64(&w->req, 2);
	p11w_arena_reset(&w->ar);
	p11w_rd_init(&r, w->req.data, w->req.len);
	return p11w_req_decode(&r, P11W_CALL_C_EncryptInit, w->srv, &w->ar);
}

/*
 * A parameter structure that holds pointers (GCM, HKDF, KUC, TLS 1.2 PSK)
 * crosses the wire only in its own form, built by the worker with its own
 * pointers.  A raw client that sends one as bytes of the structure's size
 * (pointers of its choosing: the worker would read, and for a generated
 * IV write, where they point), or a structured form under another
 * mechanism, gets a malformed frame.  Bytes of another length still go to
 * the worker's module, which refuses them as it would locally.
 */
static void
test_no_client_pointers(void **state)
{
	struct wire *w = *state;
	uint8_t iv[12] = { 1 }, salt[4] = { 2 };
	CK_GCM_PARAMS gcm = { iv, sizeof(iv), 96, NULL, 0, 128 };
	CK_HKDF_PARAMS hk = { CK_TRUE, CK_TRUE, CKM_SHA256, CKF_HKDF_SALT_DATA,
	    salt, sizeof(salt), 0, NULL, 0 };
	CK_M2M_KUC_PARAMS kuc = { 10, (CK_UTF8CHAR_PTR)"t", 1 };
	CK_M2M_TLS12_PSK_PARAMS psk;
	CK_MECHANISM m = { CKM_AES_GCM, &gcm, sizeof(gcm) };
	struct p11w_arg a[P11W_MAX_ARGS] = {
		{ .v = 1 }, { .p = &m }, { .v = 2 },
	};
	struct p11w_buf t;
	struct p11w_rd r;
	const CK_MECHANISM *got;

	memset(&psk, 0x41, sizeof(psk));
	assert_int_equal(raw_encrypt_init(w, CKM_AES_GCM, P11W_FORM_BYTES,
	    &gcm, sizeof(gcm)), -1);
	assert_int_equal(raw_encrypt_init(w, CKM_HKDF_DERIVE,
	    P11W_FORM_BYTES, &hk, sizeof(hk)), -1);
	assert_int_equal(raw_encrypt_init(w, CKM_HKDF_DATA, P11W_FORM_BYTES,
	    &hk, sizeof(hk)), -1);
	assert_int_equal(raw_encrypt_init(w, CKM_M2M_KUC_DERIVE,
	    P11W_FORM_BYTES, &kuc, sizeof(kuc)), -1);
	assert_int_equal(raw_encrypt_init(w, CKM_M2M_TLS12_PSK_MASTER,
	    P11W_FORM_BYTES, &psk, sizeof(psk)), -1);
	/* another length: passed on as bytes, for the module to refuse */
	assert_int_equal(raw_encrypt_init(w, CKM_AES_GCM, P11W_FORM_BYTES,
	    &gcm, sizeof(gcm) - 1), 0);
	got = w->srv[1].p;
	assert_int_equal(got->ulParameterLen, sizeof(gcm) - 1);
	/* the same bytes under a mechanism without a structure: as they are */
	assert_int_equal(raw_encrypt_init(w, CKM_SHA256_HMAC, P11W_FORM_BYTES,
	    &gcm, sizeof(gcm)), 0);

	/* the GCM form, as the module encodes it: the worker's own IV buffer */
	p11w_buf_reset(&w->req);
	assert_int_equal(p11w_req_encode(&w->req, P11W_CALL_C_EncryptInit, a),
	    CKR_OK);
	p11w_arena_reset(&w->ar);
	p11w_rd_init(&r, w->req.data, w->req.len);
	assert_int_equal(p11w_req_decode(&r, P11W_CALL_C_EncryptInit, w->srv,
	    &w->ar), 0);
	got = w->srv[1].p;
	assert_ptr_not_equal(((const CK_GCM_PARAMS *)got->pParameter)->pIv,
	    iv);
	/* the same frame with the type changed to HMAC: refused */
	p11w_buf_init(&t, 16);
	p11w_put_u64(&t, CKM_SHA256_HMAC);
	memcpy(w->req.data + 9, t.data, 8);	/* after session and flag */
	p11w_buf_free(&t);
	p11w_arena_reset(&w->ar);
	p11w_rd_init(&r, w->req.data, w->req.len);
	assert_int_equal(p11w_req_decode(&r, P11W_CALL_C_EncryptInit, w->srv,
	    &w->ar), -1);
}

/*
 * A GCM IV longer than the reply's room: the worker's decoder answers
 * malformed (and the daemon closes the connection), so the module refuses
 * it first with CKR_MECHANISM_PARAM_INVALID; the longest it lets through
 * still decodes.
 */
static void
test_gcm_iv_room(void **state)
{
	struct wire *w = *state;
	size_t room = FRAME - P11W_REPLY_SLACK;
	uint8_t *iv;
	CK_GCM_PARAMS g;
	CK_MECHANISM m = { CKM_AES_GCM, &g, sizeof(g) };
	struct p11w_arg a[P11W_MAX_ARGS] = {
		{ .v = 1 }, { .p = &m }, { .v = 2 },
	};
	struct p11w_rd r;

	assert_non_null(iv = calloc(1, room + 1));
	g = (CK_GCM_PARAMS){ iv, room + 1, 0, NULL, 0, 128 };
	assert_int_equal(p11w_req_check(P11W_CALL_C_EncryptInit, a, FRAME),
	    CKR_MECHANISM_PARAM_INVALID);
	assert_int_equal(p11w_req_check(P11W_CALL_C_DecryptInit, a, FRAME),
	    CKR_MECHANISM_PARAM_INVALID);
	/* it fits the frame: the worker would refuse it, not the frame */
	p11w_buf_reset(&w->req);
	assert_int_equal(p11w_req_encode(&w->req, P11W_CALL_C_EncryptInit, a),
	    CKR_OK);
	assert_true(w->req.len <= FRAME);
	p11w_arena_reset(&w->ar);
	p11w_rd_init(&r, w->req.data, w->req.len);
	assert_int_equal(p11w_req_decode(&r, P11W_CALL_C_EncryptInit, w->srv,
	    &w->ar), -1);
	/* the room itself: let through, and the worker takes it */
	g.ulIvLen = room;
	assert_int_equal(p11w_req_check(P11W_CALL_C_EncryptInit, a, FRAME),
	    CKR_OK);
	to_server(w, P11W_CALL_C_EncryptInit, a);
	/* no IV pointer, or another mechanism: nothing to check */
	g.ulIvLen = room + 1;
	g.pIv = NULL;
	assert_int_equal(p11w_req_check(P11W_CALL_C_EncryptInit, a, FRAME),
	    CKR_OK);
	a[1].p = NULL;
	assert_int_equal(p11w_req_check(P11W_CALL_C_EncryptInit, a, FRAME),
	    CKR_OK);
	free(iv);
}

/*
 * Out of memory while encoding a request is CKR_HOST_MEMORY, not the
 * CKR_DATA_LEN_RANGE or CKR_ARGUMENTS_BAD of a request that does not fit
 * a frame (the module logged "do not fit a frame" for it): every
 * allocation of the encoder failed in turn (support_alloc.h).
 */
static void
test_encode_nomem(void **state)
{
	static uint8_t data[3000];
	CK_ULONG siglen = 64;
	CK_OBJECT_HANDLE h;
	CK_ATTRIBUTE t[1] = { { CKA_VALUE, data, sizeof(data) } };
	struct p11w_arg sign[P11W_MAX_ARGS] = {
		{ .v = 1 }, { .p = data, .v = sizeof(data) },
		{ .p = data, .lp = &siglen }
	};
	struct p11w_arg create[P11W_MAX_ARGS] = {
		{ .v = 1 }, { .p = t, .v = 1 }, { .p = &h }
	};
	struct {
		uint32_t		 call;
		struct p11w_arg		*a;
	} cases[] = {
		{ P11W_CALL_C_Sign, sign },
		{ P11W_CALL_C_CreateObject, create },
	};
	struct p11w_buf b;
	unsigned long n;
	size_t i;
	CK_RV rv;
	int hit;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (n = 1; ; n++) {
			p11w_buf_init(&b, FRAME);
			m2m_alloc_arm(n);
			rv = p11w_req_encode(&b, cases[i].call, cases[i].a);
			hit = m2m_alloc_disarm();
			p11w_buf_free(&b);
			if (!hit) {
				assert_int_equal(rv, CKR_OK);
				break;
			}
			assert_int_equal(rv, CKR_HOST_MEMORY);
		}
		assert_true(n > 2);	/* it grew more than once */
	}
	/* too big for the buffer is still what it was */
	p11w_buf_init(&b, 1024);
	assert_int_equal(p11w_req_encode(&b, P11W_CALL_C_Sign, sign),
	    CKR_DATA_LEN_RANGE);
	p11w_buf_free(&b);
	p11w_buf_init(&b, 1024);
	assert_int_equal(p11w_req_encode(&b, P11W_CALL_C_CreateObject,
	    create), CKR_ARGUMENTS_BAD);
	p11w_buf_free(&b);
}

static void
test_signatures(void **state)
{
	const char *sig, *mpos;
	uint32_t c;
	size_t n;

	(void)state;
	assert_null(p11w_call_sig(P11W_CALL_HELLO));
	assert_null(p11w_call_sig(P11W_CALL_C_Initialize));
	assert_null(p11w_call_sig(P11W_CALL_C_Finalize));
	assert_null(p11w_call_sig(P11W_CALL_COUNT));
	for (c = P11W_CALL_C_GetInfo; c < P11W_CALL_COUNT; c++) {
		assert_non_null(p11w_call_sig(c));
		n = strlen(p11w_call_sig(c));
		assert_true(n >= 1 && n <= P11W_MAX_ARGS);
		/* a mechanism before any output (p11w_req_check) */
		sig = p11w_call_sig(c);
		if ((mpos = strchr(sig, 'm')) != NULL)
			assert_true(strcspn(sig, "olfrq") > (size_t)(mpos - sig));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signatures),
		cmocka_unit_test(test_sign_round_trip),
		cmocka_unit_test(test_template_round_trip),
		cmocka_unit_test(test_query_round_trip),
		cmocka_unit_test(test_mechanisms),
		cmocka_unit_test(test_info_and_lists),
		cmocka_unit_test(test_truncated_requests),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_hostile_reply),
		cmocka_unit_test(test_hostile_counts),
		cmocka_unit_test(test_no_client_pointers),
		cmocka_unit_test(test_gcm_iv_room),
		cmocka_unit_test(test_encode_nomem),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
