/*
 * test_tls_ref: the provider's TLS1-PRF fed key references directly.
 * A genuine reference gives the master secret of the token's PSK (checked
 * against the default provider's TLS1-PRF on the raw premaster, with and
 * without extended master secret); a tampered, truncated or stale (other
 * context) reference, or a wrong output length, fails with an error on the
 * OpenSSL error stack.  Run as "run_c.sh hsm|tpm test_tls_ref".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <m2mtoken/tls.h>
#include "tls_int.h"

#define LABEL	"kpm-ref@mef.example.com"

static int failures;

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "FAIL %s:%d: %s\n", \
	__FILE__, __LINE__, #c); failures++; } } while (0)

static const uint8_t psk[16] = {
	0x0b, 0xad, 0xc0, 0xde, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12
};

/* RFC 4279 premaster around p (n bytes) into out; its length */
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

/* one PRF call: 1/0 as EVP_KDF_derive */
static int
prf(EVP_KDF *kdf, const char *md, const uint8_t *sec, size_t sl,
    const char *label, const uint8_t *seed, size_t seedlen, uint8_t *out,
    size_t outlen)
{
	EVP_KDF_CTX *c = EVP_KDF_CTX_new(kdf);
	OSSL_PARAM ps[5];
	int ok;

	if (c == NULL)
		return 0;
	ps[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
	    (char *)md, 0);
	ps[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET,
	    (void *)sec, sl);
	ps[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED,
	    (void *)label, strlen(label));
	ps[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED,
	    (void *)seed, seedlen);
	ps[4] = OSSL_PARAM_construct_end();
	ok = EVP_KDF_derive(c, out, outlen, ps) == 1;
	EVP_KDF_CTX_free(c);
	return ok;
}

/* derive must fail and leave an error */
static void
expect_fail(EVP_KDF *kdf, const uint8_t *sec, size_t sl, size_t outlen,
    const char *what)
{
	uint8_t seed[32] = { 7 }, out[64];

	ERR_clear_error();
	if (prf(kdf, "SHA2-256", sec, sl, "extended master secret", seed,
	    sizeof(seed), out, outlen)) {
		fprintf(stderr, "FAIL: derive accepted %s\n", what);
		failures++;
	} else if (ERR_peek_error() == 0) {
		fprintf(stderr, "FAIL: no OpenSSL error for %s\n", what);
		failures++;
	}
	ERR_clear_error();
}

/*
 * m2m_tls_ctx_new with ciphers: its result; *named is set when its stderr
 * line names the first suite of the list.
 */
static int
ctx_ciphers(const char *ciphers, int *named)
{
	struct m2m_tls_opts o;
	SSL_CTX *c = NULL;
	char line[512], first[128];
	FILE *tmp = tmpfile();
	int saved = dup(2), r;

	memset(&o, 0, sizeof(o));
	o.token_label = "m2m-tls";
	o.pin = "1234";
	o.role = M2M_TLS_SERVER;
	o.ciphers = ciphers;
	fflush(stderr);
	if (tmp == NULL || saved < 0 || dup2(fileno(tmp), 2) < 0) {
		fprintf(stderr, "FAIL: redirect stderr\n");
		exit(1);
	}
	r = m2m_tls_ctx_new(&o, &c);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	m2m_tls_ctx_free(c);
	snprintf(first, sizeof(first), "%.*s", (int)strcspn(ciphers, ":"),
	    ciphers);
	*named = 0;
	rewind(tmp);
	while (fgets(line, sizeof(line), tmp) != NULL)
		if (strstr(line, first) != NULL &&
		    strstr(line, "not a plain PSK suite") != NULL)
			*named = 1;
	fclose(tmp);
	return r;
}

static SSL_CTX *
ctx(enum m2m_tls_role role)
{
	struct m2m_tls_opts o;
	SSL_CTX *c = NULL;

	memset(&o, 0, sizeof(o));
	o.token_label = "m2m-tls";
	o.pin = "1234";
	o.role = role;
	o.sni = "mef.example.com";
	o.identity = LABEL;
	if (m2m_tls_ctx_new(&o, &c) != 0)
		return NULL;
	return c;
}

int
main(void)
{
	CK_FUNCTION_LIST_PTR f;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE h;
	SSL_CTX *c1 = NULL, *c2 = NULL;
	struct m2m_tls *t1, *t2;
	EVP_KDF *mine = NULL, *dflt = NULL;
	uint8_t ref[M2M_TLS_REF_LEN], bad[M2M_TLS_REF_LEN], other[M2M_TLS_REF_LEN];
	uint8_t sec[4 + 2 * 64], raw[4 + 2 * 16], seed[64], a[48], b[48];
	size_t sl, rl, i;
	const char *mds[] = { "SHA2-256", "SHA2-384" };

	if ((f = m2m_p11_load(NULL)) == NULL ||
	    m2m_p11_find_token(f, "m2m-tls", 1, "5678", "1234", &slot) !=
	    CKR_OK ||
	    f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
	    NULL, &s) != CKR_OK ||
	    f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)"1234", 4) != CKR_OK ||
	    m2m_p11_import_psk(f, s, LABEL, CK_M2M_ROLE_KPM, psk, sizeof(psk),
	    NULL) != CKR_OK ||
	    m2m_p11_find_psk(f, s, (const uint8_t *)LABEL, strlen(LABEL), &h) !=
	    CKR_OK) {
		fprintf(stderr, "FAIL: token setup\n");
		return 1;
	}
	if ((c1 = ctx(M2M_TLS_CLIENT)) == NULL ||
	    (c2 = ctx(M2M_TLS_SERVER)) == NULL) {
		fprintf(stderr, "FAIL: m2m_tls_ctx_new\n");
		return 1;
	}
	t1 = m2m_tls_of(c1);
	t2 = m2m_tls_of(c2);
	mine = m2m_tls_prov_kdf(t1);
	dflt = EVP_KDF_fetch(t1->libctx, "TLS1-PRF", "provider=default");
	CHECK(mine != NULL && dflt != NULL);
	CHECK(m2m_tls_ref_make(t1, h, (const uint8_t *)LABEL, strlen(LABEL),
	    ref));
	sl = pms(ref, sizeof(ref), sec);
	rl = pms(psk, sizeof(psk), raw);
	for (i = 0; i < sizeof(seed); i++)
		seed[i] = (uint8_t)(i * 37 + 1);

	/* genuine: the token's master secret equals the raw-PSK one */
	for (i = 0; i < 2; i++) {
		CHECK(prf(mine, mds[i], sec, sl, "extended master secret",
		    seed, 32 + 16 * i, a, 48));
		CHECK(prf(dflt, mds[i], raw, rl, "extended master secret",
		    seed, 32 + 16 * i, b, 48));
		CHECK(memcmp(a, b, 48) == 0);
		CHECK(prf(mine, mds[i], sec, sl, "master secret", seed, 64,
		    a, 48));
		CHECK(prf(dflt, mds[i], raw, rl, "master secret", seed, 64,
		    b, 48));
		CHECK(memcmp(a, b, 48) == 0);
	}
	/* a secret that is no reference passes through unchanged */
	CHECK(prf(mine, "SHA2-256", psk, sizeof(psk), "key expansion", seed,
	    64, a, 40));
	CHECK(prf(dflt, "SHA2-256", psk, sizeof(psk), "key expansion", seed,
	    64, b, 40));
	CHECK(memcmp(a, b, 40) == 0);

	/* tampered anywhere past the magic: refused */
	for (i = 4; i < sizeof(ref); i++) {
		memcpy(bad, ref, sizeof(ref));
		bad[i] ^= 0x01;
		sl = pms(bad, sizeof(bad), sec);
		expect_fail(mine, sec, sl, 48, "a tampered reference");
	}
	/* tampered magic: not ours, so a PSK of public bytes, never Kpm */
	memcpy(bad, ref, sizeof(ref));
	bad[0] ^= 0x20;
	sl = pms(bad, sizeof(bad), sec);
	CHECK(prf(mine, "SHA2-256", sec, sl, "master secret", seed, 64, a,
	    48));
	CHECK(prf(dflt, "SHA2-256", raw, rl, "master secret", seed, 64, b,
	    48));
	CHECK(memcmp(a, b, 48) != 0);
	/* truncated */
	sl = pms(ref, sizeof(ref) - 1, sec);
	expect_fail(mine, sec, sl, 48, "a truncated reference");
	/* stale: made by another context */
	CHECK(m2m_tls_ref_make(t2, h, (const uint8_t *)LABEL, strlen(LABEL),
	    other));
	sl = pms(other, sizeof(other), sec);
	expect_fail(mine, sec, sl, 48, "a reference of another context");
	/* genuine, but not for a 48-byte master secret */
	sl = pms(ref, sizeof(ref), sec);
	expect_fail(mine, sec, sl, 32, "a reference for 32 bytes");

	/*
	 * A genuine reference inside a DHE/ECDHE/RSA-PSK premaster
	 * (other_secret || psk): refused, never fed to the default PRF.
	 */
	sec[0] = 0;
	sec[1] = 32;
	memset(sec + 2, 0x5a, 32);
	sec[34] = 0;
	sec[35] = (uint8_t)sizeof(ref);
	memcpy(sec + 36, ref, sizeof(ref));
	expect_fail(mine, sec, 36 + sizeof(ref), 48,
	    "a reference with a non-zero other_secret");

	/* contexts: plain PSK suites only, the others refused by name */
	{
		static const char *refused[] = {
			"ECDHE-PSK-AES128-CBC-SHA256",
			"DHE-PSK-AES128-GCM-SHA256",
			"RSA-PSK-AES128-GCM-SHA256",
			"AES128-GCM-SHA256",
			"ECDHE-PSK-AES128-CBC-SHA256:PSK-AES128-GCM-SHA256",
		};
		int named;

		for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
			if (ctx_ciphers(refused[i], &named) !=
			    M2M_TLS_ERR_ARG || !named) {
				fprintf(stderr, "FAIL: suite list '%s' not "
				    "refused by name\n", refused[i]);
				failures++;
			}
		}
		CHECK(ctx_ciphers("PSK-AES128-GCM-SHA256:PSK-AES128-CBC-SHA256",
		    &named) == 0);
	}

	EVP_KDF_free(mine);
	EVP_KDF_free(dflt);
	m2m_tls_ctx_free(c1);
	m2m_tls_ctx_free(c2);
	f->C_CloseSession(s);
	m2m_p11_unload();
	if (failures == 0)
		printf("ok: provider TLS1-PRF: genuine, tampered, stale, "
		    "wrong-length references, non-plain-PSK premasters; "
		    "contexts refuse non-plain-PSK suites by name\n");
	return failures ? 1 : 0;
}
