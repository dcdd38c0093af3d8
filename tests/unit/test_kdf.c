/*
 * Unit tests of token/kdf.c on the fake backend: the worked example of
 * shared/spec/onem2m-keys.md section 7, the SHA-512 and salt variants
 * against OpenSSL, the PSK premaster, the TLS 1.2 PRF against OpenSSL's
 * TLS1-PRF, and backend failures at every step.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>

#include "err.h"
#include "fake_backend.h"
#include "ident.h"
#include "kdf.h"
#include "secret.h"

static void
unhex(const char *h, uint8_t *out, size_t n)
{
	assert_int_equal(m2m_hex_decode(h, strlen(h), out, n), 0);
}

struct fx {
	struct m2m_backend	 be;
	uint8_t			*blob;
	size_t			 bloblen;
	struct m2m_keyref	 kr;
};

static void
fx_key(struct fx *f, const uint8_t *k, size_t n)
{
	free(f->blob);
	assert_int_equal(f->be.ops->wrap(f->be.impl, M2M_KIND_HMAC, k, n,
	    &f->blob, &f->bloblen), 0);
	memset(&f->kr, 0, sizeof(f->kr));
	f->kr.kind = M2M_KIND_HMAC;
	f->kr.blob = f->blob;
	f->kr.bloblen = f->bloblen;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(m2m_fake_backend_open(&f->be), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	m2m_fake_backend_fail_after(-1);
	f->be.ops->close(f->be.impl);
	free(f->blob);
	free(f);
	return 0;
}

static const char *KE =
    "101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f";

static void
expect_secret(const struct m2m_secret *s, const char *hex)
{
	uint8_t want[64];
	size_t n = strlen(hex) / 2;

	unhex(hex, want, n);
	assert_int_equal(m2m_secret_len(s), n);
	assert_memory_equal(m2m_secret_data(s), want, n);
}

/* onem2m-keys.md section 7, every value */
static void
test_worked_example(void **state)
{
	struct fx *f = *state;
	struct m2m_secret *km = NULL, *kpsa = NULL, *master = NULL, *t = NULL;
	const char *maf = "maf.example.com";
	const char *eb = "/in-cse.example.com/CAE01";
	static const char *const T[4] = {
	    "0a18efc77a3074d407e3e46a5be38b51886a7bd67d414fda33db8329761deca5",
	    "ff4e23d89035401152a1817f9e7dc15dfce222cb06292a3878b34bf525b3d887",
	    "10bd4078071e453571e032e2d90fcee8c30c5b4078d453912fdbc6bbb8c7071b",
	    "dbebf2b5438ec6b4204c93354bd718e95d5b9b790f37ab31c5148aab9aa81061" };
	uint8_t ke[32];
	char *e2eid = NULL;
	unsigned n;

	unhex(KE, ke, sizeof(ke));
	fx_key(f, ke, sizeof(ke));
	assert_int_equal(m2m_kdf_from_ke(&f->be, &f->kr, M2M_KDF_KM, 0,
	    (const uint8_t *)maf, strlen(maf), &km), 0);
	expect_secret(km,
	    "28a823bfe683d7acfed2e53dea75e63f39c5fc4bc3d6ffc2b2aa469237dcf4d8");
	assert_int_equal(m2m_kdf_from_ke(&f->be, &f->kr, M2M_KDF_KPSA, 0,
	    (const uint8_t *)eb, strlen(eb), &kpsa), 0);
	expect_secret(kpsa,
	    "d7f399f9aa3564b7b941a888084dc1149823cef8ff2d6630845bd4e6fbccf254");
	fx_key(f, m2m_secret_data(kpsa), m2m_secret_len(kpsa));
	assert_int_equal(m2m_kdf_e2e_master(&f->be, NULL, 0, &f->kr,
	    M2M_HASH_SHA256, &master), 0);
	expect_secret(master,
	    "6da6d479ba01d00cf3136790bd11074ca3a83298a89d33adc691b5e9e519644a");
	fx_key(f, m2m_secret_data(master), m2m_secret_len(master));
	for (n = 1; n <= 4; n++) {
		assert_int_equal(m2m_kdf_e2e_expand(&f->be, &f->kr,
		    M2M_HASH_SHA256, n, &t), 0);
		expect_secret(t, T[n - 1]);
		m2m_secret_free(t);
		t = NULL;
	}
	assert_int_equal(m2m_kdf_e2e_keyid(&f->be, &f->kr, M2M_HASH_SHA256,
	    (const uint8_t *)"mef.example.com", 15, &e2eid), 0);
	assert_int_equal(strlen(e2eid), 32 + 1 + 15);
	assert_string_equal(e2eid + 32, "@mef.example.com");
	free(e2eid);
	m2m_secret_free(km);
	m2m_secret_free(kpsa);
	m2m_secret_free(master);
}

/* Kuc message = label || "22" || target, checked against OpenSSL */
static void
test_kuc_and_sha512(void **state)
{
	struct fx *f = *state;
	struct m2m_secret *kuc = NULL, *m = NULL, *t1 = NULL;
	const char *tgt = "mn-cse.example.com";
	uint8_t ke[32], want[64], salt[5] = { 1, 2, 3, 4, 5 }, msg[256];
	unsigned int wl = 0;
	size_t l;

	unhex(KE, ke, sizeof(ke));
	fx_key(f, ke, sizeof(ke));
	assert_int_equal(m2m_kdf_from_ke(&f->be, &f->kr, M2M_KDF_KUC, 22,
	    (const uint8_t *)tgt, strlen(tgt), &kuc), 0);
	l = (size_t)snprintf((char *)msg, sizeof(msg), "%s22%s",
	    M2M_LABEL_KUC, tgt);
	HMAC(EVP_sha256(), ke, 32, msg, l, want, &wl);
	assert_int_equal(m2m_secret_len(kuc), 32);
	assert_memory_equal(m2m_secret_data(kuc), want, 32);

	/* SHA-512 master with a salt: HMAC-SHA-512(salt, Kuc) */
	fx_key(f, m2m_secret_data(kuc), 32);
	assert_int_equal(m2m_kdf_e2e_master(&f->be, salt, sizeof(salt),
	    &f->kr, M2M_HASH_SHA512, &m), 0);
	HMAC(EVP_sha512(), salt, sizeof(salt), m2m_secret_data(kuc), 32,
	    want, &wl);
	assert_int_equal(m2m_secret_len(m), 64);
	assert_memory_equal(m2m_secret_data(m), want, 64);
	/* T(1) = HMAC-SHA-512(master, label1 || 0x01) */
	fx_key(f, m2m_secret_data(m), 64);
	assert_int_equal(m2m_kdf_e2e_expand(&f->be, &f->kr, M2M_HASH_SHA512,
	    1, &t1), 0);
	l = strlen(M2M_LABEL_E2E_1);
	memcpy(msg, M2M_LABEL_E2E_1, l);
	msg[l] = 1;
	HMAC(EVP_sha512(), m2m_secret_data(m), 64, msg, l + 1, want, &wl);
	assert_memory_equal(m2m_secret_data(t1), want, 64);
	m2m_secret_free(kuc);
	m2m_secret_free(m);
	m2m_secret_free(t1);
}

static void
test_premaster(void **state)
{
	struct m2m_secret *p = NULL;
	uint8_t psk[3] = { 0xaa, 0xbb, 0xcc };
	const uint8_t want[10] = { 0, 3, 0, 0, 0, 0, 3, 0xaa, 0xbb, 0xcc };
	uint8_t big[M2M_PSK_MAX + 1] = { 0 };

	(void)state;
	assert_int_equal(m2m_kdf_psk_premaster(psk, 3, &p), 0);
	assert_int_equal(m2m_secret_len(p), 10);
	assert_memory_equal(m2m_secret_data(p), want, 10);
	m2m_secret_free(p);
	p = NULL;
	assert_int_equal(m2m_kdf_psk_premaster(psk, 0, &p),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(m2m_kdf_psk_premaster(big, sizeof(big), &p),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_null(p);
}

/* the token's PRF equals OpenSSL's TLS1-PRF for several lengths */
static void
test_tls12_prf(void **state)
{
	struct fx *f = *state;
	uint8_t secret[68], seed[64], out[100], want[100];
	const char *label = "master secret";
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "TLS1-PRF", NULL);
	size_t lens[] = { 1, 32, 48, 64, 100 }, i, j;

	assert_non_null(kdf);
	for (i = 0; i < sizeof(secret); i++)
		secret[i] = (uint8_t)(i * 7 + 1);
	for (i = 0; i < sizeof(seed); i++)
		seed[i] = (uint8_t)(i * 13 + 5);
	fx_key(f, secret, sizeof(secret));
	for (j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
		EVP_KDF_CTX *c = EVP_KDF_CTX_new(kdf);
		uint8_t lseed[80];
		OSSL_PARAM p[4];

		memcpy(lseed, label, strlen(label));
		memcpy(lseed + strlen(label), seed, sizeof(seed));
		p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
		    (char *)"SHA256", 0);
		p[1] = OSSL_PARAM_construct_octet_string(
		    OSSL_KDF_PARAM_SECRET, secret, sizeof(secret));
		p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED,
		    lseed, strlen(label) + sizeof(seed));
		p[3] = OSSL_PARAM_construct_end();
		assert_int_equal(EVP_KDF_derive(c, want, lens[j], p), 1);
		EVP_KDF_CTX_free(c);
		memset(out, 0, sizeof(out));
		assert_int_equal(m2m_kdf_tls12_prf(&f->be, &f->kr,
		    M2M_HASH_SHA256, (const uint8_t *)label, strlen(label),
		    seed, sizeof(seed), out, lens[j]), 0);
		assert_memory_equal(out, want, lens[j]);
	}
	EVP_KDF_free(kdf);
}

/* a backend failure at any step fails the derivation, returns nothing */
static void
test_backend_failures(void **state)
{
	struct fx *f = *state;
	struct m2m_secret *s = NULL;
	uint8_t key[32] = { 9 }, out[48];
	int n, r;

	fx_key(f, key, sizeof(key));
	for (n = 0; n < 4; n++) {
		m2m_fake_backend_fail_after(n);
		r = m2m_kdf_e2e_expand(&f->be, &f->kr, M2M_HASH_SHA256, 4, &s);
		assert_int_equal(r, M2M_ERR_BACKEND);
		assert_null(s);
	}
	for (n = 0; n < 3; n++) {
		m2m_fake_backend_fail_after(n);
		assert_int_equal(m2m_kdf_tls12_prf(&f->be, &f->kr,
		    M2M_HASH_SHA256, (const uint8_t *)"x", 1, key, 32, out,
		    48), M2M_ERR_BACKEND);
	}
	m2m_fake_backend_fail_after(0);
	assert_int_equal(m2m_kdf_from_ke(&f->be, &f->kr, M2M_KDF_KPSA, 0,
	    (const uint8_t *)"a", 1, &s), M2M_ERR_BACKEND);
	assert_null(s);
	m2m_fake_backend_fail_after(0);
	assert_int_equal(m2m_kdf_e2e_master(&f->be, NULL, 0, &f->kr,
	    M2M_HASH_SHA256, &s), M2M_ERR_BACKEND);
	assert_null(s);
	m2m_fake_backend_fail_after(-1);
}

static void
test_bad_arguments(void **state)
{
	struct fx *f = *state;
	struct m2m_secret *s = NULL;
	uint8_t key[32] = { 1 };

	fx_key(f, key, sizeof(key));
	assert_int_equal(m2m_kdf_e2e_expand(&f->be, &f->kr, M2M_HASH_SHA256,
	    0, &s), M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(m2m_kdf_e2e_expand(&f->be, &f->kr, M2M_HASH_SHA256,
	    5, &s), M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(m2m_kdf_from_ke(&f->be, &f->kr, M2M_KDF_KM, 0,
	    (const uint8_t *)"", 0, &s), M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(m2m_kdf_from_ke(&f->be, &f->kr, 99, 0,
	    (const uint8_t *)"a", 1, &s), M2M_ERR_INVALID_ARGUMENT);
	/* a SUID of one digit (or three) would run into the target id */
	assert_int_equal(m2m_kdf_from_ke(&f->be, &f->kr, M2M_KDF_KUC, 2,
	    (const uint8_t *)"2a", 2, &s), M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(m2m_kdf_from_ke(&f->be, &f->kr, M2M_KDF_KUC, 0,
	    (const uint8_t *)"a", 1, &s), M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(m2m_kdf_from_ke(&f->be, &f->kr, M2M_KDF_KUC, 100,
	    (const uint8_t *)"a", 1, &s), M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(m2m_kdf_e2e_master(&f->be, NULL, 0, &f->kr, 0, &s),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_null(s);
}

/*
 * E2EKeyId from the master's value (host HMAC, before the value is
 * wrapped) equals the one the backend computes from the wrapped master,
 * for SHA-256 and SHA-512 masters; bad arguments are refused.
 */
static void
test_e2e_keyid_value(void **state)
{
	struct fx *f = *state;
	static const enum m2m_hash hs[] = { M2M_HASH_SHA256, M2M_HASH_SHA512 };
	static const uint8_t fqdn[] = "mef.example.com";
	struct m2m_secret *m = NULL;
	char *a = NULL, *b = NULL;
	size_t i, j;

	for (i = 0; i < 2; i++) {
		assert_int_equal(m2m_secret_new(m2m_hash_len(hs[i]), &m), 0);
		for (j = 0; j < m2m_secret_len(m); j++)
			m2m_secret_data(m)[j] = (uint8_t)(j * 7 + i);
		fx_key(f, m2m_secret_data(m), m2m_secret_len(m));
		assert_int_equal(m2m_kdf_e2e_keyid(&f->be, &f->kr, hs[i], fqdn,
		    sizeof(fqdn) - 1, &a), 0);
		assert_int_equal(m2m_kdf_e2e_keyid_value(m, hs[i], fqdn,
		    sizeof(fqdn) - 1, &b), 0);
		assert_string_equal(a, b);
		free(a);
		free(b);
		a = b = NULL;
		m2m_secret_free(m);
		m = NULL;
	}
	assert_int_equal(m2m_kdf_e2e_keyid_value(NULL, M2M_HASH_SHA256, fqdn,
	    3, &a), M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(m2m_secret_new(32, &m), 0);
	assert_int_equal(m2m_kdf_e2e_keyid_value(m, 0, fqdn, 3, &a),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(m2m_kdf_e2e_keyid_value(m, M2M_HASH_SHA256, NULL, 3,
	    &a), M2M_ERR_INVALID_ARGUMENT);
	assert_null(a);
	m2m_secret_free(m);
}

/*
 * One step from T(n-1) is the chain's T(n); a missing or extra T(n-1)
 * or one of the wrong length is refused.
 */
static void
test_e2e_step(void **state)
{
	struct fx *f = *state;
	struct m2m_secret *t[4] = { NULL }, *s = NULL, *short_t = NULL;
	uint8_t key[32] = { 7 };
	unsigned n;

	fx_key(f, key, sizeof(key));
	for (n = 1; n <= 4; n++) {
		assert_int_equal(m2m_kdf_e2e_step(&f->be, &f->kr,
		    M2M_HASH_SHA256, n, n > 1 ? t[n - 2] : NULL, &t[n - 1]),
		    0);
		assert_int_equal(m2m_kdf_e2e_expand(&f->be, &f->kr,
		    M2M_HASH_SHA256, n, &s), 0);
		assert_int_equal(m2m_secret_len(s), 32);
		assert_memory_equal(m2m_secret_data(s),
		    m2m_secret_data(t[n - 1]), 32);
		m2m_secret_free(s);
		s = NULL;
	}
	assert_int_equal(m2m_kdf_e2e_step(&f->be, &f->kr, M2M_HASH_SHA256, 1,
	    t[0], &s), M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(m2m_kdf_e2e_step(&f->be, &f->kr, M2M_HASH_SHA256, 2,
	    NULL, &s), M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(m2m_kdf_e2e_step(&f->be, &f->kr, M2M_HASH_SHA512, 2,
	    t[0], &s), M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(m2m_secret_new(16, &short_t), 0);
	assert_int_equal(m2m_kdf_e2e_step(&f->be, &f->kr, M2M_HASH_SHA256, 3,
	    short_t, &s), M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(m2m_kdf_e2e_step(&f->be, &f->kr, M2M_HASH_SHA256, 5,
	    t[3], &s), M2M_ERR_INVALID_ARGUMENT);
	assert_null(s);
	m2m_secret_free(short_t);
	for (n = 0; n < 4; n++)
		m2m_secret_free(t[n]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_worked_example, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_kuc_and_sha512, setup,
		    teardown),
		cmocka_unit_test(test_premaster),
		cmocka_unit_test_setup_teardown(test_tls12_prf, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_backend_failures, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_e2e_step, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_e2e_keyid_value, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
