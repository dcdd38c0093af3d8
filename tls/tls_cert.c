/*
 * m2m_tls certificate contexts: TLS 1.2 ECDHE-ECDSA, mutual
 * authentication, the private key in the token through libp11's engine
 * (include/m2mtoken/tls.h).
 */
#define OPENSSL_SUPPRESS_DEPRECATED	/* the ENGINE API of OpenSSL 3 */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/pem.h>
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
	m2m_tls_error_limited(M2M_TLS_LIM_SNI, "handshake refused: client "
	    "asked for server name '%s', this server is '%s'", got, want);
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

/*
 * why: "cannot read the WHAT PATH: " and the reason of the last error on
 * OpenSSL's stack (the one the failed step raised), or dflt.
 */
static void
ossl_why(char *why, size_t len, const char *what, const char *path,
    const char *dflt)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	snprintf(why, len, "cannot read the %s %s: %s", what, path,
	    r != NULL ? r : dflt);
}

/* 1 when path opens for reading; else 0 and why says so. */
static int
file_opens(const char *what, const char *path, char *why, size_t len)
{
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(why, len, "cannot read the %s %s: %s", what, path,
		    strerror(errno));
		return 0;
	}
	fclose(f);
	return 1;
}

/* The one-line form of name (as verify_cb logs it) in buf. */
static const char *
name_str(const X509_NAME *name, char *buf, size_t len)
{
	if (X509_NAME_oneline(name, buf, (int)len) == NULL)
		snprintf(buf, len, "?");
	return buf;
}

/* t as "YYYY-MM-DD HH:MM:SS UTC" in buf. */
static const char *
time_str(const ASN1_TIME *t, char *buf, size_t len)
{
	struct tm tm;

	if (t == NULL || !ASN1_TIME_to_tm(t, &tm) ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, len, "?");
	return buf;
}

/* 1 when crl's signature verifies with ca's key. */
static int
crl_signed_by(X509_CRL *crl, X509 *ca)
{
	EVP_PKEY *k;

	if (X509_NAME_cmp(X509_CRL_get_issuer(crl),
	    X509_get_subject_name(ca)) != 0 ||
	    (k = X509_get0_pubkey(ca)) == NULL)
		return 0;
	return X509_CRL_verify(crl, k) == 1;
}

/*
 * 1 when crl, read from path, can be used with the CA certificates of st
 * (those of ca_file); else 0, and why names the CRL by its issuer and says
 * what is wrong.  OpenSSL takes any CRL that decodes, then refuses every
 * certificate it covers ("CRL signature failure", "CRL has expired", ...):
 * each is checked here instead, at start and on reload alike:
 *   - when its issuer is a certificate of ca_file: that CA may sign CRLs
 *     (no keyUsage, or one with cRLSign) and the CRL's signature verifies
 *     with its key (with one of them, when several have that name).  The
 *     CRL of a CA that is not in ca_file, an intermediate that enrolees
 *     send in their chain, can only be verified at each handshake,
 *     against that intermediate;
 *   - its lastUpdate is past, its nextUpdate present and to come.
 */
static int
crl_usable(X509_STORE *st, X509_CRL *crl, const char *path,
    const char *ca_file, char *why, size_t len)
{
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(st);
	const ASN1_TIME *last = X509_CRL_get0_lastUpdate(crl);
	const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
	char name[256], when[64];
	X509 *ca;
	int i, named = 0, signers = 0, ok = 0;

	name_str(X509_CRL_get_issuer(crl), name, sizeof(name));
	for (i = 0; !ok && i < sk_X509_OBJECT_num(objs); i++) {
		if ((ca = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs,
		    i))) == NULL || X509_NAME_cmp(X509_CRL_get_issuer(crl),
		    X509_get_subject_name(ca)) != 0)
			continue;
		named++;
		if ((X509_get_key_usage(ca) & KU_CRL_SIGN) == 0)
			continue;
		signers++;
		ok = crl_signed_by(crl, ca);
	}
	if (named > 0 && signers == 0) {
		snprintf(why, len, "the CRL of '%s' in %s: the CA '%s' of %s "
		    "may not sign CRLs (keyUsage without cRLSign)", name,
		    path, name, ca_file);
		return 0;
	}
	if (named > 0 && !ok) {
		snprintf(why, len, "the CRL of '%s' in %s: its signature "
		    "does not verify with the key of the CA '%s' of %s (a "
		    "CRL of another CA of that name?)", name, path, name,
		    ca_file);
		return 0;
	}
	if (last == NULL || X509_cmp_time(last, NULL) == 0 ||
	    (next != NULL && X509_cmp_time(next, NULL) == 0)) {
		snprintf(why, len, "the CRL of '%s' in %s: a lastUpdate or "
		    "nextUpdate that does not decode", name, path);
		return 0;
	}
	if (X509_cmp_time(last, NULL) > 0) {
		snprintf(why, len, "the CRL of '%s' in %s is not valid yet: "
		    "lastUpdate %s", name, path,
		    time_str(last, when, sizeof(when)));
		return 0;
	}
	if (next == NULL) {
		snprintf(why, len, "the CRL of '%s' in %s has no nextUpdate: "
		    "nothing would tell it out of date", name, path);
		return 0;
	}
	if (X509_cmp_time(next, NULL) < 0) {
		snprintf(why, len, "the CRL of '%s' in %s has expired: "
		    "nextUpdate %s", name, path,
		    time_str(next, when, sizeof(when)));
		return 0;
	}
	return 1;
}

/*
 * crl_check = chain: 1 when every CA certificate of st (of ca_file) has a
 * CRL it signed in st; else 0 and why names the first without one.
 * Without it OpenSSL refuses every enrolee under that CA ("unable to get
 * certificate CRL").
 */
static int
crls_complete(X509_STORE *st, const char *ca_file, const char *crl_file,
    char *why, size_t len)
{
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(st);
	X509_OBJECT *obj;
	X509_CRL *crl;
	X509 *ca;
	char name[256];
	int i, j;

	for (i = 0; i < sk_X509_OBJECT_num(objs); i++) {
		if ((ca = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs,
		    i))) == NULL || X509_check_ca(ca) == 0)
			continue;
		for (j = 0; j < sk_X509_OBJECT_num(objs); j++) {
			obj = sk_X509_OBJECT_value(objs, j);
			if ((crl = X509_OBJECT_get0_X509_CRL(obj)) != NULL &&
			    crl_signed_by(crl, ca))
				break;
		}
		if (j == sk_X509_OBJECT_num(objs)) {
			snprintf(why, len, "no CRL of the CA '%s' of %s in %s: "
			    "crl_check = chain needs one of every CA",
			    name_str(X509_get_subject_name(ca), name,
			    sizeof(name)), ca_file, crl_file);
			return 0;
		}
	}
	return 1;
}

/*
 * The CRLs of the PEM file at path (and nothing else of it: a certificate
 * there is no CA) into st, which holds the CA certificates of ca_file; 1,
 * or 0 with why.  At least one CRL; a block that does not decode, or a CRL
 * that cannot be used (crl_usable), fails the whole file.
 */
static int
add_crls(X509_STORE *st, const char *path, const char *ca_file, char *why,
    size_t len)
{
	X509_CRL *crl;
	BIO *b;
	unsigned long e;
	int n = 0, ok = 1;

	if (!file_opens("CRL file", path, why, len))
		return 0;
	if ((b = BIO_new_file(path, "r")) == NULL) {
		ossl_why(why, len, "CRL file", path, "cannot open it");
		return 0;
	}
	while (ok && (crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL)) !=
	    NULL) {
		if (!crl_usable(st, crl, path, ca_file, why, len)) {
			X509_CRL_free(crl);
			BIO_free(b);
			return 0;
		}
		if ((ok = X509_STORE_add_crl(st, crl)) != 0)
			n++;
		X509_CRL_free(crl);
	}
	BIO_free(b);
	e = ERR_peek_last_error();
	/* the end of the file: no further PEM block */
	if (ok && ERR_GET_LIB(e) == ERR_LIB_PEM &&
	    ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
		if (n > 0)
			return 1;
		snprintf(why, len, "cannot read the CRL file %s: no CRL "
		    "(PEM \"X509 CRL\") in it", path);
		return 0;
	}
	ossl_why(why, len, "CRL file", path, "a CRL that does not decode");
	return 0;
}

/*
 * The CRLs the CA file brought (X509_STORE_load_file() takes them too)
 * checked as those of the CRL file; 1, or 0 with why.
 */
static int
ca_file_crls_usable(X509_STORE *st, const char *ca_file, char *why,
    size_t len)
{
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(st);
	X509_CRL *crl;
	int i;

	for (i = 0; i < sk_X509_OBJECT_num(objs); i++)
		if ((crl = X509_OBJECT_get0_X509_CRL(sk_X509_OBJECT_value(
		    objs, i))) != NULL && !crl_usable(st, crl, ca_file,
		    ca_file, why, len))
			return 0;
	return 1;
}

/* The number of CRLs in st. */
static int
count_crls(X509_STORE *st)
{
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(st);
	int i, n = 0;

	for (i = 0; i < sk_X509_OBJECT_num(objs); i++)
		if (X509_OBJECT_get_type(sk_X509_OBJECT_value(objs, i)) ==
		    X509_LU_CRL)
			n++;
	return n;
}

/*
 * A new store of o's CA file and CRL file with o's CRL flags, in *ret;
 * 0 or M2M_TLS_ERR_* with why.  The OpenSSL error stack as it was.
 */
static int
new_store(const struct m2m_tls_cert_opts *o, X509_STORE **ret, char *why,
    size_t len)
{
	X509_STORE *st;
	unsigned long flags;
	int r = M2M_TLS_ERR_ARG;

	ERR_set_mark();
	if ((st = X509_STORE_new()) == NULL) {
		snprintf(why, len, "cannot make an X509_STORE");
		r = M2M_TLS_ERR_NOMEM;
		goto out;
	}
	if (!file_opens("CA file", o->ca_file, why, len))
		goto out;
	if (X509_STORE_load_file(st, o->ca_file) != 1) {
		ossl_why(why, len, "CA file", o->ca_file,
		    "no certificate in it");
		goto out;
	}
	if (o->crl_file != NULL) {
		if (!ca_file_crls_usable(st, o->ca_file, why, len) ||
		    !add_crls(st, o->crl_file, o->ca_file, why, len))
			goto out;
		if (o->crl_check == M2M_TLS_CRL_CHAIN &&
		    !crls_complete(st, o->ca_file, o->crl_file, why, len))
			goto out;
		flags = X509_V_FLAG_CRL_CHECK;
		if (o->crl_check == M2M_TLS_CRL_CHAIN)
			flags |= X509_V_FLAG_CRL_CHECK_ALL;
		if (!X509_STORE_set_flags(st, flags)) {
			snprintf(why, len, "cannot set the CRL flags");
			r = M2M_TLS_ERR_OPENSSL;
			goto out;
		}
	}
	*ret = st;
	st = NULL;	/* transferred */
	r = 0;
 out:
	ERR_pop_to_mark();
	X509_STORE_free(st);
	return r;
}

/* see tls.h */
int
m2m_tls_cert_reload_store(SSL_CTX *ctx, const struct m2m_tls_cert_opts *o,
    int *ret_ncrl, char *why, size_t why_len)
{
	char buf[M2M_TLS_WHY_MAX];
	X509_STORE *st = NULL;
	int r;

	if (why == NULL || why_len == 0) {
		why = buf;
		why_len = sizeof(buf);
	}
	why[0] = '\0';
	if (ctx == NULL || o == NULL || o->ca_file == NULL) {
		snprintf(why, why_len, "bad options (a context and a CA file "
		    "needed)");
		r = M2M_TLS_ERR_ARG;
	} else if (o->crl_check != M2M_TLS_CRL_LEAF &&
	    o->crl_check != M2M_TLS_CRL_CHAIN) {
		snprintf(why, why_len, "bad options (CRL check %d is neither "
		    "leaf nor chain)", (int)o->crl_check);
		r = M2M_TLS_ERR_ARG;
	} else if (o->crl_check == M2M_TLS_CRL_CHAIN && o->crl_file == NULL) {
		snprintf(why, why_len, "bad options (a CRL check of the whole "
		    "chain needs a CRL file)");
		r = M2M_TLS_ERR_ARG;
	} else if ((r = new_store(o, &st, why, why_len)) == 0) {
		if (ret_ncrl != NULL)
			*ret_ncrl = count_crls(st);
		SSL_CTX_set_cert_store(ctx, st);	/* frees the old one */
		return 0;
	}
	if (why == buf)
		m2m_tls_error("%s", buf);
	return r;
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
	if ((o->crl_check != M2M_TLS_CRL_LEAF &&
	    o->crl_check != M2M_TLS_CRL_CHAIN) ||
	    (o->crl_check == M2M_TLS_CRL_CHAIN && o->crl_file == NULL)) {
		m2m_tls_error("bad options (the CRL check is leaf, or chain "
		    "with a CRL file)");
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
	if ((r = m2m_tls_cert_reload_store(ctx, o, NULL, NULL, 0)) != 0)
		goto out;
	r = M2M_TLS_ERR_OPENSSL;
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
