/*
 * p11wire: buffers, readers, frame headers, HELLO (see p11wire.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11wire.h"

#define REASON_MAX	200

static pthread_mutex_t *resize_lk;	/* see p11w_set_resize_lock */

static const char *const call_names[P11W_CALL_COUNT] = {
#define N(x)	[P11W_CALL_##x] = #x
	N(HELLO), N(C_Initialize), N(C_Finalize), N(C_GetInfo),
	N(C_GetSlotList), N(C_GetSlotInfo), N(C_GetTokenInfo),
	N(C_GetMechanismList), N(C_GetMechanismInfo), N(C_InitToken),
	N(C_InitPIN), N(C_SetPIN), N(C_OpenSession), N(C_CloseSession),
	N(C_CloseAllSessions), N(C_GetSessionInfo), N(C_GetOperationState),
	N(C_SetOperationState), N(C_Login), N(C_Logout), N(C_CreateObject),
	N(C_CopyObject), N(C_DestroyObject), N(C_GetObjectSize),
	N(C_GetAttributeValue), N(C_SetAttributeValue),
	N(C_FindObjectsInit), N(C_FindObjects), N(C_FindObjectsFinal),
	N(C_EncryptInit), N(C_Encrypt), N(C_EncryptUpdate),
	N(C_EncryptFinal), N(C_DecryptInit), N(C_Decrypt),
	N(C_DecryptUpdate), N(C_DecryptFinal), N(C_DigestInit), N(C_Digest),
	N(C_DigestUpdate), N(C_DigestKey), N(C_DigestFinal), N(C_SignInit),
	N(C_Sign), N(C_SignUpdate), N(C_SignFinal), N(C_SignRecoverInit),
	N(C_SignRecover), N(C_VerifyInit), N(C_Verify), N(C_VerifyUpdate),
	N(C_VerifyFinal), N(C_VerifyRecoverInit), N(C_VerifyRecover),
	N(C_DigestEncryptUpdate), N(C_DecryptDigestUpdate),
	N(C_SignEncryptUpdate), N(C_DecryptVerifyUpdate), N(C_GenerateKey),
	N(C_GenerateKeyPair), N(C_WrapKey), N(C_UnwrapKey), N(C_DeriveKey),
	N(C_SeedRandom), N(C_GenerateRandom), N(C_GetFunctionStatus),
	N(C_CancelFunction), N(C_WaitForSlotEvent), N(C_LoginUser),
	N(C_SessionCancel)
#undef N
};

/* see p11wire.h */
const char *
p11w_call_name(uint32_t call)
{
	return call < P11W_CALL_COUNT ? call_names[call] : NULL;
}

/* see p11wire.h */
const char *
p11w_err_name(uint32_t err)
{
	switch (err) {
	case P11W_OK:		return "ok";
	case P11W_ERR_VERSION:	return "version";
	case P11W_ERR_MALFORMED: return "malformed";
	case P11W_ERR_TOO_BIG:	return "too-big";
	case P11W_ERR_ORDER:	return "order";
	case P11W_ERR_STALLED:	return "stalled";
	case P11W_ERR_BUSY:	return "busy";
	case P11W_ERR_INTERNAL:	return "internal";
	case P11W_ERR_DENIED:	return "denied";
	}
	return "unknown";
}

/* see p11wire.h */
void
p11w_set_resize_lock(pthread_mutex_t *lk)
{
	resize_lk = lk;
}

static void
resize_lock(void)
{
	if (resize_lk != NULL)
		pthread_mutex_lock(resize_lk);
}

static void
resize_unlock(void)
{
	if (resize_lk != NULL)
		pthread_mutex_unlock(resize_lk);
}

/* see p11wire.h */
void
p11w_buf_init(struct p11w_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

/* see p11wire.h */
void
p11w_buf_reset(struct p11w_buf *b)
{
	if (b->data != NULL)
		explicit_bzero(b->data, b->len);
	b->len = 0;
	b->failed = 0;
	b->nomem = 0;
}

/* see p11wire.h */
void
p11w_buf_free(struct p11w_buf *b)
{
	size_t max = b->max;

	resize_lock();
	if (b->data != NULL) {
		explicit_bzero(b->data, b->cap);
		free(b->data);
	}
	p11w_buf_init(b, max);
	resize_unlock();
}

/* see p11wire.h */
uint8_t *
p11w_put_space(struct p11w_buf *b, size_t n)
{
	uint8_t *p;
	size_t cap;

	if (b->failed)
		return NULL;
	if (n > b->max || b->len > b->max - n) {
		b->failed = 1;
		return NULL;
	}
	if (b->len + n > b->cap) {
		cap = b->cap < 256 ? 256 : b->cap;
		while (cap < b->len + n)
			cap = cap > b->max / 2 ? b->max : cap * 2;
		/*
		 * not realloc: the old bytes are wiped before they are freed;
		 * the lock: no fork in between (p11w_set_resize_lock)
		 */
		resize_lock();
		if ((p = malloc(cap)) == NULL) {
			resize_unlock();
			b->failed = 1;
			b->nomem = 1;
			return NULL;
		}
		if (b->data != NULL) {
			memcpy(p, b->data, b->len);
			explicit_bzero(b->data, b->cap);
			free(b->data);
		}
		b->data = p;
		b->cap = cap;
		resize_unlock();
	}
	p = b->data + b->len;
	b->len += n;
	return p;
}

/* see p11wire.h */
void
p11w_put_raw(struct p11w_buf *b, const void *p, size_t n)
{
	uint8_t *d;

	if ((d = p11w_put_space(b, n)) != NULL && n != 0)
		memcpy(d, p, n);
}

/* see p11wire.h */
void
p11w_put_u8(struct p11w_buf *b, uint8_t v)
{
	p11w_put_raw(b, &v, 1);
}

/* see p11wire.h */
void
p11w_put_u32(struct p11w_buf *b, uint32_t v)
{
	uint8_t d[4] = { v >> 24, v >> 16, v >> 8, v };

	p11w_put_raw(b, d, sizeof(d));
}

/* see p11wire.h */
void
p11w_put_u64(struct p11w_buf *b, uint64_t v)
{
	p11w_put_u32(b, (uint32_t)(v >> 32));
	p11w_put_u32(b, (uint32_t)v);
}

/* see p11wire.h */
void
p11w_put_bytes(struct p11w_buf *b, const void *p, size_t n)
{
	if (n > UINT32_MAX) {
		b->failed = 1;
		return;
	}
	p11w_put_u32(b, (uint32_t)n);
	p11w_put_raw(b, p, n);
}

/* see p11wire.h */
void
p11w_rd_init(struct p11w_rd *r, const void *p, size_t len)
{
	r->p = p;
	r->len = p == NULL ? 0 : len;
	r->off = 0;
	r->bad = 0;
}

/* see p11wire.h */
int
p11w_get_raw(struct p11w_rd *r, size_t n, const uint8_t **p)
{
	if (r->bad || n > r->len - r->off) {
		r->bad = 1;
		return -1;
	}
	*p = r->p + r->off;
	r->off += n;
	return 0;
}

/* see p11wire.h */
int
p11w_get_u8(struct p11w_rd *r, uint8_t *v)
{
	const uint8_t *p;

	if (p11w_get_raw(r, 1, &p) != 0)
		return -1;
	*v = p[0];
	return 0;
}

/* see p11wire.h */
int
p11w_get_u32(struct p11w_rd *r, uint32_t *v)
{
	const uint8_t *p;

	if (p11w_get_raw(r, 4, &p) != 0)
		return -1;
	*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
	return 0;
}

/* see p11wire.h */
int
p11w_get_u64(struct p11w_rd *r, uint64_t *v)
{
	uint32_t hi, lo;

	if (p11w_get_u32(r, &hi) != 0 || p11w_get_u32(r, &lo) != 0)
		return -1;
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

/* see p11wire.h */
int
p11w_get_bytes(struct p11w_rd *r, const uint8_t **p, size_t *n)
{
	uint32_t len;

	if (p11w_get_u32(r, &len) != 0 || p11w_get_raw(r, len, p) != 0)
		return -1;
	*n = len;
	return 0;
}

/* see p11wire.h */
int
p11w_rd_done(const struct p11w_rd *r)
{
	return r->bad || r->off != r->len ? -1 : 0;
}

/* see p11wire.h */
void
p11w_hdr_put(uint8_t out[P11W_HDR_LEN], const struct p11w_hdr *h)
{
	const uint32_t v[3] = { h->len, h->id, h->code };
	int i;

	for (i = 0; i < 3; i++) {
		out[4 * i] = v[i] >> 24;
		out[4 * i + 1] = v[i] >> 16;
		out[4 * i + 2] = v[i] >> 8;
		out[4 * i + 3] = v[i];
	}
}

/* see p11wire.h */
void
p11w_hdr_get(const uint8_t in[P11W_HDR_LEN], struct p11w_hdr *h)
{
	uint32_t v[3];
	int i;

	for (i = 0; i < 3; i++)
		v[i] = (uint32_t)in[4 * i] << 24 |
		    (uint32_t)in[4 * i + 1] << 16 |
		    (uint32_t)in[4 * i + 2] << 8 | in[4 * i + 3];
	h->len = v[0];
	h->id = v[1];
	h->code = v[2];
}

/* see p11wire.h */
void
p11w_frame(struct p11w_buf *out, uint32_t id, uint32_t code,
    const void *body, size_t len)
{
	struct p11w_hdr h = { (uint32_t)len, id, code };
	uint8_t *p;

	if (len > UINT32_MAX) {
		out->failed = 1;
		return;
	}
	if ((p = p11w_put_space(out, P11W_HDR_LEN)) != NULL)
		p11w_hdr_put(p, &h);
	p11w_put_raw(out, body, len);
}

/* see p11wire.h */
void
p11w_error_frame(struct p11w_buf *out, uint32_t id, enum p11w_err err,
    const char *reason)
{
	size_t n = reason == NULL ? 0 : strnlen(reason, REASON_MAX);

	p11w_frame(out, id, err, reason, n);
}

static void
hello_head(struct p11w_buf *body)
{
	p11w_put_raw(body, P11W_MAGIC, P11W_MAGIC_LEN);
	p11w_put_u8(body, P11W_VERSION_MAJOR >> 8);
	p11w_put_u8(body, P11W_VERSION_MAJOR & 0xff);
	p11w_put_u8(body, P11W_VERSION_MINOR >> 8);
	p11w_put_u8(body, P11W_VERSION_MINOR & 0xff);
}

/* see p11wire.h */
void
p11w_hello_request(struct p11w_buf *body)
{
	hello_head(body);
	p11w_put_u8(body, (uint8_t)sizeof(CK_ULONG));
}

/* see p11wire.h */
void
p11w_hello_reply(struct p11w_buf *body, uint32_t frame_max)
{
	hello_head(body);
	p11w_put_u32(body, frame_max);
}

static int
hello_parse(const uint8_t *body, size_t len, int reply,
    struct p11w_hello *h, char *reason, size_t reasonlen)
{
	struct p11w_rd r;
	const uint8_t *magic;
	uint8_t b[4];
	int i;

	memset(h, 0, sizeof(*h));
	p11w_rd_init(&r, body, len);
	if (p11w_get_raw(&r, P11W_MAGIC_LEN, &magic) != 0 ||
	    memcmp(magic, P11W_MAGIC, P11W_MAGIC_LEN) != 0) {
		snprintf(reason, reasonlen, "not an m2mtoken PKCS#11 HELLO "
		    "(bad magic)");
		return P11W_ERR_VERSION;
	}
	for (i = 0; i < 4; i++)
		(void)p11w_get_u8(&r, &b[i]);
	h->major = (uint16_t)(b[0] << 8 | b[1]);
	h->minor = (uint16_t)(b[2] << 8 | b[3]);
	if (reply)
		(void)p11w_get_u32(&r, &h->frame_max);
	else
		(void)p11w_get_u8(&r, &h->ulong_size);
	if (p11w_rd_done(&r) != 0) {
		snprintf(reason, reasonlen, "HELLO of %zu bytes does not "
		    "decode", len);
		return P11W_ERR_MALFORMED;
	}
	if (h->major != P11W_VERSION_MAJOR) {
		snprintf(reason, reasonlen, "protocol version %u.%u on the "
		    "%s, %u.%u here: install matching versions of the module "
		    "and m2mtokend", h->major, h->minor,
		    reply ? "daemon" : "client", P11W_VERSION_MAJOR,
		    P11W_VERSION_MINOR);
		return P11W_ERR_VERSION;
	}
	if (!reply && h->ulong_size != sizeof(CK_ULONG)) {
		snprintf(reason, reasonlen, "the client's CK_ULONG has %u "
		    "bytes, the daemon's %zu: a 32-bit client needs a 32-bit "
		    "daemon", h->ulong_size, sizeof(CK_ULONG));
		return P11W_ERR_VERSION;
	}
	if (reply && (h->frame_max < P11W_FRAME_MIN ||
	    h->frame_max > P11W_FRAME_HARD_MAX)) {
		snprintf(reason, reasonlen, "daemon frame_max %u outside "
		    "%u..%u", h->frame_max, P11W_FRAME_MIN,
		    P11W_FRAME_HARD_MAX);
		return P11W_ERR_VERSION;
	}
	return P11W_OK;
}

/* see p11wire.h */
int
p11w_hello_check(const uint8_t *body, size_t len, struct p11w_hello *ret,
    char *reason, size_t reasonlen)
{
	return hello_parse(body, len, 0, ret, reason, reasonlen);
}

/* see p11wire.h */
int
p11w_hello_reply_check(const uint8_t *body, size_t len,
    struct p11w_hello *ret, char *reason, size_t reasonlen)
{
	return hello_parse(body, len, 1, ret, reason, reasonlen);
}
