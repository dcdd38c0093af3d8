/*
 * m2m_tls certificate contexts: TLS 1.2 ECDHE-ECDSA, mutual
 * authentication, the private key in the token through libp11's engine
 * (include/m2mtoken/tls.h).
 */
#define OPENSSL_SUPPRESS_DEPRECATED	/* the ENGINE API of OpenSSL 3 */

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <m2mtoken/tls.h>
#include "tls_log.h"

#define ENGINE_ID	"pkcs11"

static pthread_mutex_t eng_lock = PTHREAD_MUTEX_INITIALIZER;
static ENGINE *eng;		/* initialised once, never finished */
static pthread_once_t sni_once = PTHREAD_ONCE_INIT;
static int sni_idx = -1;	/* server: the SNI required (strdup) */

static void
sni_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	free(ptr);
}

static void
sni_idx_init(void)
{
	sni_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, sni_free);
}

/* The engine, loaded and initialised on first use; NULL with a line. */
static ENGINE *
engine_get(const char *module)
{
	ENGINE *e = NULL;

	if (eng != NULL)
		return eng;
	if ((e = ENGINE_by_id(ENGINE_ID)) == NULL) {
		m2m_tls_error("cannot load OpenSSL's engine '%s' (install "
		    "libengine-pkcs11-openssl)", ENGINE_ID);
		return NULL;
	}
	if (!ENGINE_ctrl_cmd_string(e, "MODULE_PATH", module, 0) ||
	    !ENGINE_init(e)) {
		m2m_tls_error("engine '%s' cannot load the module %s",
		    ENGINE_ID, module);
		ENGINE_free(e);
		return NULL;
	}
	ENGINE_free(e);		/* the functional reference stays */
	eng = e;
	return eng;
}

/* The token's private key at uri, logged in with pin; NULL with a line. */
static EVP_PKEY *
token_key(const char *module, const char *uri, const char *pin)
{
	EVP_PKEY *k = NULL;
	ENGINE *e;

	pthread_mutex_lock(&eng_lock);
	if ((e = engine_get(module)) == NULL)
		goto out;
	if (!ENGINE_ctrl_cmd_string(e, "PIN", pin, 0)) {
		m2m_tls_error("engine '%s' refused the PIN", ENGINE_ID);
		goto out;
	}
	if ((k = ENGINE_load_private_key(e, uri, NULL, NULL)) == NULL)
		m2m_tls_error("no private key at %s in the token (or the "
		    "PIN is wrong)", uri);
	else if (EVP_PKEY_get_base_id(k) != EVP_PKEY_EC) {
		m2m_tls_error("the key at %s is not an EC key", uri);
		EVP_PKEY_free(k);
		k = NULL;
	}
 out:
	pthread_mutex_unlock(&eng_lock);
	return k;
}

/* The certificate at uri in the token (engine LOAD_CERT_CTRL); or NULL. */
static X509 *
token_cert(const char *module, const char *uri, const char *pin)
{
	struct {
		const char	*id;
		X509		*cert;
	} p = { uri, NULL };
	ENGINE *e;

	pthread_mutex_lock(&eng_lock);
	if ((e = engine_get(module)) != NULL &&
	    ENGINE_ctrl_cmd_string(e, "PIN", pin, 0) &&
	    !ENGINE_ctrl_cmd(e, "LOAD_CERT_CTRL", 0, &p, NULL, 0))
		p.cert = NULL;
	pthread_mutex_unlock(&eng_lock);
	if (p.cert == NULL)
		m2m_tls_error("no certificate at %s in the token", uri);
	return p.cert;
}

static int
sni_cb(SSL *ssl, int *al, void *arg)
{
	const char *want = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), sni_idx);
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	char got[M2M_TLS_PRINTABLE_MAX];

	(void)arg;
	if (want == NULL || (name != NULL && strcasecmp(name, want) == 0))
		return SSL_TLSEXT_ERR_OK;
	m2m_tls_printable(got, sizeof(got), name, SIZE_MAX);
	m2m_tls_error("handshake refused: client asked for server name "
	    "'%s', this server is '%s'", got, want);
	*al = SSL_AD_UNRECOGNIZED_NAME;
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/*
 * A verification failure, said once with the peer's subject.  The peer's
 * own certificate (depth 0) must also not be a CA's (basicConstraints
 * CA:TRUE): a CA certificate the trusted CA issued is a CA, not a device
 * or a MEF, and OpenSSL's SSL client and server purposes let it pass
 * (found in review).
 */
static int
verify_cb(int ok, X509_STORE_CTX *xs)
{
	char subj[256] = "?";
	X509 *c;
	int err;

	if (ok && X509_STORE_CTX_get_error_depth(xs) == 0 &&
	    (c = X509_STORE_CTX_get_current_cert(xs)) != NULL &&
	    (X509_get_extension_flags(c) & EXFLAG_CA) != 0) {
		X509_STORE_CTX_set_error(xs, X509_V_ERR_INVALID_PURPOSE);
		ok = 0;
	}
	if (ok)
		return ok;
	err = X509_STORE_CTX_get_error(xs);
	if ((c = X509_STORE_CTX_get_current_cert(xs)) != NULL)
		X509_NAME_oneline(X509_get_subject_name(c), subj,
		    sizeof(subj));
	m2m_tls_error("handshake refused: the peer's certificate '%s' does "
	    "not verify: %s", subj, X509_verify_cert_error_string(err));
	return ok;
}

static int
load_crl(SSL_CTX *ctx, const char *path)
{
	X509_STORE *st = SSL_CTX_get_cert_store(ctx);
	X509_LOOKUP *lu;

	if ((lu = X509_STORE_add_lookup(st, X509_LOOKUP_file())) == NULL ||
	    X509_load_crl_file(lu, path, X509_FILETYPE_PEM) < 1) {
		m2m_tls_error("cannot read the CRL file %s", path);
		return 0;
	}
	X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK);
	return 1;
}

/* see tls.h */
int
m2m_tls_cert_ctx_new(const struct m2m_tls_cert_opts *o, SSL_CTX **ret)
{
	SSL_CTX *ctx = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	const char *module;
	char *sni = NULL;
	int r = M2M_TLS_ERR_ARG;

	if (o == NULL || ret == NULL || o->pin == NULL || o->key_uri == NULL ||
	    strncmp(o->key_uri, "pkcs11:", 7) != 0 || o->cert_file == NULL ||
	    o->ca_file == NULL || o->sni == NULL || *o->sni == '\0' ||
	    (o->role != M2M_TLS_CLIENT && o->role != M2M_TLS_SERVER)) {
		m2m_tls_error("bad options (a pkcs11: key URI, PIN, "
		    "certificate, CA file, server name and role needed)");
		return M2M_TLS_ERR_ARG;
	}
	if ((module = o->module) == NULL &&
	    (module = getenv("M2MTOKEN_MODULE")) == NULL) {
		m2m_tls_error("no module: set $M2MTOKEN_MODULE");
		return M2M_TLS_ERR_MODULE;
	}
	pthread_once(&sni_once, sni_idx_init);
	if (sni_idx < 0)
		return M2M_TLS_ERR_OPENSSL;
	if ((key = token_key(module, o->key_uri, o->pin)) == NULL)
		return M2M_TLS_ERR_TOKEN;
	r = M2M_TLS_ERR_OPENSSL;
	if ((ctx = SSL_CTX_new(o->role == M2M_TLS_CLIENT ?
	    TLS_client_method() : TLS_server_method())) == NULL ||
	    !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION)) {
		m2m_tls_error("cannot create the SSL_CTX");
		goto out;
	}
	if (!SSL_CTX_set_cipher_list(ctx, o->ciphers != NULL ? o->ciphers :
	    M2M_TLS_CIPHERS_CERT) || !SSL_CTX_set_ciphersuites(ctx, "") ||
	    !SSL_CTX_set1_groups_list(ctx, "P-256") ||
	    !SSL_CTX_set1_sigalgs_list(ctx,
	    "ECDSA+SHA256:ECDSA+SHA384")) {
		m2m_tls_error("no usable cipher suite, group or signature "
		    "algorithm");
		r = M2M_TLS_ERR_ARG;
		goto out;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_clear_options(ctx, SSL_OP_NO_EXTENDED_MASTER_SECRET);
	if (strncmp(o->cert_file, "pkcs11:", 7) == 0) {
		if ((cert = token_cert(module, o->cert_file, o->pin)) ==
		    NULL || SSL_CTX_use_certificate(ctx, cert) != 1) {
			r = M2M_TLS_ERR_TOKEN;
			goto out;
		}
	} else if (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) !=
	    1) {
		m2m_tls_error("cannot read the certificate file %s",
		    o->cert_file);
		r = M2M_TLS_ERR_ARG;
		goto out;
	}
	if (SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		m2m_tls_error("the certificate %s is not the token key's "
		    "(%s)", o->cert_file, o->key_uri);
		r = M2M_TLS_ERR_ARG;
		goto out;
	}
	if (SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL) != 1) {
		m2m_tls_error("cannot read the CA file %s", o->ca_file);
		r = M2M_TLS_ERR_ARG;
		goto out;
	}
	if (o->crl_file != NULL && !load_crl(ctx, o->crl_file)) {
		r = M2M_TLS_ERR_ARG;
		goto out;
	}
	if (o->role == M2M_TLS_CLIENT) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
		if (!X509_VERIFY_PARAM_set1_host(SSL_CTX_get0_param(ctx),
		    o->sni, 0))
			goto out;
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
		if ((sni = strdup(o->sni)) == NULL) {
			r = M2M_TLS_ERR_NOMEM;
			goto out;
		}
		if (!SSL_CTX_set_ex_data(ctx, sni_idx, sni))
			goto out;
		sni = NULL;	/* held by the SSL_CTX */
		SSL_CTX_set_tlsext_servername_callback(ctx, sni_cb);
	}
	m2m_tls_debug("TLS 1.2 ECDHE-ECDSA %s context ready, key %s",
	    o->role == M2M_TLS_CLIENT ? "client" : "server", o->key_uri);
	*ret = ctx;
	ctx = NULL;	/* transferred */
	r = 0;
 out:
	free(sni);
	SSL_CTX_free(ctx);
	EVP_PKEY_free(key);
	X509_free(cert);
	return r;
}
