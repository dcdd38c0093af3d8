/*
 * m2m-mef: the HTTP requests (http.h, docs/mef-http.md).
 *
 * Who speaks is the PSK identity of the TLS session, or on the certificate
 * listener the field [cert] map names in the verified peer certificate,
 * looked up in the registry.  The refusal table below is the one place that names an HTTP
 * status, an X-M2M-RSC and an ErrorString.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <m2mtoken/tls.h>

#include "http.h"
#include "log.h"
#include "parse.h"

#define RI_MAX		255	/* X-M2M-RI echoed */
#define PEER_MAX	64

/* One entry per refusal: docs/mef-http.md "Errors". */
enum refusal {
	RF_MALFORMED,
	RF_SECOND_BOOTSTRAP,
	RF_NOT_ENROLEE,
	RF_NOT_TARGET,
	RF_ORIGIN,
	RF_TARGET_NOT_ALLOWED,
	RF_EXPIRED,
	RF_UNKNOWN_KEID,
	RF_UNKNOWN_PATH,
	RF_METHOD,
	RF_INTERNAL,
	RF_NO_TLS
};

static const struct {
	int		status;
	const char	*phrase;
	const char	*rsc;
	const char	*text;	/* ErrorString, unless the caller's */
} refusals[] = {
	[RF_MALFORMED] = { 400, "Bad Request", "4000",
	    "the request is malformed" },
	[RF_SECOND_BOOTSTRAP] = { 400, "Bad Request", "4000",
	    "a second bootstrap on one TLS session" },
	[RF_NOT_ENROLEE] = { 403, "Forbidden", "4103",
	    "the TLS identity is not an enrolee" },
	[RF_NOT_TARGET] = { 403, "Forbidden", "4103",
	    "the TLS identity is not an enrolment target" },
	[RF_ORIGIN] = { 403, "Forbidden", "4103",
	    "X-M2M-Origin differs from the TLS identity" },
	[RF_TARGET_NOT_ALLOWED] = { 403, "Forbidden", "4103",
	    "target not allowed" },
	[RF_EXPIRED] = { 403, "Forbidden", "4103",
	    "the credential lifetime has passed" },
	[RF_UNKNOWN_KEID] = { 404, "Not Found", "4004", "unknown KeId" },
	[RF_UNKNOWN_PATH] = { 404, "Not Found", "4004", "unknown path" },
	[RF_METHOD] = { 405, "Method Not Allowed", "4005",
	    "method not allowed on this path" },
	[RF_INTERNAL] = { 500, "Internal Server Error", "5000",
	    "internal error of the MEF" },
	[RF_NO_TLS] = { 500, "Internal Server Error", "5000",
	    "internal error of the MEF" },
};

/* Per request: who is asking, and the reply's echo headers. */
struct ctx {
	struct mef_srv		*srv;
	struct evhttp_request	*req;
	SSL			*ssl;
	const char		*who;		/* PSK identity or cert ID */
	int			cert;		/* 1: the certificate listener */
	char			cert_id[MEF_ID_MAX + 1];
	char			peer[PEER_MAX];
	const char		*ri;		/* X-M2M-RI to echo */
	const char		*event;		/* bootstrap, fetch */
};

static int bootstrapped_idx = -1;
static int bootstrapped_mark;

/* see http.h */
int
mef_http_init(void)
{
	if (bootstrapped_idx < 0 &&
	    (bootstrapped_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL,
	    NULL)) < 0)
		return MEF_ERR_NOMEM;
	return 0;
}


static void
add_common_headers(struct ctx *x, const char *rsc)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(x->req);

	evhttp_add_header(h, "Content-Type", "application/json");
	evhttp_add_header(h, "X-M2M-RSC", rsc);
	if (x->ri != NULL)
		evhttp_add_header(h, "X-M2M-RI", x->ri);
}

/* Answer with refusal rf; why (static text) overrides its ErrorString. */
static void
refuse(struct ctx *x, enum refusal rf, const char *why,
    const char *const *extra)
{
	struct json_object *o = NULL;
	struct evbuffer *b = NULL;
	const char *text = why != NULL ? why : refusals[rf].text;
	const char *s;

	mef_log_decision(x->event, x->who, x->peer,
	    rf == RF_INTERNAL || rf == RF_NO_TLS ? "error" : "refused",
	    text, extra);
	add_common_headers(x, refusals[rf].rsc);
	if ((o = json_object_new_object()) == NULL ||
	    json_object_object_add(o, "Status",
	    json_object_new_boolean(0)) != 0 ||
	    json_object_object_add(o, "ErrorString",
	    json_object_new_string(text)) != 0 ||
	    (s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE))
	    == NULL || (b = evbuffer_new()) == NULL ||
	    evbuffer_add(b, s, strlen(s)) != 0) {
		evhttp_send_error(x->req, 500, NULL);
		goto out;
	}
	evhttp_send_reply(x->req, refusals[rf].status, refusals[rf].phrase, b);
 out:
	if (b != NULL)
		evbuffer_free(b);
	json_object_put(o);
}

/*
 * The one value of header name: 1 with *ret set, 0 when absent, -1 when
 * it appears more than once.
 */
static int
header_once(struct evhttp_request *req, const char *name, const char **ret)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	struct evkeyval *kv;
	int n = 0;

	*ret = NULL;
	TAILQ_FOREACH(kv, h, next) {
		if (strcasecmp(kv->key, name) == 0) {
			*ret = kv->value;
			n++;
		}
	}
	return n > 1 ? -1 : n;
}

static int
printable(const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= max || (unsigned char)s[i] < 0x21 ||
		    (unsigned char)s[i] > 0x7e)
			return 0;
	return i > 0;
}

static int
content_type_json(struct evhttp_request *req)
{
	const char *ct;
	size_t n = strlen("application/json");

	if (header_once(req, "Content-Type", &ct) != 1 ||
	    strncasecmp(ct, "application/json", n) != 0)
		return 0;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

static void
hex_lower(const uint8_t *b, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* The bootstrap answer (nothing secret in it) into a new evbuffer. */
static struct evbuffer *
bootstrap_body(const struct mef_enrolee *e, const char *ke_id,
    const char *lifetime, const struct mef_targets *granted)
{
	struct json_object *o = NULL, *a, *e2e;
	struct evbuffer *b = NULL;
	char salt[((MEF_SALT_MAX + 2) / 3) * 4 + 1];
	const char *s;
	size_t i;
	int ok;

	if ((o = json_object_new_object()) == NULL ||
	    (a = json_object_new_array()) == NULL)
		goto out;
	json_object_object_add(o, "Status", json_object_new_boolean(1));
	json_object_object_add(o, "EnroleeID",
	    json_object_new_string(e->enrolee_id));
	json_object_object_add(o, "KeId", json_object_new_string(ke_id));
	json_object_object_add(o, "Lifetime",
	    json_object_new_string(lifetime));
	json_object_object_add(o, "Targets", a);
	for (i = 0; i < granted->n; i++)
		json_object_array_add(a,
		    json_object_new_string(granted->id[i]));
	if ((e2e = json_object_new_object()) == NULL)
		goto out;
	json_object_object_add(o, "E2E", e2e);
	json_object_object_add(e2e, "Hash", json_object_new_string(
	    e->e2e_hash == MEF_HASH_SHA512 ? "SHA-512" : "SHA-256"));
	if (e->salt_len > 0) {
		EVP_EncodeBlock((unsigned char *)salt, e->salt,
		    (int)e->salt_len);
		json_object_object_add(e2e, "Salt",
		    json_object_new_string(salt));
	}
	if ((s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE))
	    == NULL || (b = evbuffer_new()) == NULL)
		goto out;
	ok = evbuffer_add(b, s, strlen(s)) == 0;
	if (!ok) {
		evbuffer_free(b);
		b = NULL;
	}
 out:
	json_object_put(o);
	return b;
}

/* The KeIds a bootstrap's row superseded (mef_reg_ke_add_keep). */
struct superseded {
	size_t	n, cap;
	char	(*id)[MEF_KEID_MAX + 1];
};

static int
collect_superseded(const char *ke_id, void *arg)
{
	struct superseded *l = arg;
	void *p;

	if (strlen(ke_id) >= sizeof(l->id[0]))
		return MEF_ERR_INTERNAL;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 4;
		if ((p = reallocarray(l->id, l->cap, sizeof(*l->id))) == NULL)
			return MEF_ERR_NOMEM;
		l->id = p;
	}
	memcpy(l->id[l->n++], ke_id, strlen(ke_id) + 1);
	return 0;
}

static void
bootstrap(struct ctx *x)
{
	struct mef_srv *srv = x->srv;
	struct mef_enrolee e;
	struct mef_targets req;
	struct mef_ke ke;
	struct superseded old = { 0, 0, NULL };
	struct evbuffer *in, *b = NULL;
	uint8_t ekm[M2M_TLS_EXPORT_LEN];
	char lifetime[MEF_TS_LEN + 1], nold[24];
	const char *why = NULL, *origin, *body, *xt[7] = { NULL };
	size_t len, i, j;
	time_t now;
	int r, imported = 0;

	x->event = "bootstrap";
	if ((r = mef_reg_enrolee_get(srv->reg, x->who, &e)) != 0) {
		refuse(x, r == MEF_ERR_NOTFOUND ? RF_NOT_ENROLEE : RF_INTERNAL,
		    NULL, NULL);
		goto out;
	}
	/* a KpmId only over PSK, a certificate ID only over a certificate */
	if (e.cert != x->cert) {
		refuse(x, RF_NOT_ENROLEE, NULL, NULL);
		goto out;
	}
	if (SSL_get_ex_data(x->ssl, bootstrapped_idx) != NULL) {
		refuse(x, RF_SECOND_BOOTSTRAP, NULL, NULL);
		goto out;
	}
	if ((r = header_once(x->req, "X-M2M-Origin", &origin)) < 0) {
		refuse(x, RF_MALFORMED, "X-M2M-Origin given twice", NULL);
		goto out;
	}
	if (!content_type_json(x->req)) {
		refuse(x, RF_MALFORMED, "Content-Type is not application/json",
		    NULL);
		goto out;
	}
	in = evhttp_request_get_input_buffer(x->req);
	len = evbuffer_get_length(in);
	if (len > MEF_BODY_MAX) {
		refuse(x, RF_MALFORMED, "the body is too large", NULL);
		goto out;
	}
	body = len > 0 ? (const char *)evbuffer_pullup(in, -1) : "";
	if (body == NULL) {
		refuse(x, RF_INTERNAL, NULL, NULL);
		goto out;
	}
	if ((r = mef_parse_bootstrap(body, len, &req, &why)) != 0) {
		refuse(x, r == MEF_ERR_INVALID ? RF_MALFORMED : RF_INTERNAL,
		    r == MEF_ERR_INVALID ? why : NULL, NULL);
		goto out;
	}
	if (origin != NULL && strcmp(origin, x->who) != 0) {
		refuse(x, RF_ORIGIN, NULL, NULL);
		goto out;
	}
	for (i = 0; i < req.n; i++) {
		for (j = 0; j < e.targets.n; j++)
			if (strcmp(req.id[i], e.targets.id[j]) == 0)
				break;
		if (j == e.targets.n) {
			xt[0] = "target";
			xt[1] = req.id[i];
			refuse(x, RF_TARGET_NOT_ALLOWED, NULL, xt);
			goto out;
		}
	}
	/* From here on this session has had its bootstrap, whatever comes. */
	SSL_set_ex_data(x->ssl, bootstrapped_idx, &bootstrapped_mark);
	now = time(NULL);
	if (mef_timestamp(now + e.lifetime, lifetime) != 0) {
		refuse(x, RF_INTERNAL, NULL, NULL);
		goto out;
	}
	if (m2m_tls_export_ke(x->ssl, ekm) != 0) {
		mef_log("bootstrap: the RFC 5705 export failed");
		refuse(x, RF_INTERNAL, NULL, NULL);
		goto out;
	}
	memset(&ke, 0, sizeof(ke));
	hex_lower(ekm, 16, ke.ke_id);
	ke.ke_id[MEF_KEID_HEX] = '@';
	memcpy(ke.ke_id + MEF_KEID_HEX + 1, srv->conf->fqdn,
	    strlen(srv->conf->fqdn) + 1);
	memcpy(ke.kpm_id, e.kpm_id, sizeof(ke.kpm_id));
	memcpy(ke.enrolee_id, e.enrolee_id, sizeof(ke.enrolee_id));
	ke.targets = req;
	ke.expires = now + e.lifetime;
	xt[0] = "keid";
	xt[1] = ke.ke_id;
	/* The key first, then the row; a failed row takes the key back. */
	r = mef_tok_import(srv->tok, ke.ke_id, CK_M2M_ROLE_KE, ekm + 16,
	    MEF_KEY_LEN, e.enrolee_id, lifetime);
	OPENSSL_cleanse(ekm, sizeof(ekm));
	if (r != 0) {
		refuse(x, RF_INTERNAL, "internal error of the MEF", xt);
		goto out;
	}
	imported = 1;
	/*
	 * The row supersedes the enrolee's oldest KeIds past [bootstrap]
	 * kes_per_enrolee in its transaction, so that one enrolee's
	 * bootstraps cannot fill the registry and the token; their Ke go
	 * once it committed: a crash before leaves Ke objects no row names,
	 * which the next start destroys, never a row without its Ke.
	 */
	if ((r = mef_reg_ke_add_keep(srv->reg, &ke,
	    srv->conf->kes_per_enrolee, collect_superseded, &old)) != 0) {
		mef_log("bootstrap: registry: %s", mef_strerror(r));
		refuse(x, RF_INTERNAL, NULL, xt);
		goto out;
	}
	imported = 0;	/* kept */
	for (i = 0; i < old.n; i++)
		if (mef_tok_destroy(srv->tok, old.id[i], CK_M2M_ROLE_KE) < 0)
			mef_log("bootstrap: superseded Ke %s left in the token "
			    "without a row: it goes at the next start",
			    old.id[i]);
	if ((b = bootstrap_body(&e, ke.ke_id, lifetime, &req)) == NULL) {
		/* the KeId stands; the enrolee gets no answer and retries */
		refuse(x, RF_INTERNAL, NULL, xt);
		goto out;
	}
	xt[2] = "lifetime";
	xt[3] = lifetime;
	if (old.n > 0) {
		snprintf(nold, sizeof(nold), "%zu", old.n);
		xt[4] = "superseded";
		xt[5] = nold;
	}
	mef_log_decision(x->event, x->who, x->peer, "ok", NULL, xt);
	add_common_headers(x, "2001");
	evhttp_send_reply(x->req, 200, "OK", b);
 out:
	if (imported && mef_tok_destroy(srv->tok, ke.ke_id,
	    CK_M2M_ROLE_KE) < 0)
		mef_log("bootstrap: Ke %s left in the token without a row: "
		    "it goes at the next start", ke.ke_id);
	OPENSSL_cleanse(ekm, sizeof(ekm));
	free(old.id);
	if (b != NULL)
		evbuffer_free(b);
}

/* evbuffer_add_reference cleanup: the credential body, wiped and freed. */
static void
wipe_free(const void *data, size_t len, void *arg)
{
	(void)arg;
	OPENSSL_cleanse((void *)data, len);
	free((void *)data);
}

static void
fetch(struct ctx *x, const char *uri)
{
	struct mef_srv *srv = x->srv;
	struct mef_fetch_path p;
	struct mef_ke ke;
	struct json_object *jid = NULL;
	struct evbuffer *b = NULL;
	uint8_t key[MEF_KEY_LEN];
	char b64[((MEF_KEY_LEN + 2) / 3) * 4 + 1], lifetime[MEF_TS_LEN + 1];
	char suid[12], *body = NULL;
	const char *why = NULL, *origin, *jids, *xt[7] = { NULL };
	size_t cap = 0, blen;
	int r, n, lookup, is_target = 0;

	x->event = "fetch";
	if ((r = mef_parse_fetch_path(uri, &p, &why)) != 0) {
		refuse(x, RF_MALFORMED, why, NULL);
		goto out;
	}
	xt[0] = "keid";
	xt[1] = p.ke_id;
	if (p.suid != 0) {
		snprintf(suid, sizeof(suid), "%u", p.suid);
		xt[2] = "suid";
		xt[3] = suid;
	}
	/* [profile] targets authenticate with TLS-PSK only */
	if (x->cert) {
		refuse(x, RF_NOT_TARGET, NULL, xt);
		goto out;
	}
	/* both lookups at once; the refusals keep their order */
	lookup = mef_reg_fetch_get(srv->reg, x->who, p.ke_id, &is_target,
	    &ke);
	if (lookup != 0 && lookup != MEF_ERR_NOTFOUND) {
		refuse(x, RF_INTERNAL, NULL, xt);
		goto out;
	}
	if (!is_target) {
		refuse(x, RF_NOT_TARGET, NULL, xt);
		goto out;
	}
	if ((r = header_once(x->req, "X-M2M-Origin", &origin)) != 1) {
		refuse(x, RF_MALFORMED, r < 0 ? "X-M2M-Origin given twice" :
		    "X-M2M-Origin is missing", xt);
		goto out;
	}
	if (strcmp(origin, x->who) != 0) {
		refuse(x, RF_ORIGIN, NULL, xt);
		goto out;
	}
	if (lookup == MEF_ERR_NOTFOUND) {
		refuse(x, RF_UNKNOWN_KEID, NULL, xt);
		goto out;
	}
	for (n = 0; (size_t)n < ke.targets.n; n++)
		if (strcmp(ke.targets.id[n], origin) == 0)
			break;
	if ((size_t)n == ke.targets.n) {
		refuse(x, RF_TARGET_NOT_ALLOWED, NULL, xt);
		goto out;
	}
	if (time(NULL) >= ke.expires) {
		refuse(x, RF_EXPIRED, NULL, xt);
		goto out;
	}
	if (mef_timestamp(ke.expires, lifetime) != 0 ||
	    (jid = json_object_new_string(ke.enrolee_id)) == NULL ||
	    (jids = json_object_to_json_string_ext(jid,
	    JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE)) == NULL) {
		refuse(x, RF_INTERNAL, NULL, xt);
		goto out;
	}
	if ((r = mef_tok_derive_read(srv->tok, ke.ke_id, origin, p.suid,
	    key)) != 0) {
		if (r == MEF_ERR_NOTFOUND)
			mef_log("fetch: KeId %s is in the registry but its Ke "
			    "is not in the token", ke.ke_id);
		refuse(x, RF_INTERNAL, NULL, xt);
		goto out;
	}
	EVP_EncodeBlock((unsigned char *)b64, key, MEF_KEY_LEN);
	OPENSSL_cleanse(key, sizeof(key));
	cap = strlen(jids) + sizeof(b64) + 128;
	if ((body = malloc(cap)) == NULL) {
		refuse(x, RF_INTERNAL, NULL, xt);
		goto out;
	}
	n = snprintf(body, cap, "{\"Status\":true,\"Credential\":\"%s\","
	    "\"EnroleeID\":%s,\"Lifetime\":\"%s\"}", b64, jids, lifetime);
	OPENSSL_cleanse(b64, sizeof(b64));
	if (n < 0 || (size_t)n >= cap || (b = evbuffer_new()) == NULL) {
		refuse(x, RF_INTERNAL, NULL, xt);
		goto out;
	}
	blen = (size_t)n;
	/*
	 * The body goes by reference: libevent hands the chain on to the
	 * connection's output without copying it, and frees it, through
	 * wipe_free, once OpenSSL has taken its bytes.
	 */
	if (evbuffer_add_reference(b, body, blen, wipe_free, NULL) != 0) {
		refuse(x, RF_INTERNAL, NULL, xt);
		goto out;
	}
	body = NULL;	/* transferred */
	xt[4] = "target";
	xt[5] = origin;
	mef_log_decision(x->event, x->who, x->peer, "ok", NULL, xt);
	add_common_headers(x, "2000");
	evhttp_send_reply(x->req, 200, "OK", b);
 out:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(b64, sizeof(b64));
	if (body != NULL) {
		OPENSSL_cleanse(body, cap);
		free(body);
	}
	if (b != NULL)
		evbuffer_free(b);
	json_object_put(jid);
}

static void
peer_of(struct evhttp_request *req, char *out, size_t cap)
{
	struct evhttp_connection *c = evhttp_request_get_connection(req);
	char *host = NULL;
	ev_uint16_t port = 0;

	evhttp_connection_get_peer(c, &host, &port);
	snprintf(out, cap, "%s:%u", host != NULL ? host : "?",
	    (unsigned int)port);
}

/*
 * The enrolee's ID in the verified peer certificate of ssl: the field map
 * names (exactly one such field, a valid ID) into out.  0 or
 * MEF_ERR_INVALID.
 */
static int
cert_id(SSL *ssl, enum mef_cert_map map, char out[MEF_ID_MAX + 1])
{
	GENERAL_NAMES *sans = NULL;
	const GENERAL_NAME *g;
	const ASN1_STRING *a = NULL;
	X509_NAME *subj;
	X509 *c;
	int i, n = 0, want, r = MEF_ERR_INVALID, len;

	if ((c = SSL_get0_peer_certificate(ssl)) == NULL ||
	    SSL_get_verify_result(ssl) != X509_V_OK)
		return MEF_ERR_INVALID;
	if (map == MEF_MAP_CN) {
		subj = X509_get_subject_name(c);
		i = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
		if (i < 0 || X509_NAME_get_index_by_NID(subj, NID_commonName,
		    i) >= 0)
			return MEF_ERR_INVALID;
		a = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));
		if (ASN1_STRING_type(a) != V_ASN1_UTF8STRING &&
		    ASN1_STRING_type(a) != V_ASN1_PRINTABLESTRING &&
		    ASN1_STRING_type(a) != V_ASN1_IA5STRING)
			return MEF_ERR_INVALID;
	} else {
		want = map == MEF_MAP_SAN_URI ? GEN_URI : GEN_DNS;
		if ((sans = X509_get_ext_d2i(c, NID_subject_alt_name, NULL,
		    NULL)) == NULL)
			return MEF_ERR_INVALID;
		for (i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
			g = sk_GENERAL_NAME_value(sans, i);
			if (g->type == want) {
				a = g->d.ia5;
				n++;
			}
		}
		if (n != 1)
			goto out;
	}
	len = ASN1_STRING_length(a);
	if (len < 1 || len > MEF_ID_MAX ||
	    !mef_id_valid((const char *)ASN1_STRING_get0_data(a),
	    (size_t)len) || memchr(ASN1_STRING_get0_data(a), '\0',
	    (size_t)len) != NULL)
		goto out;
	memcpy(out, ASN1_STRING_get0_data(a), (size_t)len);
	out[len] = '\0';
	r = 0;
 out:
	GENERAL_NAMES_free(sans);
	return r;
}

/* A connection's end: a close_notify first, so a peer sees no truncation. */
static void
on_close(struct evhttp_connection *conn, void *arg)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(conn);
	SSL *ssl;

	(void)arg;
	if (bev != NULL && (ssl = bufferevent_openssl_get_ssl(bev)) != NULL &&
	    SSL_is_init_finished(ssl))
		(void)SSL_shutdown(ssl);
}

/* see http.h */
void
mef_http_request(struct evhttp_request *req, void *arg)
{
	struct ctx x;
	struct bufferevent *bev;
	const char *uri = evhttp_request_get_uri(req), *ri;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct mef_fetch_path p;
	const char *why;
	int r;

	memset(&x, 0, sizeof(x));
	x.srv = arg;
	x.req = req;
	x.event = "request";
	peer_of(req, x.peer, sizeof(x.peer));
	bev = evhttp_connection_get_bufferevent(
	    evhttp_request_get_connection(req));
	if (bev == NULL || (x.ssl = bufferevent_openssl_get_ssl(bev)) ==
	    NULL) {
		/* evhttp made a plain connection: never serve it */
		refuse(&x, RF_NO_TLS, NULL, NULL);
		return;
	}
	if (x.srv->request_seen != NULL)
		x.srv->request_seen(x.ssl);
	if (x.srv->cert_ctx != NULL &&
	    SSL_get_SSL_CTX(x.ssl) == x.srv->cert_ctx) {
		x.cert = 1;
		if (cert_id(x.ssl, x.srv->conf->cert_map, x.cert_id) != 0) {
			x.event = "bootstrap";
			refuse(&x, RF_NOT_ENROLEE, NULL, NULL);
			return;
		}
		x.who = x.cert_id;
	} else if ((x.who = SSL_get_psk_identity(x.ssl)) == NULL) {
		refuse(&x, RF_NO_TLS, NULL, NULL);
		return;
	}
	evhttp_connection_set_closecb(evhttp_request_get_connection(req),
	    on_close, NULL);
	if ((r = header_once(req, "X-M2M-RI", &ri)) < 0 ||
	    (r == 1 && !printable(ri, RI_MAX))) {
		refuse(&x, RF_MALFORMED, "X-M2M-RI is malformed", NULL);
		return;
	}
	x.ri = ri;
	if (uri == NULL) {
		refuse(&x, RF_MALFORMED, NULL, NULL);
		return;
	}
	if (strcmp(uri, "/bootstrap") == 0) {
		if (cmd != EVHTTP_REQ_POST) {
			x.event = "bootstrap";
			refuse(&x, RF_METHOD, NULL, NULL);
		} else
			bootstrap(&x);
		return;
	}
	r = mef_parse_fetch_path(uri, &p, &why);
	if (r == MEF_ERR_NOTFOUND) {
		refuse(&x, RF_UNKNOWN_PATH, NULL, NULL);
		return;
	}
	if (cmd != EVHTTP_REQ_GET) {
		x.event = "fetch";
		refuse(&x, RF_METHOD, NULL, NULL);
		return;
	}
	fetch(&x, uri);
}

