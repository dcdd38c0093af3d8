/*
 * fuzz_p11_mech: every mechanism parameter structure the module accepts,
 * and the attribute templates that come with them, through the public C_*
 * functions (pkcs11/p11_derive.c, p11_crypto.c, p11_obj.c's template
 * conversion, token/policy.c's template checks) on the fake backend
 * (p11env.h):
 *
 *   C_DeriveKey    CKM_M2M_KM/KPSA_DERIVE (identifier bytes),
 *                  CKM_M2M_KUC_DERIVE (CK_M2M_KUC_PARAMS),
 *                  CKM_M2M_E2E_MASTER_SHA256/512 (salt bytes),
 *                  CKM_M2M_E2E_EXPAND (one byte),
 *                  CKM_M2M_TLS12_PSK_MASTER (CK_M2M_TLS12_PSK_PARAMS),
 *                  CKM_HKDF_DERIVE (CK_HKDF_PARAMS)
 *   C_EncryptInit / C_DecryptInit   CKM_AES_GCM (CK_GCM_PARAMS)
 *   C_SignInit / C_VerifyInit       CKM_SHA256/512_HMAC[_GENERAL]
 *                                   (CK_MAC_GENERAL_PARAMS)
 *   C_GenerateKey, C_DigestInit     (parameters must be absent)
 *   C_CreateObject, C_FindObjectsInit  (templates only: values, roles,
 *                                   identifiers, m2m:timestamps)
 *
 * Input (struct fuzz_in, fuzz_input.h): the function, the base key, the
 * mechanism (or none), then the parameter as raw bytes, as NULL with a
 * length, or as the structure with each length and pointer chosen by the
 * input; then a template (or NULL with a count) and the data for the
 * operation.  Besides memory and UB errors it checks that a failed
 * C_DeriveKey, C_GenerateKey or C_CreateObject leaves *phKey as it was.
 * A pointer the harness passes always points to at least as many readable
 * bytes as the length beside it says (a heap copy of exactly that size up
 * to 64 KiB, else a read-only zero mapping of 1 GiB), so any read past
 * them is the module's fault.
 * Every iteration runs in a session of its own, closed at its end, and
 * every token object it created is destroyed.  M2M_FUZZ_VERBOSE=1 in the
 * environment prints each call's result (to check seeds).
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "p11env.h"

#define HEAP_MAX	(64u << 10)	/* larger: the zero mapping */
#define ZERO_MAP	(1ull << 30)
#define NBUF_MAX	64		/* buffers one iteration may hold */
#define TMPL_MAX	12
#define UNTOUCHED	((CK_OBJECT_HANDLE)0x5a5a5a5aUL)	/* sentinel */

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const CK_MECHANISM_TYPE mechs[] = {
	CKM_M2M_KM_DERIVE, CKM_M2M_KPSA_DERIVE, CKM_M2M_KUC_DERIVE,
	CKM_M2M_E2E_MASTER_SHA256, CKM_M2M_E2E_MASTER_SHA512,
	CKM_M2M_E2E_EXPAND, CKM_M2M_TLS12_PSK_MASTER, CKM_HKDF_DERIVE,
	CKM_AES_GCM, CKM_SHA256_HMAC, CKM_SHA256_HMAC_GENERAL,
	CKM_SHA512_HMAC, CKM_SHA512_HMAC_GENERAL, CKM_SHA256,
	CKM_GENERIC_SECRET_KEY_GEN, CKM_AES_KEY_GEN, CKM_M2M_ECCSI,
	CKM_SHA384, CKM_SHA512
};

static const CK_ATTRIBUTE_TYPE attrs[] = {
	CKA_CLASS, CKA_KEY_TYPE, CKA_TOKEN, CKA_PRIVATE, CKA_LABEL, CKA_ID,
	CKA_VALUE, CKA_VALUE_LEN, CKA_SENSITIVE, CKA_EXTRACTABLE, CKA_SIGN,
	CKA_VERIFY, CKA_ENCRYPT, CKA_DECRYPT, CKA_DERIVE, CKA_WRAP,
	CKA_MODIFIABLE, CKA_M2M_ROLE, CKA_M2M_PEER_ID, CKA_M2M_ENROLEE_ID,
	CKA_M2M_EXPIRES, CKA_KEY_GEN_MECHANISM, CKA_START_DATE
};

/* The buffers of one iteration, freed at its end. */
struct bufs {
	void	*p[NBUF_MAX];
	size_t	 n;
};

static const uint8_t *zero_map;
static int verbose;

static void
bufs_free(struct bufs *b)
{
	while (b->n > 0)
		free(b->p[--b->n]);
}

/*
 * A buffer of at least len readable bytes, filled from the input (zeros
 * after its end).  Up to HEAP_MAX bytes: an exact-size heap copy, so ASan
 * sees a read past len; larger: the read-only zero mapping.
 */
static void *
buf_of(struct fuzz_in *in, struct bufs *b, uint64_t len)
{
	const uint8_t *src;
	size_t got;
	uint8_t *p;

	if (b->n == NBUF_MAX)
		abort();	/* the harness allocates far fewer */
	if (len > HEAP_MAX)
		return (void *)zero_map;
	if ((p = malloc(len == 0 ? 1 : len)) == NULL)
		abort();
	b->p[b->n++] = p;
	src = fuzz_bytes(in, len, &got);
	memcpy(p, src, got);
	memset(p + got, 0, len - got);
	return p;
}

/* A pointer and its length: NULL (with any length) or a buffer. */
static void
ptr_len(struct fuzz_in *in, struct bufs *b, void **ret_p, CK_ULONG *ret_len)
{
	uint8_t form = fuzz_u8(in);
	uint64_t len = fuzz_len(in);

	*ret_len = (CK_ULONG)len;
	if (form % 4 == 0) {
		*ret_p = NULL;
		return;
	}
	if (len > ZERO_MAP)	/* no buffer that large: say so with NULL */
		*ret_p = NULL;
	else
		*ret_p = buf_of(in, b, len);
}

/* The mechanism's parameter, in one of its forms. */
static void
param(struct fuzz_in *in, struct bufs *b, CK_MECHANISM *m)
{
	uint8_t form = fuzz_u8(in) % 4;
	void *p;
	CK_ULONG l;

	m->pParameter = NULL;
	m->ulParameterLen = 0;
	if (form == 0) {		/* none */
		return;
	} else if (form == 1) {		/* NULL and a length, or bytes */
		ptr_len(in, b, &m->pParameter, &m->ulParameterLen);
		return;
	} else if (form == 2) {		/* a length byte, its bytes */
		m->ulParameterLen = fuzz_u8(in);
		m->pParameter = buf_of(in, b, m->ulParameterLen);
		return;
	}
	/* the structure the mechanism names, field by field */
	switch (m->mechanism) {
	case CKM_M2M_KUC_DERIVE: {
		CK_M2M_KUC_PARAMS *k = buf_of(in, b, sizeof(*k));

		k->ulSuid = (CK_ULONG)fuzz_len(in);
		ptr_len(in, b, &p, &l);
		k->pTargetId = p;
		k->ulTargetIdLen = l;
		m->pParameter = k;
		m->ulParameterLen = sizeof(*k);
		break;
	}
	case CKM_M2M_TLS12_PSK_MASTER: {
		CK_M2M_TLS12_PSK_PARAMS *t = buf_of(in, b, sizeof(*t));

		t->prfHashMechanism = fuzz_u8(in) & 1 ? CKM_SHA384 :
		    CKM_SHA256;
		if (fuzz_u8(in) == 0xff)
			t->prfHashMechanism = (CK_ULONG)fuzz_un(in, 8);
		t->bExtendedMasterSecret = fuzz_u8(in);
		ptr_len(in, b, &p, &l);
		t->pClientRandom = p;
		t->ulClientRandomLen = l;
		ptr_len(in, b, &p, &l);
		t->pServerRandom = p;
		t->ulServerRandomLen = l;
		ptr_len(in, b, &p, &l);
		t->pSessionHash = p;
		t->ulSessionHashLen = l;
		m->pParameter = t;
		m->ulParameterLen = sizeof(*t);
		break;
	}
	case CKM_HKDF_DERIVE: {
		static const CK_MECHANISM_TYPE prf[] = {
			CKM_SHA256, CKM_SHA384, CKM_SHA512, CKM_SHA_1
		};
		CK_HKDF_PARAMS *h = buf_of(in, b, sizeof(*h));
		uint8_t v = fuzz_u8(in);

		h->bExtract = v & 1;
		h->bExpand = (v >> 1) & 1;
		h->prfHashMechanism = prf[(v >> 2) & 3];
		h->ulSaltType = (v >> 4) & 3;	/* NULL, DATA, KEY, 3 */
		ptr_len(in, b, &p, &l);
		h->pSalt = p;
		h->ulSaltLen = l;
		h->hSaltKey = (CK_OBJECT_HANDLE)fuzz_u8(in);
		ptr_len(in, b, &p, &l);
		h->pInfo = p;
		h->ulInfoLen = l;
		m->pParameter = h;
		m->ulParameterLen = sizeof(*h);
		break;
	}
	case CKM_AES_GCM: {
		CK_GCM_PARAMS *g = buf_of(in, b, sizeof(*g));

		ptr_len(in, b, &p, &l);
		g->pIv = p;
		g->ulIvLen = l;
		g->ulIvBits = (CK_ULONG)fuzz_len(in);
		ptr_len(in, b, &p, &l);
		g->pAAD = p;
		g->ulAADLen = l;
		g->ulTagBits = (CK_ULONG)fuzz_len(in);
		m->pParameter = g;
		m->ulParameterLen = sizeof(*g);
		break;
	}
	default: {
		/* a CK_ULONG (CK_MAC_GENERAL_PARAMS) or one byte */
		CK_ULONG *u = buf_of(in, b, sizeof(*u));

		*u = (CK_ULONG)fuzz_len(in);
		m->pParameter = u;
		m->ulParameterLen = fuzz_u8(in) & 1 ? 1 : sizeof(*u);
		break;
	}
	}
}

/*
 * A template of up to TMPL_MAX attributes into t; its count.  A first byte
 * from 0xf0 gives no template (*ret_null) with any count.
 */
static CK_ULONG
tmpl(struct fuzz_in *in, struct bufs *b, CK_ATTRIBUTE *t, int *ret_null)
{
	uint8_t sel = fuzz_u8(in);
	CK_ULONG n = sel % (TMPL_MAX + 1), i;

	*ret_null = sel >= 0xf0;
	if (*ret_null)
		return (CK_ULONG)fuzz_len(in);

	for (i = 0; i < n; i++) {
		sel = fuzz_u8(in);
		t[i].type = sel < 2 * (sizeof(attrs) / sizeof(attrs[0])) ?
		    attrs[sel % (sizeof(attrs) / sizeof(attrs[0]))] :
		    (CK_ATTRIBUTE_TYPE)fuzz_un(in, 4);
		switch (fuzz_u8(in) % 4) {
		case 0:		/* a CK_ULONG */
			t[i].pValue = buf_of(in, b, sizeof(CK_ULONG));
			t[i].ulValueLen = sizeof(CK_ULONG);
			break;
		case 1:		/* a CK_BBOOL */
			t[i].pValue = buf_of(in, b, 1);
			t[i].ulValueLen = 1;
			break;
		default:
			ptr_len(in, b, &t[i].pValue, &t[i].ulValueLen);
		}
	}
	return n;
}

/* STYLE.md: an output is written only on success. */
static void
untouched_on_failure(CK_RV rv, CK_OBJECT_HANDLE h, const char *fn)
{
	if (rv != CKR_OK && h != UNTOUCHED) {
		fprintf(stderr, "fuzz_p11_mech: %s failed (0x%lx) and wrote "
		    "the handle\n", fn, rv);
		abort();
	}
}

static void
drop(const struct fuzz_p11 *e, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h)
{
	if (h != CK_INVALID_HANDLE && !fuzz_p11_is_base(h))
		(void)e->f->C_DestroyObject(s, h);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct fuzz_p11 *e = fuzz_p11_get();
	CK_FUNCTION_LIST_PTR f = e->f;
	struct fuzz_in in;
	struct bufs b = { .n = 0 };
	CK_ATTRIBUTE t[TMPL_MAX];
	CK_MECHANISM m;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key, h = CK_INVALID_HANDLE;
	CK_ATTRIBUTE_PTR pt;
	CK_MECHANISM_PTR pm = &m;
	CK_ULONG nt, dl, outlen;
	int tnull;
	uint8_t op, sel, out[512];
	const uint8_t *d;
	size_t got;
	CK_RV rv = CKR_OK, rv2 = CKR_OK;

	fuzz_in_init(&in, data, size);
	op = fuzz_u8(&in) % 9;
	sel = fuzz_u8(&in);
	key = sel < 2 * FUZZ_KEY_COUNT ? e->keys[sel % FUZZ_KEY_COUNT] :
	    (CK_OBJECT_HANDLE)sel;
	sel = fuzz_u8(&in);
	if (sel == 0xff)
		pm = NULL;
	m.mechanism = sel < 2 * (sizeof(mechs) / sizeof(mechs[0])) ?
	    mechs[sel % (sizeof(mechs) / sizeof(mechs[0]))] :
	    (CK_MECHANISM_TYPE)fuzz_un(&in, 4);
	param(&in, &b, &m);
	nt = tmpl(&in, &b, t, &tnull);
	pt = tnull || nt == 0 ? NULL : t;
	d = fuzz_bytes(&in, in.len, &got);
	dl = (CK_ULONG)got;

	if (f->C_OpenSession(e->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
	    NULL, NULL, &s) != CKR_OK)
		abort();
	outlen = sizeof(out);
	switch (op) {
	case 0:
		h = UNTOUCHED;
		rv = f->C_DeriveKey(s, pm, key, pt, nt, &h);
		untouched_on_failure(rv, h, "C_DeriveKey");
		if (rv == CKR_OK)
			drop(e, s, h);
		break;
	case 1:
		if ((rv = f->C_EncryptInit(s, pm, key)) == CKR_OK)
			rv2 = f->C_Encrypt(s, (CK_BYTE_PTR)d, dl, dl + 16 <=
			    sizeof(out) ? out : NULL, &outlen);
		break;
	case 2:
		if ((rv = f->C_DecryptInit(s, pm, key)) == CKR_OK)
			rv2 = f->C_Decrypt(s, (CK_BYTE_PTR)d, dl, out,
			    &outlen);
		break;
	case 3:
		if ((rv = f->C_SignInit(s, pm, key)) == CKR_OK)
			rv2 = f->C_Sign(s, (CK_BYTE_PTR)d, dl, out, &outlen);
		break;
	case 4:
		if ((rv = f->C_VerifyInit(s, pm, key)) == CKR_OK)
			rv2 = f->C_Verify(s, (CK_BYTE_PTR)d, dl / 2,
			    (CK_BYTE_PTR)d + dl / 2, dl - dl / 2);
		break;
	case 5:
		h = UNTOUCHED;
		rv = f->C_GenerateKey(s, pm, pt, nt, &h);
		untouched_on_failure(rv, h, "C_GenerateKey");
		if (rv == CKR_OK)
			drop(e, s, h);
		break;
	case 7:
		h = UNTOUCHED;
		rv = f->C_CreateObject(s, pt, nt, &h);
		untouched_on_failure(rv, h, "C_CreateObject");
		if (rv == CKR_OK)
			drop(e, s, h);
		break;
	case 8:
		if ((rv = f->C_FindObjectsInit(s, pt, nt)) == CKR_OK) {
			CK_OBJECT_HANDLE found[4];
			CK_ULONG nf = 0;

			rv2 = f->C_FindObjects(s, found, 4, &nf);
			(void)f->C_FindObjectsFinal(s);
		}
		break;
	default:
		if ((rv = f->C_DigestInit(s, pm)) == CKR_OK)
			rv2 = f->C_Digest(s, (CK_BYTE_PTR)d, dl, out, &outlen);
		break;
	}
	if (verbose)
		fprintf(stderr, "fuzz_p11_mech: op %u mech 0x%lx: "
		    "0x%lx 0x%lx\n", op, m.mechanism, rv, rv2);
	if (f->C_CloseSession(s) != CKR_OK)
		abort();
	bufs_free(&b);
	return 0;
}

int	LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	void *z;

	(void)argc;
	(void)argv;
	z = mmap(NULL, ZERO_MAP, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS |
	    MAP_NORESERVE, -1, 0);
	if (z == MAP_FAILED) {
		perror("mmap");
		abort();
	}
	zero_map = z;
	verbose = getenv("M2M_FUZZ_VERBOSE") != NULL;
	(void)fuzz_p11_get();
	return 0;
}
