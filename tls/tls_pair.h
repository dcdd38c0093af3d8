/*
 * For tls/'s tests and bench/bench_tls.c only: TLS 1.2 PSK handshakes
 * between two SSL_CTXs in one process over a BIO pair, one end (or both)
 * with the PSK in the token through libm2mtls, the other with the raw PSK
 * in OpenSSL.  Header-only (static functions); the includer sets tp_cfg
 * before making contexts: the raw PSK callbacks read it.
 */
#ifndef M2M_TLS_PAIR_H
#define M2M_TLS_PAIR_H

#include <string.h>

#include <openssl/ssl.h>

#include <m2mtoken/tls.h>

struct tp_cfg {
	const char	*id;		/* the PSK identity, both ends */
	const uint8_t	*psk;		/* the raw end's PSK */
	size_t		 psklen;
	const char	*cipher;	/* the one suite offered */
	const char	*token;		/* token label of the token end */
	const char	*pin;
	const char	*sni;		/* sent by every client, checked */
};

static struct tp_cfg tp_cfg;

static unsigned int
tp_raw_client(SSL *ssl, const char *hint, char *id, unsigned int max_id,
    unsigned char *out, unsigned int max)
{
	size_t idlen = strlen(tp_cfg.id) + 1;

	(void)ssl;
	(void)hint;
	if (max_id < idlen || max < tp_cfg.psklen)
		return 0;
	memcpy(id, tp_cfg.id, idlen);
	memcpy(out, tp_cfg.psk, tp_cfg.psklen);
	return (unsigned int)tp_cfg.psklen;
}

static unsigned int
tp_raw_server(SSL *ssl, const char *id, unsigned char *out, unsigned int max)
{
	(void)ssl;
	if (strcmp(id, tp_cfg.id) != 0 || max < tp_cfg.psklen)
		return 0;
	memcpy(out, tp_cfg.psk, tp_cfg.psklen);
	return (unsigned int)tp_cfg.psklen;
}

/* A TLS 1.2 context with the raw PSK; NULL on failure. */
static SSL_CTX *
tp_raw_ctx(int server)
{
	SSL_CTX *c = SSL_CTX_new(server ? TLS_server_method() :
	    TLS_client_method());

	if (c == NULL || !SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) ||
	    !SSL_CTX_set_max_proto_version(c, TLS1_2_VERSION) ||
	    !SSL_CTX_set_cipher_list(c, tp_cfg.cipher)) {
		SSL_CTX_free(c);
		return NULL;
	}
	if (server)
		SSL_CTX_set_psk_server_callback(c, tp_raw_server);
	else
		SSL_CTX_set_psk_client_callback(c, tp_raw_client);
	return c;
}

/* A context whose PSK is in the token (m2m_tls_ctx_new); NULL on failure. */
static SSL_CTX *
tp_token_ctx(int server)
{
	struct m2m_tls_opts o;
	SSL_CTX *c = NULL;

	memset(&o, 0, sizeof(o));
	o.token_label = tp_cfg.token;
	o.pin = tp_cfg.pin;
	o.role = server ? M2M_TLS_SERVER : M2M_TLS_CLIENT;
	o.sni = tp_cfg.sni;
	o.ciphers = tp_cfg.cipher;
	o.identity = tp_cfg.id;
	return m2m_tls_ctx_new(&o, &c) == 0 ? c : NULL;
}

/*
 * One handshake over a BIO pair, the client offering sess (NULL: none):
 * 0 when both ends finished (the two connections in *ret_c and *ret_s, for
 * the caller to inspect and free), else -1 with both freed.
 */
static int
tp_handshake_session(SSL_CTX *cc, SSL_CTX *sc, SSL_SESSION *sess,
    SSL **ret_c, SSL **ret_s)
{
	SSL *c = SSL_new(cc), *s = SSL_new(sc);
	BIO *bc = NULL, *bs = NULL;
	int i, dc = 0, ds = 0, x;

	if (c == NULL || s == NULL || !BIO_new_bio_pair(&bc, 0, &bs, 0))
		goto fail;
	if (sess != NULL && !SSL_set_session(c, sess))
		goto fail;
	SSL_set_bio(c, bc, bc);
	SSL_set_bio(s, bs, bs);
	if (tp_cfg.sni != NULL && !SSL_set_tlsext_host_name(c, tp_cfg.sni))
		goto fail;
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	for (i = 0; i < 100 && !(dc && ds); i++) {
		if (!dc) {
			if ((x = SSL_do_handshake(c)) == 1)
				dc = 1;
			else if (SSL_get_error(c, x) != SSL_ERROR_WANT_READ)
				goto fail;
		}
		if (!ds) {
			if ((x = SSL_do_handshake(s)) == 1)
				ds = 1;
			else if (SSL_get_error(s, x) != SSL_ERROR_WANT_READ)
				goto fail;
		}
	}
	if (!(dc && ds))
		goto fail;
	*ret_c = c;
	*ret_s = s;
	return 0;
 fail:
	SSL_free(c);
	SSL_free(s);
	return -1;
}

/* One full handshake: tp_handshake_session() offering no session. */
static int
tp_handshake(SSL_CTX *cc, SSL_CTX *sc, SSL **ret_c, SSL **ret_s)
{
	return tp_handshake_session(cc, sc, NULL, ret_c, ret_s);
}

#endif /* M2M_TLS_PAIR_H */
