/*
 * fuzz_tls_prov: the TLS provider's parameter handling (tls/tls_prov.c):
 * kdf_set_params (digest, secret, seeds as OSSL_PARAMs of any type and
 * size), find_ref (the RFC 4279 premaster around a key reference), and
 * m2m_tls_ref_derive (tls/tls_master.c; the 49-byte reference: magic,
 * version, slot, handle, MAC; the PRF label and seed; the output length),
 * reached through EVP_KDF_CTX_set_params / EVP_KDF_derive on the provider's
 * TLS1-PRF of an m2m_tls context (tls_int.h), over the module on the
 * fake backend (p11env.h, tlsenv.h).
 *
 * The secret is raw input, or the premaster of a genuine reference (made
 * by the context for the KPSA key, or for the KPM and a role-less key
 * with m2m_tls_ref_make) with input-chosen byte changes.  The security
 * check beyond memory and UB errors: a derivation that takes the token
 * path (the secret holds a reference) succeeds only for a reference that
 * is byte for byte a genuine one of a PSK key.  M2M_FUZZ_VERBOSE=1 in
 * the environment prints each derivation's result (to check seeds).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <m2mtoken/tls.h>
#include "fuzz_input.h"
#include "p11env.h"
#include "tls_int.h"
#include "tlsenv.h"

#define NPARAM_MAX	8
#define NREF		3		/* KPSA (cached), KPM, role-less */

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int	LLVMFuzzerInitialize(int *argc, char ***argv);

static struct m2m_tls *tls;
static EVP_KDF *kdf;
static uint8_t refs[NREF][M2M_TLS_REF_LEN];

/* RFC 4279 premaster around p (n bytes) into out; its length. */
static size_t
pms(const uint8_t *p, size_t n, uint8_t *out)
{
	out[0] = (uint8_t)(n >> 8);
	out[1] = (uint8_t)n;
	memset(out + 2, 0, n);
	out[2 + n] = (uint8_t)(n >> 8);
	out[3 + n] = (uint8_t)n;
	memcpy(out + 4 + n, p, n);
	return 4 + 2 * n;
}

/* What tls_prov.c's find_ref() accepts (the token path); its length. */
static const uint8_t *
token_ref(const uint8_t *s, size_t sl, size_t *ret_len)
{
	size_t n, i;

	if (s == NULL || sl < 4)
		return NULL;
	n = (size_t)s[0] << 8 | s[1];
	if (n < 4 || sl != 4 + 2 * n)
		return NULL;
	for (i = 0; i < n; i++)
		if (s[2 + i] != 0)
			return NULL;
	if (((size_t)s[2 + n] << 8 | s[3 + n]) != n ||
	    memcmp(s + 4 + n, M2M_TLS_REF_MAGIC, 4) != 0)
		return NULL;
	*ret_len = n;
	return s + 4 + n;
}

static const char *const names[] = {
	OSSL_KDF_PARAM_DIGEST, OSSL_KDF_PARAM_SECRET, OSSL_KDF_PARAM_SEED,
	OSSL_KDF_PARAM_PROPERTIES, OSSL_KDF_PARAM_SIZE
};
static const char *const mds[] = {
	"SHA2-256", "SHA256", "SHA2-384", "SHA384", "SHA1", "MD5", ""
};

/* The secret: raw, or a (changed) premaster of a genuine reference. */
static size_t
secret_of(struct fuzz_in *in, uint8_t *out, size_t cap, int *ret_genuine)
{
	uint8_t form = fuzz_u8(in), k, i;
	const uint8_t *p;
	size_t n, len, pos;

	*ret_genuine = -1;
	if (form % 4 == 0) {
		p = fuzz_bytes(in, fuzz_u8(in) % cap, &n);
		memcpy(out, p, n);
		return n;
	}
	len = pms(refs[form % NREF], M2M_TLS_REF_LEN, out);
	k = fuzz_u8(in) % 4;
	for (i = 0; i < k; i++) {
		pos = fuzz_u8(in) % len;
		out[pos] ^= fuzz_u8(in);
	}
	if (fuzz_u8(in) & 1)		/* cut or extend */
		len = fuzz_u8(in) % cap;
	*ret_genuine = form % NREF;
	return len;
}

/*
 * Fill ps (NPARAM_MAX + 1 entries) from the input; data in bufs (freed by
 * the caller).  The first SECRET param is the one kdf_set_params takes:
 * *ret_g says what it is: -3 none, -2 not an octet string, -1 raw, else
 * the index in refs[] of the reference it was made from (*ret_secret and
 * *ret_secretlen: its value, for the last two cases).
 */
static void
params_of(struct fuzz_in *in, OSSL_PARAM *ps, void **bufs, size_t *nbufs,
    const uint8_t **ret_secret, size_t *ret_secretlen, int *ret_g)
{
	uint8_t n = fuzz_u8(in) % (NPARAM_MAX + 1), i, sel, ty;
	static const unsigned int types[] = {
		OSSL_PARAM_UTF8_STRING, OSSL_PARAM_OCTET_STRING,
		OSSL_PARAM_INTEGER, OSSL_PARAM_UNSIGNED_INTEGER,
		OSSL_PARAM_UTF8_PTR, OSSL_PARAM_OCTET_PTR
	};
	uint8_t tmp[512];
	const uint8_t *p;
	size_t len, got;
	void *buf;
	int g;

	for (i = 0; i < n; i++) {
		sel = fuzz_u8(in) % (sizeof(names) / sizeof(names[0]));
		ty = fuzz_u8(in);
		memset(&ps[i], 0, sizeof(ps[i]));
		ps[i].key = names[sel];
		ps[i].data_type = ty < 128 ? (sel == 0 || sel == 3 ?
		    OSSL_PARAM_UTF8_STRING : sel == 4 ?
		    OSSL_PARAM_UNSIGNED_INTEGER : OSSL_PARAM_OCTET_STRING) :
		    types[ty % (sizeof(types) / sizeof(types[0]))];
		g = -1;
		memset(tmp, 0, sizeof(tmp));
		if (sel == 0 && ty < 128 && (ty & 7) != 7) {
			len = strlen(mds[ty % 7]);
			memcpy(tmp, mds[ty % 7], len);
		} else if (sel == 1 && ty < 128) {
			len = secret_of(in, tmp, sizeof(tmp), &g);
		} else if (sel == 2 && ty < 128 && (ty & 3) != 3) {
			/* a PRF label, then 0..255 input bytes */
			const char *l = ty & 1 ? "master secret" :
			    "extended master secret";

			len = strlen(l);
			memcpy(tmp, l, len);
			p = fuzz_bytes(in, fuzz_u8(in), &got);
			memcpy(tmp + len, p, got);
			len += got;
		} else {
			p = fuzz_bytes(in, fuzz_u8(in), &len);
			memcpy(tmp, p, len);
		}
		/*
		 * UTF-8 strings NUL-terminated after data_size bytes, as
		 * OpenSSL's own providers expect (they call strlen on them)
		 * and libssl gives them.
		 */
		if ((buf = malloc(len + 1)) == NULL)
			abort();
		memcpy(buf, tmp, len);
		((uint8_t *)buf)[len] = '\0';
		bufs[(*nbufs)++] = buf;
		ps[i].data = buf;
		ps[i].data_size = len;
		if (ps[i].data_type == OSSL_PARAM_UTF8_PTR ||
		    ps[i].data_type == OSSL_PARAM_OCTET_PTR) {
			void **pp = malloc(sizeof(void *));

			if (pp == NULL)
				abort();
			*pp = buf;
			bufs[(*nbufs)++] = pp;
			ps[i].data = pp;
		}
		if (sel == 1 && *ret_g == -3) {
			*ret_g = -2;
			if (ps[i].data_type == OSSL_PARAM_OCTET_STRING) {
				*ret_secret = buf;
				*ret_secretlen = len;
				*ret_g = g;
			}
		}
	}
	ps[n] = OSSL_PARAM_construct_end();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	OSSL_PARAM set[NPARAM_MAX + 1], der[NPARAM_MAX + 1];
	void *bufs[4 * NPARAM_MAX];
	size_t nbufs = 0, sl = 0, sl2 = 0, keylen, rl, i;
	const uint8_t *sec = NULL, *sec2 = NULL, *ref;
	struct fuzz_in in;
	EVP_KDF_CTX *c;
	uint8_t *out;
	int g = -3, g2 = -3, ok, known = 1;

	fuzz_in_init(&in, data, size);
	keylen = fuzz_u8(&in);
	if (keylen >= 200)
		keylen = M2M_TLS_MASTER_LEN;
	/* an EVP_KDF_CTX_set_params call, then the derive's own params */
	params_of(&in, set, bufs, &nbufs, &sec, &sl, &g);
	params_of(&in, der, bufs, &nbufs, &sec2, &sl2, &g2);
	if ((c = EVP_KDF_CTX_new(kdf)) == NULL)
		abort();
	/* a failed set_params may or may not have kept its secret */
	if (set[0].key != NULL && EVP_KDF_CTX_set_params(c, set) != 1 &&
	    g != -3)
		known = 0;
	if (g2 != -3) {		/* the derive sets the secret again */
		sec = sec2;
		sl = sl2;
		g = g2;
		known = 1;
	}
	if ((out = malloc(keylen == 0 ? 1 : keylen)) == NULL)
		abort();
	ok = EVP_KDF_derive(c, out, keylen, der[0].key != NULL ? der : NULL);
	if (getenv("M2M_FUZZ_VERBOSE") != NULL)
		fprintf(stderr, "fuzz_tls_prov: derive %d, secret %d%s\n", ok,
		    g, token_ref(sec, sl, &rl) != NULL ? " (token path)" : "");
	/*
	 * A success on the token path: the secret must be the untouched
	 * premaster of a genuine reference of a PSK key (refs[0] or [1]).
	 */
	if (ok == 1 && known && g >= -1 &&
	    (ref = token_ref(sec, sl, &rl)) != NULL &&
	    (g >= 2 || g < 0 || rl != M2M_TLS_REF_LEN ||
	    memcmp(ref, refs[g], M2M_TLS_REF_LEN) != 0)) {
		fprintf(stderr, "fuzz_tls_prov: a reference that is not a "
		    "genuine PSK reference derived a master secret\n");
		abort();
	}
	ERR_clear_error();
	EVP_KDF_CTX_free(c);
	free(out);
	for (i = 0; i < nbufs; i++)
		free(bufs[i]);
	return 0;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const struct fuzz_p11 *e = fuzz_p11_get();

	(void)argc;
	(void)argv;
	tls = fuzz_tls_get();
	if ((kdf = m2m_tls_prov_kdf(tls)) == NULL ||
	    m2m_tls_psk_ref(tls, (const uint8_t *)FUZZ_KPSA_LABEL,
	    strlen(FUZZ_KPSA_LABEL), refs[0]) != CKR_OK ||
	    !m2m_tls_ref_make(tls, e->keys[FUZZ_KEY_KPM],
	    (const uint8_t *)FUZZ_KPM_LABEL, strlen(FUZZ_KPM_LABEL),
	    refs[1]) ||
	    !m2m_tls_ref_make(tls, e->keys[FUZZ_KEY_GENERIC],
	    (const uint8_t *)"generic-fuzz", strlen("generic-fuzz"),
	    refs[2])) {
		fprintf(stderr, "fuzz_tls_prov: cannot make references\n");
		abort();
	}
	return 0;
}
