/*
 * m2m_tls contexts: SSL_CTXs whose PSK callbacks return key references
 * (tls_cache.c) and whose TLS1-PRF comes from the "m2mtoken" provider
 * (tls_prov.c).  The public API is include/m2mtoken/tls.h.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include <m2mtoken/tls.h>
#include "tls_int.h"
#include "tls_log.h"

static pthread_once_t idx_once = PTHREAD_ONCE_INIT;
static int ctx_idx = -1;
static int ssl_idx = -1;	/* an SSL whose handshake runs on the decoy */
static char decoy_mark;

/* The role and length of the decoy key: those of a MEF's Kpm. */
#define DECOY_ROLE	CK_M2M_ROLE_KPM
#define DECOY_LEN	32

static void
idx_init(void)
{
	ctx_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	ssl_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* see tls_int.h */
struct m2m_tls *
m2m_tls_of(SSL_CTX *ctx)
{
	pthread_once(&idx_once, idx_init);
	if (ctx == NULL || ctx_idx < 0)
		return NULL;
	return SSL_CTX_get_ex_data(ctx, ctx_idx);
}

/* 1 if identity (len bytes) has no C0 control character and no DEL. */
static int
identity_clean(const char *identity, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)identity[i];

		if (c < 0x20 || c == 0x7f)
			return 0;
	}
	return 1;
}

/*
 * A server's t has no PSK key labelled identity (il bytes): ask its
 * unknown-identity hook, if any.  1 when the hook says the key may be there
 * now (look again), 0 (with a log line) when the handshake is refused.
 */
static int
ask_hook(struct m2m_tls *t, SSL *ssl, const char *identity, size_t il)
{
	char id[M2M_TLS_PRINTABLE_MAX];
	int r;

	m2m_tls_printable(id, sizeof(id), identity, il);
	if (t->unknown_psk == NULL) {
		m2m_tls_error_limited(M2M_TLS_LIM_UNKNOWN, "handshake "
		    "refused: unknown PSK identity '%s' (no PSK key with that "
		    "label in the token)", id);
		return 0;
	}
	if (!identity_clean(identity, il)) {
		m2m_tls_error_limited(M2M_TLS_LIM_CONTROL, "handshake "
		    "refused: unknown PSK identity '%s' holds control "
		    "characters; not handed to the unknown-identity hook", id);
		return 0;
	}
	m2m_tls_debug("unknown PSK identity '%s': asking the hook", id);
	if ((r = t->unknown_psk(t->unknown_psk_arg, ssl, identity, il)) !=
	    0) {
		m2m_tls_error_limited(M2M_TLS_LIM_HOOK, "handshake refused: "
		    "unknown PSK identity '%s', the unknown-identity hook "
		    "refused it (%d)", id, r);
		return 0;
	}
	return 1;
}

/*
 * A refusal's line: a client's own identity, unlimited; a server's, from a
 * peer that may repeat it at will, limited by its reason.
 */
#define REFUSED(ssl, why, ...) do {					\
	if ((ssl) != NULL)						\
		m2m_tls_error_limited((why), __VA_ARGS__);		\
	else								\
		m2m_tls_error(__VA_ARGS__);				\
} while (0)

/*
 * The reference of the PSK labelled identity, into psk (max bytes);
 * M2M_TLS_REF_LEN, or 0 (with a log line) when there is none.  A server
 * (ssl not NULL) with no such key asks its unknown-identity hook, and on
 * its word looks once more.
 */
static unsigned int
psk_ref(struct m2m_tls *t, SSL *ssl, const char *identity,
    unsigned char *psk, unsigned int max)
{
	char id[M2M_TLS_PRINTABLE_MAX];
	size_t il = strlen(identity);
	CK_RV rv;

	if (max < M2M_TLS_REF_LEN || il == 0 || il > M2M_TLS_LABEL_MAX) {
		m2m_tls_printable(id, sizeof(id), identity, SIZE_MAX);
		REFUSED(ssl, M2M_TLS_LIM_UNUSABLE, "handshake refused: PSK "
		    "identity '%s' unusable", id);
		return 0;
	}
	rv = m2m_tls_psk_ref(t, (const uint8_t *)identity, il, psk);
	if (rv == CKR_KEY_HANDLE_INVALID && ssl != NULL) {
		if (!ask_hook(t, ssl, identity, il))
			return 0;
		rv = m2m_tls_psk_ref(t, (const uint8_t *)identity, il, psk);
	}
	if (rv == CKR_OK)
		return M2M_TLS_REF_LEN;
	m2m_tls_printable(id, sizeof(id), identity, SIZE_MAX);
	if (rv == CKR_KEY_HANDLE_INVALID && ssl != NULL &&
	    t->unknown_psk != NULL)
		REFUSED(ssl, M2M_TLS_LIM_HOOK_NOKEY, "handshake refused: "
		    "unknown PSK identity '%s' (the unknown-identity hook "
		    "accepted it, but the token still has no PSK key with "
		    "that label)", id);
	else if (rv == CKR_KEY_HANDLE_INVALID)
		REFUSED(ssl, M2M_TLS_LIM_UNKNOWN, "handshake refused: unknown "
		    "PSK identity '%s' (no PSK key with that label in the "
		    "token)", id);
	else
		REFUSED(ssl, M2M_TLS_LIM_LOOKUP, "handshake refused: token "
		    "lookup of PSK identity '%s' failed: %s", id,
		    m2m_p11_rv_name(rv));
	return 0;
}

static unsigned int
client_cb(SSL *ssl, const char *hint, char *identity,
    unsigned int max_identity_len, unsigned char *psk, unsigned int max_psk)
{
	struct m2m_tls *t = m2m_tls_of(SSL_get_SSL_CTX(ssl));
	size_t il;

	(void)hint;
	if (t == NULL)
		return 0;
	il = strlen(t->identity);
	if (il + 1 > max_identity_len) {
		m2m_tls_error("handshake refused: PSK identity too "
		    "long");
		return 0;
	}
	memcpy(identity, t->identity, il + 1);
	return psk_ref(t, NULL, t->identity, psk, max_psk);
}

/*
 * The reference of t's decoy key into psk (max bytes), for a client whose
 * identity has no usable key: M2M_TLS_REF_LEN, or 0.  Made afresh each
 * time, under the lock, as a lookup the cache cannot answer makes one.
 */
static unsigned int
decoy_ref(struct m2m_tls *t, unsigned char *psk, unsigned int max)
{
	int ok;

	if (max < M2M_TLS_REF_LEN || t->decoy == CK_INVALID_HANDLE)
		return 0;
	pthread_mutex_lock(&t->lock);
	ok = m2m_tls_ref_make(t, t->decoy, (const uint8_t *)"", 0, psk);
	pthread_mutex_unlock(&t->lock);
	return ok ? M2M_TLS_REF_LEN : 0;
}

/*
 * A server refusing an identity at once would send unknown_psk_identity,
 * where a known identity with a wrong key gets bad_record_mac after the
 * Finished: the alert would tell anyone which identities exist (enrolees'
 * KpmIds, targets).  So an identity without a usable key goes on with the
 * decoy, a random key no one knows, through the same provider and token
 * steps as a real one, and fails where a wrong key fails (RFC 4279
 * section 2).  The refusal is logged here, and marked on ssl for the
 * caller's log (m2m_tls_unknown_identity).
 */
static unsigned int
server_cb(SSL *ssl, const char *identity, unsigned char *psk,
    unsigned int max_psk)
{
	struct m2m_tls *t = m2m_tls_of(SSL_get_SSL_CTX(ssl));
	unsigned int n;

	if (t == NULL)
		return 0;
	if (identity != NULL &&
	    (n = psk_ref(t, ssl, identity, psk, max_psk)) != 0) {
		SSL_set_ex_data(ssl, ssl_idx, NULL);
		return n;
	}
	if (identity == NULL)
		m2m_tls_error_limited(M2M_TLS_LIM_UNUSABLE, "handshake "
		    "refused: no PSK identity");
	SSL_set_ex_data(ssl, ssl_idx, &decoy_mark);
	return decoy_ref(t, psk, max_psk);
}

/* see tls.h */
int
m2m_tls_unknown_identity(const SSL *ssl)
{
	pthread_once(&idx_once, idx_init);
	return ssl != NULL && ssl_idx >= 0 &&
	    SSL_get_ex_data(ssl, ssl_idx) == &decoy_mark;
}

/*
 * A server's decoy PSK key: random, made in the token (never in this
 * process's memory), a session object of t's session (gone with it), with
 * an empty label, which no identity can name (an empty identity is refused
 * before any lookup), and a PSK role, so that its master secret comes from
 * the token as a real PSK's does.
 */
static int
decoy_make(struct m2m_tls *t)
{
	CK_MECHANISM m = { CKM_GENERIC_SECRET_KEY_GEN, NULL, 0 };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_ULONG len = DECOY_LEN, role = DECOY_ROLE;
	CK_BBOOL no = CK_FALSE, yes = CK_TRUE;
	CK_ATTRIBUTE a[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &no, sizeof(no) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_EXTRACTABLE, &no, sizeof(no) },
		{ CKA_LABEL, (CK_VOID_PTR)"", 0 },
		{ CKA_VALUE_LEN, &len, sizeof(len) },
		{ CKA_M2M_ROLE, &role, sizeof(role) },
	};
	CK_RV rv;

	if ((rv = t->f->C_GenerateKey(t->session, &m, a, sizeof(a) /
	    sizeof(a[0]), &t->decoy)) != CKR_OK) {
		t->decoy = CK_INVALID_HANDLE;
		m2m_tls_error("cannot make the decoy PSK key in the token: "
		    "%s", m2m_p11_rv_name(rv));
		return 0;
	}
	return 1;
}

/* client: the configured SNI at handshake start unless the caller set one */
static void
info_cb(const SSL *cssl, int where, int ret)
{
	SSL *ssl = (SSL *)cssl;
	struct m2m_tls *t;

	(void)ret;
	if (!(where & SSL_CB_HANDSHAKE_START) ||
	    (t = m2m_tls_of(SSL_get_SSL_CTX(ssl))) == NULL || t->sni == NULL)
		return;
	if (SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) == NULL)
		SSL_set_tlsext_host_name(ssl, t->sni);
}

static int
sni_cb(SSL *ssl, int *al, void *arg)
{
	struct m2m_tls *t = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	char got[M2M_TLS_PRINTABLE_MAX], want[M2M_TLS_PRINTABLE_MAX];

	if (t->sni == NULL)
		return SSL_TLSEXT_ERR_OK;
	if (name != NULL && strcasecmp(name, t->sni) == 0)
		return SSL_TLSEXT_ERR_OK;
	m2m_tls_printable(got, sizeof(got), name, SIZE_MAX);
	m2m_tls_printable(want, sizeof(want), t->sni, SIZE_MAX);
	m2m_tls_error_limited(M2M_TLS_LIM_SNI, "handshake refused: client "
	    "asked for server name '%s', this server is '%s'", got, want);
	*al = SSL_AD_UNRECOGNIZED_NAME;
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static void
tls_free(struct m2m_tls *t)
{
	if (t == NULL)
		return;
	EVP_KDF_free(t->prf);
	EVP_MD_free(t->sha256);
	EVP_MD_free(t->sha384);
	EVP_MAC_CTX_free(t->refmac);
	if (t->prov_m2m != NULL)
		OSSL_PROVIDER_unload(t->prov_m2m);
	if (t->prov_default != NULL)
		OSSL_PROVIDER_unload(t->prov_default);
	OSSL_LIB_CTX_free(t->libctx);
	if (t->f != NULL) {
		if (t->session != CK_INVALID_HANDLE) {
			/* a session object: its session's end takes it too */
			if (t->decoy != CK_INVALID_HANDLE)
				t->f->C_DestroyObject(t->session, t->decoy);
			t->f->C_CloseSession(t->session);
		}
		m2m_p11_unload();
	}
	free(t->sni);
	free(t->identity);
	pthread_mutex_destroy(&t->lock);
	OPENSSL_cleanse(t->nonce, sizeof(t->nonce));
	OPENSSL_cleanse(t->psk, sizeof(t->psk));
	free(t);
}

/*
 * 1 if every suite of ctx is a plain PSK suite (RFC 4279 section 2: key
 * exchange and authentication by the PSK alone).  The token computes the
 * master secret from a premaster of N zeros and the PSK only; a DHE-, ECDHE-
 * or RSA-PSK suite (other_secret not zero) or a certificate suite cannot
 * use it, so each is refused here by name rather than failing later in the
 * handshake with a MAC error.
 */
static int
plain_psk_only(SSL_CTX *ctx)
{
	STACK_OF(SSL_CIPHER) *sk = SSL_CTX_get_ciphers(ctx);
	int i, n = sk != NULL ? sk_SSL_CIPHER_num(sk) : 0;

	if (n == 0) {
		m2m_tls_error("no cipher suite left");
		return 0;
	}
	for (i = 0; i < n; i++) {
		const SSL_CIPHER *c = sk_SSL_CIPHER_value(sk, i);

		if (SSL_CIPHER_get_kx_nid(c) != NID_kx_psk ||
		    SSL_CIPHER_get_auth_nid(c) != NID_auth_psk) {
			m2m_tls_error("cipher suite %s is not a "
			    "plain PSK suite: the PSK in the token works only "
			    "with plain PSK key exchange (PSK-*)",
			    SSL_CIPHER_get_name(c));
			return 0;
		}
	}
	return 1;
}

/* see tls.h */
int
m2m_tls_ctx_new(const struct m2m_tls_opts *o, SSL_CTX **ret)
{
	struct m2m_tls *t = NULL;
	const SSL_METHOD *meth;
	SSL_CTX *ctx = NULL;
	const char *ciphers;
	size_t pl;
	int r = M2M_TLS_ERR_ARG, ver;
	CK_RV rv;

	if (o == NULL || ret == NULL || o->pin == NULL ||
	    (o->role != M2M_TLS_CLIENT && o->role != M2M_TLS_SERVER)) {
		m2m_tls_error("bad options (PIN and role needed)");
		return M2M_TLS_ERR_ARG;
	}
	if (o->role == M2M_TLS_CLIENT && (o->identity == NULL ||
	    *o->identity == '\0' || strlen(o->identity) > M2M_TLS_LABEL_MAX ||
	    o->sni == NULL || *o->sni == '\0')) {
		m2m_tls_error("a client needs a PSK identity and a "
		    "server name");
		return M2M_TLS_ERR_ARG;
	}
	if (o->role == M2M_TLS_CLIENT && o->unknown_psk != NULL) {
		m2m_tls_error("an unknown-identity hook is for a server only");
		return M2M_TLS_ERR_ARG;
	}
	pthread_once(&idx_once, idx_init);
	if (ctx_idx < 0)
		return M2M_TLS_ERR_OPENSSL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return M2M_TLS_ERR_NOMEM;
	pthread_mutex_init(&t->lock, NULL);
	t->session = CK_INVALID_HANDLE;
	t->decoy = CK_INVALID_HANDLE;
	t->role = o->role;
	t->dtls = o->dtls != 0;
	t->unknown_psk = o->unknown_psk;
	t->unknown_psk_arg = o->unknown_psk_arg;
	if ((o->sni != NULL && (t->sni = strdup(o->sni)) == NULL) ||
	    (o->identity != NULL &&
	    (t->identity = strdup(o->identity)) == NULL)) {
		r = M2M_TLS_ERR_NOMEM;
		goto out;
	}
	if (RAND_bytes(t->nonce, sizeof(t->nonce)) != 1) {
		r = M2M_TLS_ERR_OPENSSL;
		goto out;
	}
	if ((t->f = m2m_p11_load(o->module)) == NULL) {
		r = M2M_TLS_ERR_MODULE;
		goto out;
	}
	r = M2M_TLS_ERR_TOKEN;
	if (o->token_label != NULL) {
		if ((rv = m2m_p11_find_token(t->f, o->token_label, 0, NULL,
		    NULL, &t->slot)) != CKR_OK) {
			m2m_tls_error("no token labelled '%s': %s",
			    o->token_label, m2m_p11_rv_name(rv));
			goto out;
		}
	} else
		t->slot = o->slot;
	if ((rv = t->f->C_OpenSession(t->slot, CKF_SERIAL_SESSION, NULL, NULL,
	    &t->session)) != CKR_OK) {
		t->session = CK_INVALID_HANDLE;
		m2m_tls_error("C_OpenSession(slot %lu): %s",
		    (unsigned long)t->slot, m2m_p11_rv_name(rv));
		goto out;
	}
	pl = o->pin_len ? o->pin_len : strlen(o->pin);
	rv = t->f->C_Login(t->session, CKU_USER, (CK_UTF8CHAR_PTR)o->pin, pl);
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
		m2m_tls_error("token login failed: %s",
		    m2m_p11_rv_name(rv));
		goto out;
	}
	r = M2M_TLS_ERR_OPENSSL;
	if ((t->libctx = OSSL_LIB_CTX_new()) == NULL ||
	    !m2m_tls_prov_load(t) || !m2m_tls_ref_init(t)) {
		m2m_tls_error("cannot load the m2mtoken provider");
		goto out;
	}
	if (o->role == M2M_TLS_SERVER && !decoy_make(t)) {
		r = M2M_TLS_ERR_TOKEN;
		goto out;
	}
	if (t->dtls) {
		meth = o->role == M2M_TLS_CLIENT ? DTLS_client_method() :
		    DTLS_server_method();
		ver = DTLS1_2_VERSION;
	} else {
		meth = o->role == M2M_TLS_CLIENT ? TLS_client_method() :
		    TLS_server_method();
		ver = TLS1_2_VERSION;
	}
	ciphers = o->ciphers ? o->ciphers : t->dtls ? M2M_TLS_CIPHERS_DTLS :
	    M2M_TLS_CIPHERS_TLS;
	if ((ctx = SSL_CTX_new_ex(t->libctx, M2M_TLS_PROPQ, meth)) == NULL ||
	    !SSL_CTX_set_min_proto_version(ctx, ver) ||
	    !SSL_CTX_set_max_proto_version(ctx, ver)) {
		m2m_tls_error("cannot create the SSL_CTX");
		goto out;
	}
	if (!SSL_CTX_set_cipher_list(ctx, ciphers) ||
	    !SSL_CTX_set_ciphersuites(ctx, "")) {
		m2m_tls_error("no usable cipher in '%s'", ciphers);
		r = M2M_TLS_ERR_ARG;
		goto out;
	}
	if (!plain_psk_only(ctx)) {
		r = M2M_TLS_ERR_ARG;
		goto out;
	}
	/*
	 * No resumption (no session cache, no tickets): a resumed session
	 * runs on the master secret libssl kept, without asking the token,
	 * so a destroyed, expired or renamed key would still be accepted.
	 */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
	if (!SSL_CTX_set_ex_data(ctx, ctx_idx, t))
		goto out;
	if (o->role == M2M_TLS_CLIENT) {
		SSL_CTX_set_psk_client_callback(ctx, client_cb);
		SSL_CTX_set_info_callback(ctx, info_cb);
	} else {
		SSL_CTX_set_psk_server_callback(ctx, server_cb);
		SSL_CTX_set_tlsext_servername_callback(ctx, sni_cb);
		SSL_CTX_set_tlsext_servername_arg(ctx, t);
	}
	m2m_tls_debug("%s %s context ready on slot %lu",
	    t->dtls ? "DTLS 1.2" : "TLS 1.2",
	    o->role == M2M_TLS_CLIENT ? "client" : "server",
	    (unsigned long)t->slot);
	*ret = ctx;
	ctx = NULL;	/* transferred */
	t = NULL;	/* held by the SSL_CTX */
	r = 0;
 out:
	SSL_CTX_free(ctx);
	tls_free(t);
	return r;
}

/* see tls.h */
void
m2m_tls_ctx_free(SSL_CTX *ctx)
{
	struct m2m_tls *t = m2m_tls_of(ctx);

	SSL_CTX_free(ctx);
	tls_free(t);
}

/* see tls.h */
int
m2m_tls_export_ke(SSL *ssl, uint8_t out[M2M_TLS_EXPORT_LEN])
{
	if (ssl == NULL || out == NULL ||
	    SSL_export_keying_material(ssl, out, M2M_TLS_EXPORT_LEN,
	    M2M_TLS_EXPORT_LABEL, strlen(M2M_TLS_EXPORT_LABEL), NULL, 0,
	    0) != 1)
		return M2M_TLS_ERR_OPENSSL;
	return 0;
}

/* see tls.h */
const char *
m2m_tls_strerror(int err)
{
	switch (err) {
	case 0: return "success";
	case M2M_TLS_ERR_ARG: return "bad or missing option";
	case M2M_TLS_ERR_MODULE: return "PKCS#11 module unavailable";
	case M2M_TLS_ERR_TOKEN: return "token not found or login failed";
	case M2M_TLS_ERR_OPENSSL: return "OpenSSL failure";
	case M2M_TLS_ERR_NOMEM: return "out of memory";
	default: return "unknown error";
	}
}
