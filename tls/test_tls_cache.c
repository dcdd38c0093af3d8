/*
 * test_tls_cache: the PSK cache of an m2m_tls context (tls_cache.c) never
 * lets a handshake use a key that no longer answers to the identity.
 * Real handshakes over a BIO pair, token at one end and the raw PSK in
 * OpenSSL at the other, while the token's key for the identity is renamed,
 * replaced, destroyed, or expires between handshakes; on both ends.  The
 * PKCS#11 searches are counted: a known identity needs none, a stale entry
 * exactly one.  Then the references themselves: one the cache made stops
 * verifying when its key is renamed, a tampered copy never verifies, and a
 * forked child does not vouch for its parent's.  And a token server never
 * resumes a session (a destroyed key would live on in it).
 * Run as "run_c.sh hsm|tpm test_tls_cache".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/ssl.h>

#include <m2mtoken/tls.h>
#include "tls_int.h"
#include "tls_pair.h"

#define ID	"kpm-cache@mef.example.com"
#define SNI	"mef.example.com"
#define CIPHER	"PSK-AES128-CBC-SHA256"

static int failures;

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "FAIL %s:%d: %s\n", \
	__FILE__, __LINE__, #c); failures++; } } while (0)

/* the raw PSK of the OpenSSL end; a different one per key */
static uint8_t raw_psk[16];

static void
psk_of(int n, uint8_t out[16])
{
	int i;

	for (i = 0; i < 16; i++)
		out[i] = (uint8_t)(n * 16 + i);
}

/* One full handshake: 1 when both ends finish and export the same keying
   material, else 0. */
static int
handshake(SSL_CTX *cc, SSL_CTX *sc)
{
	uint8_t ec[M2M_TLS_EXPORT_LEN], es[M2M_TLS_EXPORT_LEN];
	SSL *c, *s;
	int ok;

	if (tp_handshake(cc, sc, &c, &s) != 0) {
		ERR_clear_error();
		return 0;
	}
	ok = m2m_tls_export_ke(c, ec) == 0 && m2m_tls_export_ke(s, es) == 0 &&
	    memcmp(ec, es, sizeof(ec)) == 0;
	ERR_clear_error();
	SSL_free(c);
	SSL_free(s);
	return ok;
}

/* Searches of the token by the contexts, through a wrapped function list. */
static CK_FUNCTION_LIST counting;
static CK_C_FindObjectsInit real_find_init;
static int finds;

static CK_RV
count_find_init(CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
	finds++;
	return real_find_init(s, t, n);
}

static void
count_finds(SSL_CTX *ctx)
{
	struct m2m_tls *t = m2m_tls_of(ctx);

	if (real_find_init == NULL) {
		counting = *t->f;
		real_find_init = counting.C_FindObjectsInit;
		counting.C_FindObjectsInit = count_find_init;
	}
	t->f = &counting;
}

static CK_OBJECT_HANDLE
import(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, int n,
    const char *expires)
{
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	uint8_t v[16];

	psk_of(n, v);
	if (m2m_p11_import_psk(f, s, ID, CK_M2M_ROLE_KPM, v, sizeof(v),
	    expires) != CKR_OK ||
	    m2m_p11_find_psk(f, s, (const uint8_t *)ID, strlen(ID), &h) !=
	    CKR_OK) {
		fprintf(stderr, "FAIL: cannot import key %d\n", n);
		failures++;
	}
	return h;
}

static void
rename_key(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h,
    const char *label)
{
	CK_ATTRIBUTE a = { CKA_LABEL, (CK_VOID_PTR)label, strlen(label) };

	CHECK(f->C_SetAttributeValue(s, h, &a, 1) == CKR_OK);
}

/* handshake between tok (the token end) and raw holding key n's PSK */
static int
hs(SSL_CTX *tok, SSL_CTX *raw, int tok_is_server, int n)
{
	psk_of(n, raw_psk);
	return tok_is_server ? handshake(raw, tok) : handshake(tok, raw);
}

/*
 * The cache scenario on one end: key 1 is labelled ID; then renamed away,
 * replaced by key 2, key 2 destroyed and replaced by key 3, key 3 replaced
 * by key 4 that expires.  Each handshake must use the key labelled ID at
 * that moment, or fail when there is none (or it has expired).
 */
static void
scenario(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, SSL_CTX *tok,
    SSL_CTX *raw, int server, int base)
{
	CK_OBJECT_HANDLE h1, h2, h3, h4;
	char exp[32];
	time_t until;
	struct tm tm;

	h1 = import(f, s, base + 1, NULL);
	finds = 0;
	CHECK(hs(tok, raw, server, base + 1));
	CHECK(finds == 1);
	CHECK(hs(tok, raw, server, base + 1));
	CHECK(hs(tok, raw, server, base + 1));
	CHECK(finds == 1);		/* known identity: no search */
	CHECK(!hs(tok, raw, server, base + 2));	/* wrong PSK still fails */

	/* renamed away: nothing answers to ID any more */
	rename_key(f, s, h1, "renamed@mef.example.com");
	CHECK(!hs(tok, raw, server, base + 1));
	/* a new key takes the name: used at once, never the old one */
	h2 = import(f, s, base + 2, NULL);
	CHECK(hs(tok, raw, server, base + 2));
	CHECK(!hs(tok, raw, server, base + 1));
	/* the old key named back, the cached one named away: the old one */
	rename_key(f, s, h1, ID);
	rename_key(f, s, h2, "renamed2@mef.example.com");
	CHECK(hs(tok, raw, server, base + 1));
	CHECK(!hs(tok, raw, server, base + 2));
	CHECK(f->C_DestroyObject(s, h1) == CKR_OK);
	CHECK(f->C_DestroyObject(s, h2) == CKR_OK);

	/* destroyed: fails; replaced: the new key, its handle maybe reused */
	h3 = import(f, s, base + 3, NULL);
	CHECK(hs(tok, raw, server, base + 3));
	CHECK(f->C_DestroyObject(s, h3) == CKR_OK);
	CHECK(!hs(tok, raw, server, base + 3));
	finds = 0;
	h3 = import(f, s, base + 3, NULL);
	finds = 0;
	CHECK(hs(tok, raw, server, base + 3));
	CHECK(finds == 1);		/* the stale entry: one fresh search */

	/* replaced by a key that expires while cached */
	CHECK(f->C_DestroyObject(s, h3) == CKR_OK);
	until = time(NULL) + 3;
	gmtime_r(&until, &tm);
	strftime(exp, sizeof(exp), "%Y%m%dT%H%M%S", &tm);
	h4 = import(f, s, base + 4, exp);
	CHECK(hs(tok, raw, server, base + 4));
	while (time(NULL) <= until)
		sleep(1);
	CHECK(!hs(tok, raw, server, base + 4));
	CHECK(f->C_DestroyObject(s, h4) == CKR_OK);
}

/*
 * A handshake offering sess (NULL: none), both ends then shut down cleanly
 * (libssl keeps a session resumable only then): 1 if it completed, with
 * *reused and (ret_sess not NULL) the client's session; else 0.
 */
static int
hs_session(SSL_CTX *cc, SSL_CTX *sc, SSL_SESSION *sess, int *reused,
    SSL_SESSION **ret_sess)
{
	SSL *c, *s;

	if (tp_handshake_session(cc, sc, sess, &c, &s) != 0) {
		ERR_clear_error();
		return 0;
	}
	*reused = SSL_session_reused(c);
	(void)SSL_shutdown(c);
	(void)SSL_shutdown(s);
	if (ret_sess != NULL)
		*ret_sess = SSL_get1_session(c);
	SSL_free(c);
	SSL_free(s);
	return 1;
}

/*
 * No resumption at a token server: a resumed session would run on the
 * master secret libssl kept, without asking the token, so a destroyed (or
 * expired, renamed) key would still be accepted.  The control: two raw
 * OpenSSL ends do resume the same way, so a resumption would be seen.
 */
static void
no_resumption(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, SSL_CTX *ts,
    SSL_CTX *rc, SSL_CTX *rs)
{
	SSL_SESSION *sess = NULL;
	CK_OBJECT_HANDLE h;
	int reused = -1;

	psk_of(30, raw_psk);
	CHECK(hs_session(rc, rs, NULL, &reused, &sess) && !reused);
	CHECK(sess != NULL && hs_session(rc, rs, sess, &reused, NULL) &&
	    reused);
	SSL_SESSION_free(sess);
	sess = NULL;

	h = import(f, s, 30, NULL);
	CHECK(hs_session(rc, ts, NULL, &reused, &sess) && !reused);
	CHECK(sess != NULL && hs_session(rc, ts, sess, &reused, NULL) &&
	    !reused);
	CHECK(f->C_DestroyObject(s, h) == CKR_OK);
	CHECK(!hs_session(rc, ts, sess, &reused, NULL));
	SSL_SESSION_free(sess);
}

/* one PRF call for a 48-byte master secret: 1/0 as EVP_KDF_derive */
static int
prf(EVP_KDF *kdf, const uint8_t *psk, size_t n, uint8_t out[48])
{
	static const uint8_t seed[32] = { 9, 8, 7 };
	const char *label = "extended master secret";
	uint8_t sec[4 + 2 * M2M_TLS_REF_LEN];
	EVP_KDF_CTX *c = EVP_KDF_CTX_new(kdf);
	OSSL_PARAM ps[5];
	int ok;

	if (c == NULL || n > M2M_TLS_REF_LEN)
		return 0;
	sec[0] = (uint8_t)(n >> 8);
	sec[1] = (uint8_t)n;
	memset(sec + 2, 0, n);
	sec[2 + n] = (uint8_t)(n >> 8);
	sec[3 + n] = (uint8_t)n;
	memcpy(sec + 4 + n, psk, n);
	ps[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
	    (char *)"SHA2-256", 0);
	ps[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, sec,
	    4 + 2 * n);
	ps[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED,
	    (void *)label, strlen(label));
	ps[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED,
	    (void *)seed, sizeof(seed));
	ps[4] = OSSL_PARAM_construct_end();
	ok = EVP_KDF_derive(c, out, 48, ps) == 1;
	EVP_KDF_CTX_free(c);
	ERR_clear_error();
	return ok;
}

/* The references the cache hands out, at the provider's KDF. */
static void
references(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, SSL_CTX *ctx)
{
	struct m2m_tls *t = m2m_tls_of(ctx);
	EVP_KDF *mine = m2m_tls_prov_kdf(t);
	EVP_KDF *dflt = EVP_KDF_fetch(t->libctx, "TLS1-PRF",
	    "provider=default");
	uint8_t ref[M2M_TLS_REF_LEN], ref2[M2M_TLS_REF_LEN];
	uint8_t bad[M2M_TLS_REF_LEN], raw[16], a[48], b[48];
	CK_OBJECT_HANDLE h;
	size_t i;
	pid_t pid;
	int st = 0;

	CHECK(mine != NULL && dflt != NULL);
	h = import(f, s, 20, NULL);
	psk_of(20, raw);
	CHECK(m2m_tls_psk_ref(t, (const uint8_t *)ID, strlen(ID), ref) ==
	    CKR_OK);
	CHECK(m2m_tls_psk_ref(t, (const uint8_t *)ID, strlen(ID), ref2) ==
	    CKR_OK);
	CHECK(memcmp(ref, ref2, sizeof(ref)) == 0);	/* from the cache */
	CHECK(prf(mine, ref, sizeof(ref), a));
	CHECK(prf(dflt, raw, sizeof(raw), b));
	CHECK(memcmp(a, b, sizeof(a)) == 0);
	/* a tampered copy of a cached reference: refused, anywhere */
	for (i = 4; i < sizeof(ref); i++) {
		memcpy(bad, ref, sizeof(ref));
		bad[i] ^= 0x01;
		CHECK(!prf(mine, bad, sizeof(bad), a));
	}
	/* the key renamed after the reference was handed out: refused */
	rename_key(f, s, h, "moved@mef.example.com");
	CHECK(!prf(mine, ref, sizeof(ref), a));
	CHECK(m2m_tls_psk_ref(t, (const uint8_t *)ID, strlen(ID), ref2) ==
	    CKR_KEY_HANDLE_INVALID);
	rename_key(f, s, h, ID);
	CHECK(m2m_tls_psk_ref(t, (const uint8_t *)ID, strlen(ID), ref2) ==
	    CKR_OK);
	CHECK(prf(mine, ref2, sizeof(ref2), a));
	CHECK(memcmp(a, b, sizeof(a)) == 0);
	/* a forked child does not vouch for the parent's references */
	pthread_mutex_lock(&t->lock);
	CHECK(m2m_tls_cache_vouches(t, h, ref2, (const uint8_t *)ID,
	    strlen(ID)));
	CHECK(!m2m_tls_cache_vouches(t, h, ref2, (const uint8_t *)"x", 1));
	pthread_mutex_unlock(&t->lock);
	if ((pid = fork()) == 0)
		_exit(m2m_tls_cache_vouches(t, h, ref2, (const uint8_t *)ID,
		    strlen(ID)) ? 1 : 0);
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	    WEXITSTATUS(st) == 0);
	CHECK(f->C_DestroyObject(s, h) == CKR_OK);
	CHECK(!prf(mine, ref2, sizeof(ref2), a));
	EVP_KDF_free(mine);
	EVP_KDF_free(dflt);
}

int
main(void)
{
	CK_FUNCTION_LIST_PTR f;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE s;
	SSL_CTX *tc = NULL, *ts = NULL, *rc = NULL, *rs = NULL;

	if ((f = m2m_p11_load(NULL)) == NULL ||
	    m2m_p11_find_token(f, "m2m-tlsc", 1, "5678", "1234", &slot) !=
	    CKR_OK ||
	    f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
	    NULL, &s) != CKR_OK ||
	    f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)"1234", 4) != CKR_OK) {
		fprintf(stderr, "FAIL: token setup\n");
		return 1;
	}
	tp_cfg.id = ID;
	tp_cfg.psk = raw_psk;
	tp_cfg.psklen = sizeof(raw_psk);
	tp_cfg.cipher = CIPHER;
	tp_cfg.token = "m2m-tlsc";
	tp_cfg.pin = "1234";
	tp_cfg.sni = SNI;
	if ((tc = tp_token_ctx(0)) == NULL || (ts = tp_token_ctx(1)) == NULL ||
	    (rc = tp_raw_ctx(0)) == NULL || (rs = tp_raw_ctx(1)) == NULL) {
		fprintf(stderr, "FAIL: SSL_CTX setup\n");
		return 1;
	}
	count_finds(tc);
	count_finds(ts);
	scenario(f, s, tc, rs, 0, 0);
	printf("%s: client end: renamed, replaced, destroyed, expired keys "
	    "never used through the cache\n", failures ? "FAIL" : "ok");
	scenario(f, s, ts, rc, 1, 10);
	printf("%s: server end: the same\n", failures ? "FAIL" : "ok");
	no_resumption(f, s, ts, rc, rs);
	printf("%s: server end: a saved session is never resumed, so a "
	    "destroyed key gets no handshake\n", failures ? "FAIL" : "ok");
	references(f, s, tc);
	printf("%s: cached references: tampered, renamed, other process "
	    "refused\n", failures ? "FAIL" : "ok");

	m2m_tls_ctx_free(tc);
	m2m_tls_ctx_free(ts);
	SSL_CTX_free(rc);
	SSL_CTX_free(rs);
	f->C_CloseSession(s);
	m2m_p11_unload();
	return failures ? 1 : 0;
}
