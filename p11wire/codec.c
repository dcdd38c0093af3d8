/*
 * p11wire codec: the value encodings of client mode, both ends (see
 * codec.h).  About 1000 lines on purpose: each encoder sits beside its
 * decoder (client's request / worker's request, worker's reply /
 * client's reply), so that a change to one is seen next to the other.
 */
#include <stdlib.h>
#include <string.h>

#include "codec.h"

#define ARENA_EXTRA	(256u << 10)	/* templates, alignment */

static const char *const sigs[P11W_CALL_COUNT] = {
	[P11W_CALL_C_GetInfo] = "I",
	[P11W_CALL_C_GetSlotList] = "Bl",
	[P11W_CALL_C_GetSlotInfo] = "uS",
	[P11W_CALL_C_GetTokenInfo] = "uT",
	[P11W_CALL_C_GetMechanismList] = "ul",
	[P11W_CALL_C_GetMechanismInfo] = "uuM",
	[P11W_CALL_C_InitToken] = "ubL",
	[P11W_CALL_C_InitPIN] = "ub",
	[P11W_CALL_C_SetPIN] = "ubb",
	[P11W_CALL_C_OpenSession] = "uup",
	[P11W_CALL_C_CloseSession] = "u",
	[P11W_CALL_C_CloseAllSessions] = "u",
	[P11W_CALL_C_GetSessionInfo] = "uE",
	[P11W_CALL_C_GetOperationState] = "uo",
	[P11W_CALL_C_SetOperationState] = "ubuu",
	[P11W_CALL_C_Login] = "uub",
	[P11W_CALL_C_Logout] = "u",
	[P11W_CALL_C_CreateObject] = "utp",
	[P11W_CALL_C_CopyObject] = "uutp",
	[P11W_CALL_C_DestroyObject] = "uu",
	[P11W_CALL_C_GetObjectSize] = "uup",
	[P11W_CALL_C_GetAttributeValue] = "uuq",
	[P11W_CALL_C_SetAttributeValue] = "uut",
	[P11W_CALL_C_FindObjectsInit] = "ut",
	[P11W_CALL_C_FindObjects] = "uf",
	[P11W_CALL_C_FindObjectsFinal] = "u",
	[P11W_CALL_C_EncryptInit] = "umu",
	[P11W_CALL_C_Encrypt] = "ubo",
	[P11W_CALL_C_EncryptUpdate] = "ubo",
	[P11W_CALL_C_EncryptFinal] = "uo",
	[P11W_CALL_C_DecryptInit] = "umu",
	[P11W_CALL_C_Decrypt] = "ubo",
	[P11W_CALL_C_DecryptUpdate] = "ubo",
	[P11W_CALL_C_DecryptFinal] = "uo",
	[P11W_CALL_C_DigestInit] = "um",
	[P11W_CALL_C_Digest] = "ubo",
	[P11W_CALL_C_DigestUpdate] = "ub",
	[P11W_CALL_C_DigestKey] = "uu",
	[P11W_CALL_C_DigestFinal] = "uo",
	[P11W_CALL_C_SignInit] = "umu",
	[P11W_CALL_C_Sign] = "ubo",
	[P11W_CALL_C_SignUpdate] = "ub",
	[P11W_CALL_C_SignFinal] = "uo",
	[P11W_CALL_C_SignRecoverInit] = "umu",
	[P11W_CALL_C_SignRecover] = "ubo",
	[P11W_CALL_C_VerifyInit] = "umu",
	[P11W_CALL_C_Verify] = "ubb",
	[P11W_CALL_C_VerifyUpdate] = "ub",
	[P11W_CALL_C_VerifyFinal] = "ub",
	[P11W_CALL_C_VerifyRecoverInit] = "umu",
	[P11W_CALL_C_VerifyRecover] = "ubo",
	[P11W_CALL_C_DigestEncryptUpdate] = "ubo",
	[P11W_CALL_C_DecryptDigestUpdate] = "ubo",
	[P11W_CALL_C_SignEncryptUpdate] = "ubo",
	[P11W_CALL_C_DecryptVerifyUpdate] = "ubo",
	[P11W_CALL_C_GenerateKey] = "umtp",
	[P11W_CALL_C_GenerateKeyPair] = "umttpp",
	[P11W_CALL_C_WrapKey] = "umuuo",
	[P11W_CALL_C_UnwrapKey] = "umubtp",
	[P11W_CALL_C_DeriveKey] = "umutp",
	[P11W_CALL_C_SeedRandom] = "ub",
	[P11W_CALL_C_GenerateRandom] = "ur",
	[P11W_CALL_C_GetFunctionStatus] = "u",
	[P11W_CALL_C_CancelFunction] = "u",
	[P11W_CALL_C_WaitForSlotEvent] = "up",
	[P11W_CALL_C_LoginUser] = "uubb",
	[P11W_CALL_C_SessionCancel] = "uu",
};

/* see codec.h */
const char *
p11w_call_sig(uint32_t call)
{
	return call < P11W_CALL_COUNT ? sigs[call] : NULL;
}

/* see codec.h */
int
p11w_arena_init(struct p11w_arena *a, size_t frame_max)
{
	memset(a, 0, sizeof(*a));
	a->frame_max = frame_max;
	a->cap = frame_max + ARENA_EXTRA;
	if ((a->base = calloc(1, a->cap)) == NULL)
		return -1;
	p11w_arena_reset(a);
	return 0;
}

/* see codec.h */
void
p11w_arena_reset(struct p11w_arena *a)
{
	if (a->base != NULL && a->used != 0)
		explicit_bzero(a->base, a->used);
	a->used = 0;
	a->room = a->frame_max > P11W_REPLY_SLACK ?
	    a->frame_max - P11W_REPLY_SLACK : 0;
}

/* see codec.h */
void
p11w_arena_free(struct p11w_arena *a)
{
	if (a->base != NULL) {
		explicit_bzero(a->base, a->cap);
		free(a->base);
	}
	memset(a, 0, sizeof(*a));
}

/* n bytes of zeroed arena (never NULL for n == 0), or NULL when full. */
static void *
arena_take(struct p11w_arena *a, size_t n)
{
	void *p;

	n = n == 0 ? 16 : (n + 15) & ~(size_t)15;
	if (n > a->cap - a->used)
		return NULL;
	p = a->base + a->used;
	a->used += n;
	return p;
}

/* Up to want bytes of the reply's room: what an output is offered. */
static size_t
room_take(struct p11w_arena *a, uint64_t want)
{
	size_t n = want < a->room ? (size_t)want : a->room;

	a->room -= n;
	return n;
}

static int
is_ptr_attr(CK_ATTRIBUTE_TYPE t)
{
	return t == CKA_WRAP_TEMPLATE || t == CKA_UNWRAP_TEMPLATE ||
	    t == CKA_DERIVE_TEMPLATE;
}

/* ------------------------------------------------------------------ */
/* input byte arrays and the info structs, both directions              */
/* ------------------------------------------------------------------ */

/* u8 present, u32 length, the bytes when present */
static void
put_in(struct p11w_buf *b, const void *p, CK_ULONG n)
{
	if (n > UINT32_MAX) {
		b->failed = 1;
		return;
	}
	p11w_put_u8(b, p != NULL);
	p11w_put_u32(b, (uint32_t)n);
	if (p != NULL)
		p11w_put_raw(b, p, n);
}

static int
get_in(struct p11w_rd *r, const uint8_t **p, CK_ULONG *n)
{
	uint8_t present;
	uint32_t len;
	const uint8_t *q = NULL;

	if (p11w_get_u8(r, &present) != 0 || p11w_get_u32(r, &len) != 0 ||
	    present > 1)
		goto bad;
	if (present && p11w_get_raw(r, len, &q) != 0)
		goto bad;
	*p = q;
	*n = len;
	return 0;
 bad:
	r->bad = 1;
	return -1;
}

static int
get_flag(struct p11w_rd *r, int *v)
{
	uint8_t u;

	if (p11w_get_u8(r, &u) != 0 || u > 1) {
		r->bad = 1;
		return -1;
	}
	*v = u;
	return 0;
}

/* Either end of an info struct: puts into b, or gets from r. */
struct io {
	struct p11w_buf	*b;
	struct p11w_rd	*r;
};

static void
io_raw(struct io *io, void *p, size_t n)
{
	const uint8_t *q;

	if (io->b != NULL)
		p11w_put_raw(io->b, p, n);
	else if (p11w_get_raw(io->r, n, &q) == 0)
		memcpy(p, q, n);
}

static void
io_ul(struct io *io, CK_ULONG *v)
{
	uint64_t u;

	if (io->b != NULL)
		p11w_put_u64(io->b, *v);
	else if (p11w_get_u64(io->r, &u) == 0)
		*v = (CK_ULONG)u;
}

static void
io_ver(struct io *io, CK_VERSION *v)
{
	io_raw(io, &v->major, 1);
	io_raw(io, &v->minor, 1);
}

static void
io_info(struct io *io, char kind, void *p)
{
	CK_INFO *i = p;
	CK_SLOT_INFO *s = p;
	CK_TOKEN_INFO *t = p;
	CK_SESSION_INFO *e = p;
	CK_MECHANISM_INFO *m = p;

	switch (kind) {
	case 'I':
		io_ver(io, &i->cryptokiVersion);
		io_raw(io, i->manufacturerID, sizeof(i->manufacturerID));
		io_ul(io, &i->flags);
		io_raw(io, i->libraryDescription,
		    sizeof(i->libraryDescription));
		io_ver(io, &i->libraryVersion);
		break;
	case 'S':
		io_raw(io, s->slotDescription, sizeof(s->slotDescription));
		io_raw(io, s->manufacturerID, sizeof(s->manufacturerID));
		io_ul(io, &s->flags);
		io_ver(io, &s->hardwareVersion);
		io_ver(io, &s->firmwareVersion);
		break;
	case 'T':
		io_raw(io, t->label, sizeof(t->label));
		io_raw(io, t->manufacturerID, sizeof(t->manufacturerID));
		io_raw(io, t->model, sizeof(t->model));
		io_raw(io, t->serialNumber, sizeof(t->serialNumber));
		io_ul(io, &t->flags);
		io_ul(io, &t->ulMaxSessionCount);
		io_ul(io, &t->ulSessionCount);
		io_ul(io, &t->ulMaxRwSessionCount);
		io_ul(io, &t->ulRwSessionCount);
		io_ul(io, &t->ulMaxPinLen);
		io_ul(io, &t->ulMinPinLen);
		io_ul(io, &t->ulTotalPublicMemory);
		io_ul(io, &t->ulFreePublicMemory);
		io_ul(io, &t->ulTotalPrivateMemory);
		io_ul(io, &t->ulFreePrivateMemory);
		io_ver(io, &t->hardwareVersion);
		io_ver(io, &t->firmwareVersion);
		io_raw(io, t->utcTime, sizeof(t->utcTime));
		break;
	case 'E':
		io_ul(io, &e->slotID);
		io_ul(io, &e->state);
		io_ul(io, &e->flags);
		io_ul(io, &e->ulDeviceError);
		break;
	case 'M':
		io_ul(io, &m->ulMinKeySize);
		io_ul(io, &m->ulMaxKeySize);
		io_ul(io, &m->flags);
		break;
	}
}

static size_t
info_size(char c)
{
	switch (c) {
	case 'I':	return sizeof(CK_INFO);
	case 'S':	return sizeof(CK_SLOT_INFO);
	case 'T':	return sizeof(CK_TOKEN_INFO);
	case 'E':	return sizeof(CK_SESSION_INFO);
	}
	return sizeof(CK_MECHANISM_INFO);
}

static int
is_info(char c)
{
	return c == 'I' || c == 'S' || c == 'T' || c == 'E' || c == 'M';
}

/* ------------------------------------------------------------------ */
/* mechanisms                                                           */
/* ------------------------------------------------------------------ */

/*
 * The structured form of mechanism type t, whose parameter is a structure
 * holding pointers, and that structure's size; P11W_FORM_BYTES (size 0)
 * for any other type.  Such a structure crosses the wire only in its own
 * form: the worker builds it, with pointers of its own, and never takes
 * one as bytes from a client (mech_get).
 */
static enum p11w_form
mech_struct_form(CK_MECHANISM_TYPE t, size_t *ret_size)
{
	switch (t) {
	case CKM_AES_GCM:
		*ret_size = sizeof(CK_GCM_PARAMS);
		return P11W_FORM_GCM;
	case CKM_HKDF_DERIVE:
	case CKM_HKDF_DATA:
		*ret_size = sizeof(CK_HKDF_PARAMS);
		return P11W_FORM_HKDF;
	case CKM_M2M_KUC_DERIVE:
		*ret_size = sizeof(CK_M2M_KUC_PARAMS);
		return P11W_FORM_KUC;
	case CKM_M2M_TLS12_PSK_MASTER:
		*ret_size = sizeof(CK_M2M_TLS12_PSK_PARAMS);
		return P11W_FORM_TLS12_PSK;
	}
	*ret_size = 0;
	return P11W_FORM_BYTES;
}

/*
 * How m travels: its structured form when its parameter is that structure;
 * any other parameter as bytes (the worker's module refuses a wrong length
 * as it would locally).
 */
static enum p11w_form
mech_form(const CK_MECHANISM *m)
{
	enum p11w_form f;
	size_t size;

	if (m->pParameter == NULL)
		return P11W_FORM_NONE;
	f = mech_struct_form(m->mechanism, &size);
	return m->ulParameterLen == size ? f : P11W_FORM_BYTES;
}

static void
mech_put(struct p11w_buf *b, const CK_MECHANISM *m)
{
	const CK_GCM_PARAMS *g;
	const CK_HKDF_PARAMS *h;
	const CK_M2M_KUC_PARAMS *k;
	const CK_M2M_TLS12_PSK_PARAMS *t;
	enum p11w_form form;

	p11w_put_u8(b, m != NULL);
	if (m == NULL)
		return;
	form = mech_form(m);
	p11w_put_u64(b, m->mechanism);
	p11w_put_u8(b, (uint8_t)form);
	switch (form) {
	case P11W_FORM_NONE:
		p11w_put_u64(b, m->ulParameterLen);
		break;
	case P11W_FORM_BYTES:
		if (m->ulParameterLen > UINT32_MAX)
			b->failed = 1;
		else
			p11w_put_bytes(b, m->pParameter, m->ulParameterLen);
		break;
	case P11W_FORM_GCM:
		g = m->pParameter;
		put_in(b, g->pIv, g->ulIvLen);
		p11w_put_u64(b, g->ulIvBits);
		put_in(b, g->pAAD, g->ulAADLen);
		p11w_put_u64(b, g->ulTagBits);
		break;
	case P11W_FORM_HKDF:
		h = m->pParameter;
		p11w_put_u8(b, h->bExtract);
		p11w_put_u8(b, h->bExpand);
		p11w_put_u64(b, h->prfHashMechanism);
		p11w_put_u64(b, h->ulSaltType);
		put_in(b, h->pSalt, h->ulSaltLen);
		p11w_put_u64(b, h->hSaltKey);
		put_in(b, h->pInfo, h->ulInfoLen);
		break;
	case P11W_FORM_KUC:
		k = m->pParameter;
		p11w_put_u64(b, k->ulSuid);
		put_in(b, k->pTargetId, k->ulTargetIdLen);
		break;
	case P11W_FORM_TLS12_PSK:
		t = m->pParameter;
		p11w_put_u64(b, t->prfHashMechanism);
		p11w_put_u8(b, t->bExtendedMasterSecret);
		put_in(b, t->pClientRandom, t->ulClientRandomLen);
		put_in(b, t->pServerRandom, t->ulServerRandomLen);
		put_in(b, t->pSessionHash, t->ulSessionHashLen);
		break;
	}
}

/* the worker: a mechanism into a->mech and a->mp; a GCM IV is writable */
static int
mech_get(struct p11w_rd *r, struct p11w_arg *a, struct p11w_arena *ar)
{
	CK_MECHANISM *m = &a->mech;
	const uint8_t *p, *q;
	enum p11w_form own;
	uint64_t u;
	uint8_t form, x, y;
	size_t n, size;
	int present;

	if (get_flag(r, &present) != 0)
		return -1;
	if (!present) {
		a->p = NULL;
		return 0;
	}
	a->p = m;
	if (p11w_get_u64(r, &u) != 0 || p11w_get_u8(r, &form) != 0)
		return -1;
	m->mechanism = (CK_MECHANISM_TYPE)u;
	/*
	 * A structured form only for its own mechanism, and never that
	 * structure as bytes: its pointers would be the client's.
	 */
	own = mech_struct_form(m->mechanism, &size);
	if (form > P11W_FORM_BYTES && form != own) {
		r->bad = 1;
		return -1;
	}
	switch (form) {
	case P11W_FORM_NONE:
		if (p11w_get_u64(r, &u) != 0)
			return -1;
		m->pParameter = NULL;
		m->ulParameterLen = (CK_ULONG)u;
		return 0;
	case P11W_FORM_BYTES:
		if (p11w_get_bytes(r, &p, &n) != 0)
			return -1;
		if (own != P11W_FORM_BYTES && n == size) {
			r->bad = 1;
			return -1;
		}
		m->pParameter = (void *)(uintptr_t)p;
		m->ulParameterLen = n;
		return 0;
	case P11W_FORM_GCM:
		if (get_in(r, &p, &a->mp.gcm.ulIvLen) != 0 ||
		    p11w_get_u64(r, &u) != 0)
			return -1;
		a->mp.gcm.ulIvBits = (CK_ULONG)u;
		a->mp.gcm.pIv = NULL;
		if (p != NULL) {
			/* the token may write a generated IV here */
			if (a->mp.gcm.ulIvLen > ar->room ||
			    (a->mp.gcm.pIv = arena_take(ar,
			    a->mp.gcm.ulIvLen)) == NULL)
				return -1;
			ar->room -= a->mp.gcm.ulIvLen;
			memcpy(a->mp.gcm.pIv, p, a->mp.gcm.ulIvLen);
		}
		if (get_in(r, &q, &a->mp.gcm.ulAADLen) != 0 ||
		    p11w_get_u64(r, &u) != 0)
			return -1;
		a->mp.gcm.pAAD = (CK_BYTE_PTR)(uintptr_t)q;
		a->mp.gcm.ulTagBits = (CK_ULONG)u;
		m->pParameter = &a->mp.gcm;
		m->ulParameterLen = sizeof(a->mp.gcm);
		return 0;
	case P11W_FORM_HKDF:
		if (p11w_get_u8(r, &x) != 0 || p11w_get_u8(r, &y) != 0)
			return -1;
		a->mp.hkdf.bExtract = x;
		a->mp.hkdf.bExpand = y;
		if (p11w_get_u64(r, &u) != 0)
			return -1;
		a->mp.hkdf.prfHashMechanism = (CK_ULONG)u;
		if (p11w_get_u64(r, &u) != 0)
			return -1;
		a->mp.hkdf.ulSaltType = (CK_ULONG)u;
		if (get_in(r, &p, &a->mp.hkdf.ulSaltLen) != 0 ||
		    p11w_get_u64(r, &u) != 0 ||
		    get_in(r, &q, &a->mp.hkdf.ulInfoLen) != 0)
			return -1;
		a->mp.hkdf.pSalt = (CK_BYTE_PTR)(uintptr_t)p;
		a->mp.hkdf.hSaltKey = (CK_ULONG)u;
		a->mp.hkdf.pInfo = (CK_BYTE_PTR)(uintptr_t)q;
		m->pParameter = &a->mp.hkdf;
		m->ulParameterLen = sizeof(a->mp.hkdf);
		return 0;
	case P11W_FORM_KUC:
		if (p11w_get_u64(r, &u) != 0 ||
		    get_in(r, &p, &a->mp.kuc.ulTargetIdLen) != 0)
			return -1;
		a->mp.kuc.ulSuid = (CK_ULONG)u;
		a->mp.kuc.pTargetId = (CK_UTF8CHAR_PTR)(uintptr_t)p;
		m->pParameter = &a->mp.kuc;
		m->ulParameterLen = sizeof(a->mp.kuc);
		return 0;
	case P11W_FORM_TLS12_PSK:
		if (p11w_get_u64(r, &u) != 0 || p11w_get_u8(r, &x) != 0)
			return -1;
		a->mp.psk.prfHashMechanism = (CK_ULONG)u;
		a->mp.psk.bExtendedMasterSecret = x;
		if (get_in(r, &p, &a->mp.psk.ulClientRandomLen) != 0)
			return -1;
		a->mp.psk.pClientRandom = (CK_BYTE_PTR)(uintptr_t)p;
		if (get_in(r, &p, &a->mp.psk.ulServerRandomLen) != 0)
			return -1;
		a->mp.psk.pServerRandom = (CK_BYTE_PTR)(uintptr_t)p;
		if (get_in(r, &p, &a->mp.psk.ulSessionHashLen) != 0)
			return -1;
		a->mp.psk.pSessionHash = (CK_BYTE_PTR)(uintptr_t)p;
		m->pParameter = &a->mp.psk;
		m->ulParameterLen = sizeof(a->mp.psk);
		return 0;
	}
	r->bad = 1;
	return -1;
}

/* ------------------------------------------------------------------ */
/* the module's side                                                    */
/* ------------------------------------------------------------------ */

/* see codec.h */
CK_RV
p11w_req_check(uint32_t call, const struct p11w_arg *a, size_t frame_max)
{
	const char *sig = p11w_call_sig(call);
	const CK_MECHANISM *m;
	const CK_GCM_PARAMS *g;
	size_t room;
	int i;

	/*
	 * The mechanism comes before every output in a signature
	 * (test_signatures): the worker's room is still whole at its IV.
	 */
	room = frame_max > P11W_REPLY_SLACK ? frame_max - P11W_REPLY_SLACK : 0;
	for (i = 0; sig != NULL && sig[i] != '\0'; i++, a++) {
		if (sig[i] != 'm' || (m = a->p) == NULL ||
		    mech_form(m) != P11W_FORM_GCM)
			continue;
		g = m->pParameter;
		if (g->pIv != NULL && g->ulIvLen > room)
			return CKR_MECHANISM_PARAM_INVALID;
	}
	return CKR_OK;
}

/* see codec.h */
CK_RV
p11w_req_encode(struct p11w_buf *b, uint32_t call, const struct p11w_arg *a)
{
	const char *sig = p11w_call_sig(call);
	const CK_ATTRIBUTE *t;
	CK_ULONG j;
	int templ = 0, ptr, i;

	if (sig == NULL)
		return CKR_FUNCTION_NOT_SUPPORTED;
	for (i = 0; sig[i] != '\0'; i++, a++) {
		switch (sig[i]) {
		case 'u':
			p11w_put_u64(b, a->v);
			break;
		case 'B':
			p11w_put_u8(b, (uint8_t)a->v);
			break;
		case 'b':
			put_in(b, a->p, a->v);
			break;
		case 'L':
			put_in(b, a->p, a->p != NULL ? 32 : 0);
			break;
		case 'o':
		case 'l':
			/* 'o': (pulLen, pOut); 'l': (pList, pulCount) */
			if (sig[i] == 'o') {
				p11w_put_u8(b, a->lp != NULL);
				p11w_put_u8(b, a->p != NULL);
			} else {
				p11w_put_u8(b, a->p != NULL);
				p11w_put_u8(b, a->lp != NULL);
			}
			p11w_put_u64(b, a->lp != NULL ? *a->lp : 0);
			break;
		case 'f':
			p11w_put_u8(b, a->p != NULL);
			p11w_put_u8(b, a->lp != NULL);
			p11w_put_u64(b, a->v);
			break;
		case 'r':
			p11w_put_u8(b, a->p != NULL);
			p11w_put_u64(b, a->v);
			break;
		case 't':
		case 'q':
			templ = 1;
			if (a->v > P11W_TEMPLATE_MAX)
				return CKR_ARGUMENTS_BAD;
			p11w_put_u8(b, a->p != NULL);
			p11w_put_u64(b, a->v);
			for (t = a->p, j = 0; t != NULL && j < a->v; j++) {
				/*
				 * A value holding pointers: never sent;
				 * asked for without a buffer, as the
				 * worker's object cannot hold one.
				 */
				ptr = is_ptr_attr(t[j].type);
				if (ptr && sig[i] == 't')
					return CKR_ATTRIBUTE_TYPE_INVALID;
				p11w_put_u64(b, t[j].type);
				p11w_put_u8(b, !ptr && t[j].pValue != NULL);
				p11w_put_u64(b, ptr ? 0 : t[j].ulValueLen);
				if (sig[i] == 't' && t[j].pValue != NULL)
					p11w_put_raw(b, t[j].pValue,
					    t[j].ulValueLen);
			}
			break;
		case 'm':
			mech_put(b, a->p);
			break;
		default:	/* 'p' and the info structs */
			p11w_put_u8(b, a->p != NULL);
			break;
		}
	}
	if (b->failed && b->nomem)
		return CKR_HOST_MEMORY;
	if (b->failed)
		return templ ? CKR_ARGUMENTS_BAD : CKR_DATA_LEN_RANGE;
	return CKR_OK;
}

/* rv values after which a C_GetAttributeValue has written values */
static int
values_written(CK_RV rv)
{
	return rv == CKR_OK || rv == CKR_ATTRIBUTE_SENSITIVE ||
	    rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_BUFFER_TOO_SMALL;
}

/*
 * n bytes of the reply into dst of capacity cap (n == 0: nothing).  n
 * must be want, what the reply's rv and length say was written (the
 * worker sends exactly that, p11w_reply_encode): a daemon's length that
 * disagrees with its bytes would have the caller take bytes never
 * written, or beyond its buffer, for the output.
 */
static int
copy_out(struct p11w_rd *r, void *dst, CK_ULONG cap, uint64_t want)
{
	const uint8_t *p;
	size_t n;

	if (p11w_get_bytes(r, &p, &n) != 0)
		return -1;
	if (n != want || n > cap || (n != 0 && dst == NULL)) {
		r->bad = 1;
		return -1;
	}
	if (n != 0)
		memcpy(dst, p, n);
	return 0;
}

/* u32 n and n u64 handles into list of capacity cap; n must be want */
static int
list_out(struct p11w_rd *r, CK_ULONG *list, CK_ULONG cap, uint64_t want)
{
	uint32_t n, j;
	uint64_t u;

	if (p11w_get_u32(r, &n) != 0)
		return -1;
	if (n != want || n > cap || (n != 0 && list == NULL)) {
		r->bad = 1;
		return -1;
	}
	for (j = 0; j < n; j++) {
		if (p11w_get_u64(r, &u) != 0)
			return -1;
		list[j] = (CK_ULONG)u;
	}
	return 0;
}

/* the reply's mechanism output: a generated GCM IV */
static int
mech_out(struct p11w_rd *r, const CK_MECHANISM *m, CK_RV rv)
{
	const uint8_t *p;
	CK_GCM_PARAMS *g;
	CK_ULONG n;
	uint8_t form;

	if (p11w_get_u8(r, &form) != 0)
		return -1;
	if (form == P11W_FORM_NONE)
		return 0;
	if (form != P11W_FORM_GCM || m == NULL ||
	    mech_form(m) != P11W_FORM_GCM || get_in(r, &p, &n) != 0)
		goto bad;
	g = m->pParameter;
	if (p == NULL)
		return 0;
	/* the worker sends the IV after CKR_OK only, all of it */
	if (rv != CKR_OK || g->pIv == NULL || n != g->ulIvLen)
		goto bad;
	/* only a generated IV is written (the caller's may be const) */
	if (memcmp(g->pIv, p, n) != 0)
		memcpy(g->pIv, p, n);
	return 0;
 bad:
	r->bad = 1;
	return -1;
}

/* see codec.h */
int
p11w_reply_decode(struct p11w_rd *r, uint32_t call, struct p11w_arg *a,
    CK_RV *ret_rv)
{
	const char *sig = p11w_call_sig(call);
	const CK_MECHANISM *mech = NULL;
	CK_ATTRIBUTE *t;
	CK_TOKEN_INFO info;	/* the largest */
	CK_RV rv;
	uint64_t u;
	CK_ULONG j;
	int i, present, has_mech = 0, full;

	if (p11w_get_u64(r, &u) != 0)
		return -1;
	rv = (CK_RV)u;
	for (i = 0; sig != NULL && sig[i] != '\0'; i++, a++) {
		/* CKR_OK with a buffer: the output's bytes come with it */
		full = rv == CKR_OK && a->p != NULL;
		switch (sig[i]) {
		case 'o':
			full = full && a->lp != NULL;
			if (p11w_get_u64(r, &u) != 0 ||
			    copy_out(r, a->p, a->lp != NULL ? *a->lp : 0,
			    full ? u : 0) != 0)
				return -1;
			if (a->lp != NULL)
				*a->lp = (CK_ULONG)u;
			break;
		case 'p':
			if (p11w_get_u64(r, &u) != 0)
				return -1;
			if (a->p != NULL && rv == CKR_OK)
				*(CK_ULONG *)a->p = (CK_ULONG)u;
			break;
		case 'r':
			if (copy_out(r, a->p, a->v, full ? a->v : 0) != 0)
				return -1;
			break;
		case 'q':
			/*
			 * a value with its length, or none: a length of
			 * CK_UNAVAILABLE_INFORMATION, another rv
			 */
			for (t = a->p, j = 0; t != NULL && j < a->v; j++) {
				if (p11w_get_u64(r, &u) != 0)
					return -1;
				/* asked for without a buffer: none back */
				if (is_ptr_attr(t[j].type) &&
				    u != CK_UNAVAILABLE_INFORMATION) {
					r->bad = 1;
					return -1;
				}
				if (copy_out(r, t[j].pValue, t[j].ulValueLen,
				    values_written(rv) && t[j].pValue != NULL &&
				    u != CK_UNAVAILABLE_INFORMATION ? u : 0) != 0)
					return -1;
				t[j].ulValueLen = (CK_ULONG)u;
			}
			break;
		case 'l':
			full = full && a->lp != NULL;
			if (p11w_get_u64(r, &u) != 0 || list_out(r, a->p,
			    a->lp != NULL ? *a->lp : 0, full ? u : 0) != 0)
				return -1;
			if (a->lp != NULL)
				*a->lp = (CK_ULONG)u;
			break;
		case 'f':
			full = full && a->lp != NULL;
			if (p11w_get_u64(r, &u) != 0 ||
			    list_out(r, a->p, a->v, full ? u : 0) != 0)
				return -1;
			if (a->lp != NULL && rv == CKR_OK)
				*a->lp = (CK_ULONG)u;
			break;
		case 'm':
			mech = a->p;
			has_mech = 1;
			break;
		default:
			if (!is_info(sig[i]))
				break;
			if (get_flag(r, &present) != 0)
				return -1;
			/* the worker sends it exactly after CKR_OK */
			if (present != full) {
				r->bad = 1;
				return -1;
			}
			if (!present)
				break;
			memset(&info, 0, sizeof(info));
			io_info(&(struct io){ NULL, r }, sig[i], &info);
			if (r->bad)
				return -1;
			if (a->p != NULL && rv == CKR_OK)
				memcpy(a->p, &info, info_size(sig[i]));
			break;
		}
	}
	if (has_mech && mech_out(r, mech, rv) != 0)
		return -1;
	if (p11w_rd_done(r) != 0)
		return -1;
	*ret_rv = rv;
	return 0;
}

/* ------------------------------------------------------------------ */
/* the worker's side                                                    */
/* ------------------------------------------------------------------ */

/* a template ('t': values in the body; 'q': buffers in the arena) */
static int
templ_get(struct p11w_rd *r, struct p11w_arg *a, struct p11w_arena *ar,
    int query)
{
	CK_ATTRIBUTE *t;
	CK_ULONG *caps = NULL;
	const uint8_t *p;
	uint64_t count, type, len;
	size_t cap, over;
	CK_ULONG j;
	int present, pv;

	if (get_flag(r, &present) != 0 || p11w_get_u64(r, &count) != 0)
		return -1;
	if (count > P11W_TEMPLATE_MAX) {
		r->bad = 1;
		return -1;
	}
	a->v = (CK_ULONG)count;
	a->p = NULL;
	a->lp = NULL;
	if (!present)
		return 0;
	if ((t = arena_take(ar, count * sizeof(*t))) == NULL ||
	    (query && (caps = arena_take(ar, count * sizeof(*caps))) ==
	    NULL)) {
		r->bad = 1;
		return -1;
	}
	if (query) {
		/* per attribute: u64 length, u32 n in the reply */
		over = (size_t)count * 12;
		ar->room = ar->room > over ? ar->room - over : 0;
	}
	for (j = 0; j < count; j++) {
		if (p11w_get_u64(r, &type) != 0 || get_flag(r, &pv) != 0 ||
		    p11w_get_u64(r, &len) != 0)
			return -1;
		t[j].type = (CK_ATTRIBUTE_TYPE)type;
		t[j].pValue = NULL;
		t[j].ulValueLen = (CK_ULONG)len;
		if (!pv)
			continue;
		if (!query) {
			if (len > SIZE_MAX ||
			    p11w_get_raw(r, (size_t)len, &p) != 0)
				goto bad;
			t[j].pValue = (void *)(uintptr_t)p;
			continue;
		}
		cap = room_take(ar, len);
		if ((t[j].pValue = arena_take(ar, cap)) == NULL)
			goto bad;
		t[j].ulValueLen = caps[j] = cap;
	}
	a->p = t;
	a->lp = caps;
	return 0;
 bad:
	r->bad = 1;
	return -1;
}

/* see codec.h */
int
p11w_req_decode(struct p11w_rd *r, uint32_t call, struct p11w_arg *a,
    struct p11w_arena *ar)
{
	const char *sig = p11w_call_sig(call);
	const uint8_t *p;
	uint64_t u;
	uint8_t x;
	size_t cap;
	int i, f1, f2;

	if (sig == NULL)
		return -1;
	memset(a, 0, sizeof(*a) * P11W_MAX_ARGS);
	for (i = 0; sig[i] != '\0'; i++, a++) {
		switch (sig[i]) {
		case 'u':
			if (p11w_get_u64(r, &u) != 0)
				return -1;
			a->v = (CK_ULONG)u;
			break;
		case 'B':
			if (p11w_get_u8(r, &x) != 0)
				return -1;
			a->v = x;
			break;
		case 'b':
		case 'L':
			if (get_in(r, &p, &a->v) != 0)
				return -1;
			if (sig[i] == 'L' && p != NULL && a->v != 32)
				goto bad;
			a->p = (void *)(uintptr_t)p;
			break;
		case 'o':
			if (get_flag(r, &f1) != 0 || get_flag(r, &f2) != 0 ||
			    p11w_get_u64(r, &u) != 0)
				return -1;
			a->st = (CK_ULONG)u;
			a->lp = f1 ? &a->st : NULL;
			if (f2 && f1) {
				cap = room_take(ar, u);
				if ((a->p = arena_take(ar, cap)) == NULL)
					goto bad;
				a->st = a->v = cap;
			} else if (f2) {
				/* no length pointer: the module refuses it */
				if ((a->p = arena_take(ar, 0)) == NULL)
					goto bad;
			}
			break;
		case 'l':
		case 'f':
			if (get_flag(r, &f1) != 0 || get_flag(r, &f2) != 0 ||
			    p11w_get_u64(r, &u) != 0)
				return -1;
			cap = room_take(ar, u > SIZE_MAX / 8 ? SIZE_MAX :
			    u * 8) / 8;
			if (f1 && (a->p = arena_take(ar,
			    cap * sizeof(CK_ULONG))) == NULL)
				goto bad;
			a->lp = f2 ? &a->st : NULL;
			if (sig[i] == 'l') {
				a->v = cap;
				a->st = f1 ? cap : (CK_ULONG)u;
			} else {
				a->v = f1 ? cap : (CK_ULONG)u;
				a->st = 0;
			}
			break;
		case 'r':
			if (get_flag(r, &f1) != 0 || p11w_get_u64(r, &u) != 0)
				return -1;
			a->v = (CK_ULONG)u;
			if (f1) {
				if (u > ar->room)
					goto bad;
				ar->room -= (size_t)u;
				if ((a->p = arena_take(ar, (size_t)u)) == NULL)
					goto bad;
			}
			break;
		case 't':
		case 'q':
			if (templ_get(r, a, ar, sig[i] == 'q') != 0)
				return -1;
			break;
		case 'm':
			if (mech_get(r, a, ar) != 0)
				return -1;
			break;
		case 'p':
			if (get_flag(r, &f1) != 0)
				return -1;
			a->p = f1 ? &a->st : NULL;
			break;
		default:	/* the info structs */
			if (get_flag(r, &f1) != 0)
				return -1;
			a->p = f1 ? &a->info : NULL;
			break;
		}
	}
	return p11w_rd_done(r);
 bad:
	r->bad = 1;
	return -1;
}

/* see codec.h */
void
p11w_reply_encode(struct p11w_buf *b, uint32_t call,
    const struct p11w_arg *a, CK_RV rv)
{
	const char *sig = p11w_call_sig(call);
	const CK_MECHANISM *mech = NULL;
	const CK_ATTRIBUTE *t;
	const CK_ULONG *list;
	const CK_GCM_PARAMS *g;
	CK_ULONG j, n;
	int i, has_mech = 0;

	p11w_put_u64(b, rv);
	for (i = 0; sig != NULL && sig[i] != '\0'; i++, a++) {
		switch (sig[i]) {
		case 'o':
			p11w_put_u64(b, a->lp != NULL ? *a->lp : 0);
			n = rv == CKR_OK && a->p != NULL && a->lp != NULL ?
			    *a->lp : 0;
			p11w_put_bytes(b, a->p, n < a->v ? n : a->v);
			break;
		case 'p':
			p11w_put_u64(b, a->p != NULL ? a->st : 0);
			break;
		case 'r':
			p11w_put_bytes(b, a->p, rv == CKR_OK &&
			    a->p != NULL ? a->v : 0);
			break;
		case 'q':
			for (t = a->p, j = 0; t != NULL && j < a->v; j++) {
				p11w_put_u64(b, t[j].ulValueLen);
				n = values_written(rv) &&
				    t[j].pValue != NULL &&
				    t[j].ulValueLen <= a->lp[j] ?
				    t[j].ulValueLen : 0;
				p11w_put_bytes(b, t[j].pValue, n);
			}
			break;
		case 'l':
		case 'f':
			p11w_put_u64(b, a->lp != NULL ? a->st : 0);
			n = rv == CKR_OK && a->p != NULL && a->lp != NULL ?
			    a->st : 0;
			if (n > a->v)
				n = a->v;
			p11w_put_u32(b, (uint32_t)n);
			for (list = a->p, j = 0; j < n; j++)
				p11w_put_u64(b, list[j]);
			break;
		case 'm':
			mech = a->p;
			has_mech = 1;
			break;
		default:
			if (!is_info(sig[i]))
				break;
			p11w_put_u8(b, a->p != NULL && rv == CKR_OK);
			if (a->p != NULL && rv == CKR_OK)
				io_info(&(struct io){ b, NULL }, sig[i],
				    a->p);
			break;
		}
	}
	if (!has_mech)
		return;
	if (mech == NULL || mech->pParameter == NULL ||
	    mech_form(mech) != P11W_FORM_GCM) {
		p11w_put_u8(b, P11W_FORM_NONE);
		return;
	}
	g = mech->pParameter;
	p11w_put_u8(b, P11W_FORM_GCM);
	put_in(b, rv == CKR_OK ? g->pIv : NULL, g->ulIvLen);
}
