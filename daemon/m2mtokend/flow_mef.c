/*
 * m2mtokend: the methods that talk to the MEF, Bootstrap (the enrolee) and
 * FetchCredentials (the enrolment target): the request, the strict reading
 * of the MEF's answer, and the import of Ke / the credential, only after
 * the MEF answered (docs/protocol.md, docs/mef-http.md).  The exchange
 * itself runs in the server's worker thread (mtd_job_run, mef.c).
 */
#include <sys/mman.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <m2mtoken/tls.h>

#include "errors.h"
#include "http.h"
#include "ipc.h"
#include "mef.h"
#include "methods.h"
#include "methods_int.h"

#define KEID_HEX		32
/* Members of a MEF answer's object: a handful; more is not a MEF. */
#define NAMES_MAX		32

/* A request id for X-M2M-RI: "m2mtokend-" and 16 hex digits. */
static void
request_id(char out[32])
{
	uint8_t b[8];
	size_t i;

	if (RAND_bytes(b, sizeof(b)) != 1)
		memset(b, 0, sizeof(b));
	memcpy(out, "m2mtokend-", 10);
	for (i = 0; i < sizeof(b); i++)
		snprintf(out + 10 + 2 * i, 3, "%02x", b[i]);
}

/* A visible-ASCII copy of s (at most n bytes) for a detail line. */
static void
shown(char *dst, size_t cap, const char *s)
{
	size_t i;

	for (i = 0; s != NULL && s[i] != '\0' && i + 1 < cap; i++)
		dst[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	dst[i] = '\0';
}

/*
 * Parses the response body as JSON.  The body may carry a credential:
 * the tokener's scratch buffer, which held every string of it, never
 * moves and is wiped before it is freed (m2m_json_tokener_new), and a
 * tree refused is dropped wiped.
 */
static struct json_object *
parse_body(const char *body, size_t len)
{
	struct json_tokener *tok;
	struct json_object *o;

	if (!m2m_ipc_names_once(body, len, NAMES_MAX) ||
	    (tok = m2m_json_tokener_new(8, len)) == NULL)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, body, (int)len);
	if (o != NULL && json_tokener_get_parse_end(tok) != len) {
		m2m_json_put_wiped(o);
		o = NULL;
	}
	m2m_json_tokener_free(tok);
	if (o != NULL && (!json_object_is_type(o, json_type_object) ||
	    m2m_ipc_top_members(body, len) !=
	    (size_t)(unsigned int)json_object_object_length(o))) {
		/* not an object, or a member twice (missed by the scan) */
		m2m_json_put_wiped(o);
		o = NULL;
	}
	return o;
}

/* "Status": true, a JSON boolean (not "true", not 1). */
static int
status_true(struct json_object *o)
{
	struct json_object *v;

	return json_object_object_get_ex(o, "Status", &v) &&
	    json_object_is_type(v, json_type_boolean) &&
	    json_object_get_boolean(v);
}

/* A string member of the MEF's body: 1..max bytes of visible text. */
static const char *
body_str(struct json_object *o, const char *k, size_t max)
{
	struct json_object *v;
	const char *s;
	size_t i, n;

	if (!json_object_object_get_ex(o, k, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	n = (size_t)json_object_get_string_len(v);
	if (n == 0 || n > max || strlen(s) != n)
		return NULL;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return NULL;
	return s;
}

/* YYYYMMDDTHHMMSS */
static int
timestamp_ok(const char *s)
{
	size_t i;

	if (s == NULL || strlen(s) != 15 || s[8] != 'T')
		return 0;
	for (i = 0; i < 15; i++)
		if (i != 8 && !isdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

/* A refusal of the MEF into err: HTTP status, RSC and its ErrorString. */
static long
mef_refused(struct mtd_mef_result *res, struct mtd_err *err)
{
	struct json_object *o;
	char why[120] = "";

	err->status = res->resp.status;
	err->rsc = res->resp.rsc;
	if ((o = parse_body(res->resp.body, res->resp.body_len)) != NULL) {
		shown(why, sizeof(why), body_str(o, "ErrorString", 200));
		json_object_put(o);
	}
	snprintf(err->detail, sizeof(err->detail), "HTTP %d, X-M2M-RSC %d%s%s",
	    res->resp.status, res->resp.rsc, why[0] ? ": " : "", why);
	return M2M_IPC_ERR_MEF_REFUSED;
}

static int
mef_target(struct mtd *d, struct mtd_mef_target *t)
{
	if (d->conf->mef_host == NULL)
		return -1;
	t->host = d->conf->mef_host;
	t->port = d->conf->mef_port;
	t->fqdn = d->conf->mef_fqdn;
	t->timeout = d->conf->mef_timeout;
	return 0;
}

/*
 * see methods.h.  KeId: 32 hex digits "@" an FQDN of [A-Za-z0-9.-] (safe
 * in a path), into out in lower case: the MEF's KeIds are (it folds the
 * FQDN), so one KeId in another case is the same credential, fetched once
 * and stored under one label (found in review: each case variant was
 * fetched and stored again, and m2m-assoc let a peer without a key ask
 * for them).  The dispatcher checks the caller ACL on this form too.
 */
int
mtd_keid_canon(const char *s, char *out, size_t cap)
{
	size_t i;

	for (i = 0; i < KEID_HEX; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	if (s[i++] != '@' || s[i] == '\0')
		return 0;
	for (; s[i] != '\0'; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != '-')
			return 0;
	if (i >= cap)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[i] = '\0';
	return 1;
}

/* see methods.h */
struct mtd_job *
mtd_job_new(void)
{
	struct mtd_job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return NULL;
	/* it will hold the EKM (Ke) or a credential: keep it out of swap */
	(void)mlock(j, sizeof(*j));
	j->rc = M2M_IPC_ERR_INTERNAL;
	return j;
}

/* see methods.h */
void
mtd_job_run(struct mtd_job *j)
{
	j->rc = mtd_mef_exchange(j->ctx, &j->mt, j->req, j->req_len,
	    j->want_ekm ? j->ekm : NULL, &j->res, j->detail,
	    sizeof(j->detail));
}

/* see methods.h */
void
mtd_job_free(struct mtd_job *j)
{
	if (j == NULL)
		return;
	free(j->req);
	SSL_CTX_free(j->own_ctx);
	/* the export (Ke), and a response that may hold a credential */
	OPENSSL_cleanse(j, sizeof(*j));
	(void)munlock(j, sizeof(*j));
	free(j);
}

/* A job for the MEF exchange of req (taken); NULL out of memory. */
static long
job_for(struct mtd_call *c, SSL_CTX *ctx, const struct mtd_mef_target *mt,
    char *req, size_t req_len, int want_ekm,
    long (*finish)(struct mtd_call *, struct mtd_job *,
    struct json_object *, struct mtd_err *), struct mtd_job **ret)
{
	struct mtd_job *j;

	(void)c;
	if ((j = mtd_job_new()) == NULL) {
		free(req);
		return M2M_IPC_ERR_NO_MEMORY;
	}
	j->ctx = ctx;
	j->mt = *mt;
	j->req = req;
	j->req_len = req_len;
	j->want_ekm = want_ekm;
	j->finish = finish;
	*ret = j;
	return 0;
}

/*
 * Bootstrap, after the exchange (main thread): check the MEF's answer,
 * then import Ke.  Nothing is stored on any failure.
 */
static long
bootstrap_finish(struct mtd_call *c, struct mtd_job *j,
    struct json_object *reply, struct mtd_err *err)
{
	struct mtd *d = c->d;
	struct json_object *o = NULL, *v, *e2e;
	const char *enrolee, *keid, *life;
	char keidbuf[KEID_HEX + 2 + MTD_ID_MAX];
	CK_OBJECT_HANDLE h;
	size_t i;
	long r;

	/* KeId = lower-hex(EKM[0..15]) "@" MEF-FQDN */
	for (i = 0; i < 16; i++)
		snprintf(keidbuf + 2 * i, 3, "%02x", j->ekm[i]);
	snprintf(keidbuf + KEID_HEX, sizeof(keidbuf) - KEID_HEX, "@%s",
	    j->mt.fqdn);
	if (j->res.resp.status != 200) {
		r = mef_refused(&j->res, err);
		goto out;
	}
	r = M2M_IPC_ERR_MEF_PROTOCOL;
	if ((o = parse_body(j->res.resp.body, j->res.resp.body_len)) ==
	    NULL || !status_true(o) ||
	    (enrolee = body_str(o, "EnroleeID", MTD_ID_MAX)) == NULL ||
	    (keid = body_str(o, "KeId", sizeof(keidbuf) - 1)) == NULL ||
	    !timestamp_ok(life = body_str(o, "Lifetime", 15))) {
		snprintf(err->detail, sizeof(err->detail), "the MEF's "
		    "bootstrap answer lacks Status, EnroleeID, KeId or "
		    "Lifetime");
		goto out;
	}
	/* [profile] KeId compared case-insensitively */
	if (strcasecmp(keid, keidbuf) != 0) {
		snprintf(err->detail, sizeof(err->detail), "the MEF's KeId "
		    "is not the one this session exported: nothing stored");
		goto out;
	}
	/* Ke = EKM[16..47]; the only key bytes the daemon ever holds */
	r = (long)mtd_tok_import(d->tok, CK_M2M_ROLE_KE, keidbuf,
	    j->ekm + 16, 32, enrolee, life, &h);
	OPENSSL_cleanse(j->ekm, sizeof(j->ekm));
	if (r != CKR_OK)
		goto out;
	if ((r = mtd_add_str(reply, "keId", keidbuf)) != 0 ||
	    (r = mtd_add_str(reply, "enroleeId", enrolee)) != 0 ||
	    (r = mtd_add_str(reply, "lifetime", life)) != 0)
		goto out;
	if (json_object_object_get_ex(o, "Targets", &v) &&
	    json_object_is_type(v, json_type_array) &&
	    json_object_object_add(reply, "targets", json_object_get(v)) != 0) {
		r = M2M_IPC_ERR_NO_MEMORY;
		goto out;
	}
	if (json_object_object_get_ex(o, "E2E", &e2e) &&
	    json_object_is_type(e2e, json_type_object)) {
		struct json_object *x = json_object_new_object();
		const char *hs = body_str(e2e, "Hash", 16);
		const char *salt = body_str(e2e, "Salt", 128);

		if (x == NULL || json_object_object_add(reply, "e2e", x)) {
			json_object_put(x);
			r = M2M_IPC_ERR_NO_MEMORY;
			goto out;
		}
		if ((hs != NULL && (r = mtd_add_str(x, "hash",
		    strcmp(hs, "SHA-512") == 0 ? "sha512" : "sha256")) != 0) ||
		    (salt != NULL && (r = mtd_add_str(x, "salt", salt)) != 0))
			goto out;
	}
	r = 0;
 out:
	OPENSSL_cleanse(j->ekm, sizeof(j->ekm));
	json_object_put(o);
	return r;
}

/*
 * A pkcs11: URI for the object labelled label of the daemon's token, of
 * type ("private", "cert"), into out; every byte but [A-Za-z0-9-._~]
 * percent-encoded.  -1 when it does not fit.
 */
static int
label_uri(const char *token, const char *label, const char *type,
    char *out, size_t cap)
{
	const char *parts[2] = { token, label };
	size_t o, i, k;
	int n;

	if ((n = snprintf(out, cap, "pkcs11:token=")) < 0 ||
	    (size_t)n >= cap)
		return -1;
	o = (size_t)n;
	for (k = 0; k < 2; k++) {
		if (k == 1) {
			if (o + 8 >= cap)
				return -1;
			memcpy(out + o, ";object=", 8);
			o += 8;
		}
		for (i = 0; parts[k][i] != '\0'; i++) {
			unsigned char ch = (unsigned char)parts[k][i];

			if (o + 4 >= cap)
				return -1;
			if (isalnum(ch) || strchr("-._~", ch) != NULL)
				out[o++] = (char)ch;
			else
				o += (size_t)snprintf(out + o, 4, "%%%02X", ch);
		}
	}
	if ((n = snprintf(out + o, cap - o, ";type=%s", type)) < 0 ||
	    (size_t)n >= cap - o)
		return -1;
	return 0;
}

/*
 * The enrolee's certificate context ([enrolee] cert_key, cert, ca): its
 * key (and, by default, its certificate) in the token, the MEF verified
 * against [enrolee] ca and [mef] fqdn.  Made per Bootstrap, so that a
 * certificate imported since the start is used; the PIN is read again
 * and wiped.  0 or an M2M_IPC_ERR_* with err->detail.
 */
static long
cert_ctx(struct mtd *d, SSL_CTX **ret, struct mtd_err *err)
{
	struct m2m_tls_cert_opts o;
	char key[1024], cert[1024], pin[MTD_PIN_MAX + 1], why[200];
	size_t pin_len = 0;
	long r = M2M_IPC_ERR_NOT_CONFIGURED;
	int tr;

	if (strncmp(d->conf->cert_key, "pkcs11:", 7) == 0)
		snprintf(key, sizeof(key), "%s", d->conf->cert_key);
	else if (label_uri(d->conf->token_label, d->conf->cert_key,
	    "private", key, sizeof(key)) != 0)
		goto toolong;
	if (d->conf->cert != NULL)
		snprintf(cert, sizeof(cert), "%s", d->conf->cert);
	else if (strncmp(d->conf->cert_key, "pkcs11:", 7) == 0) {
		snprintf(err->detail, sizeof(err->detail), "[enrolee] "
		    "cert_key is a URI: [enrolee] cert must name the "
		    "certificate");
		goto out;
	} else if (label_uri(d->conf->token_label, d->conf->cert_key,
	    "cert", cert, sizeof(cert)) != 0)
		goto toolong;
	if (mtd_conf_read_pin(d->conf, pin, &pin_len, why,
	    sizeof(why)) != 0) {
		snprintf(err->detail, sizeof(err->detail), "%s", why);
		r = M2M_IPC_ERR_INTERNAL;
		goto out;
	}
	memset(&o, 0, sizeof(o));
	o.module = d->conf->module;
	o.key_uri = key;
	o.pin = pin;
	o.cert_file = cert;
	o.ca_file = d->conf->enrolee_ca;
	o.role = M2M_TLS_CLIENT;
	o.sni = d->conf->mef_fqdn;
	tr = m2m_tls_cert_ctx_new(&o, ret);
	OPENSSL_cleanse(pin, sizeof(pin));
	if (tr != 0) {
		snprintf(err->detail, sizeof(err->detail), "the certificate "
		    "TLS context: %s (the daemon's log says why)",
		    m2m_tls_strerror(tr));
		r = M2M_IPC_ERR_NOT_CONFIGURED;
		goto out;
	}
	r = 0;
	goto out;
 toolong:
	snprintf(err->detail, sizeof(err->detail), "[enrolee] cert_key: "
	    "the label is too long for a URI");
 out:
	OPENSSL_cleanse(pin, sizeof(pin));
	return r;
}

/*
 * Bootstrap: checks and the request here; the TLS exchange runs in the
 * server's worker thread (mtd_job_run), bootstrap_finish() after it.
 */
/* see methods_int.h */
long
mtd_h_bootstrap(struct mtd_call *c, struct json_object *params,
    struct json_object *reply, struct mtd_err *err)
{
	static const char *const allowed[] = { "targets", "framework", NULL };
	struct mtd *d = c->d;
	struct mtd_mef_target mt;
	struct json_object *body = NULL, *arr = NULL;
	const char *targets[MTD_TARGETS_MAX], *js, *fw = NULL;
	char ri[32], *req = NULL;
	size_t nt = 0, i, reqlen;
	SSL_CTX *ctx = NULL, *own = NULL;
	int cert = 0;
	long r;

	(void)reply;
	if ((r = mtd_p_only(params, allowed, err)) != 0 ||
	    (r = mtd_p_targets(params, targets, &nt, err)) != 0 ||
	    (r = mtd_p_str(params, "framework", 0, 16, &fw, err)) != 0)
		return r;
	if (fw != NULL && strcmp(fw, "certificate") == 0)
		cert = 1;
	else if (fw != NULL && strcmp(fw, "psk") != 0)
		BAD(err, "parameter framework: \"psk\" or \"certificate\"");
	if (cert) {
		if (d->conf->cert_key == NULL || d->conf->enrolee_ca == NULL ||
		    d->tok == NULL || mef_target(d, &mt) != 0) {
			snprintf(err->detail, sizeof(err->detail), "Bootstrap "
			    "with certificates needs [enrolee] cert_key, ca "
			    "and [mef] host, fqdn");
			return M2M_IPC_ERR_NOT_CONFIGURED;
		}
		mt.port = d->conf->mef_cert_port;
		if ((r = cert_ctx(d, &own, err)) != 0)
			return r;
		ctx = own;
	} else {
		if (d->conf->kpm_id == NULL || d->enrolee_ctx == NULL ||
		    mef_target(d, &mt) != 0) {
			snprintf(err->detail, sizeof(err->detail), "Bootstrap "
			    "needs [enrolee] kpm_id and [mef] host, fqdn");
			return M2M_IPC_ERR_NOT_CONFIGURED;
		}
		ctx = d->enrolee_ctx;
	}
	if ((body = json_object_new_object()) == NULL ||
	    (arr = json_object_new_array()) == NULL) {
		r = M2M_IPC_ERR_NO_MEMORY;
		goto out;
	}
	for (i = 0; i < nt; i++)
		if (json_object_array_add(arr,
		    json_object_new_string(targets[i])) != 0) {
			r = M2M_IPC_ERR_NO_MEMORY;
			goto out;
		}
	if (json_object_object_add(body, "Targets", arr) != 0) {
		r = M2M_IPC_ERR_NO_MEMORY;
		goto out;
	}
	arr = NULL;	/* transferred */
	js = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	request_id(ri);
	/* with certificates the MEF knows the enrolee by its certificate */
	if ((r = mtd_http_request("POST", "/bootstrap", d->conf->mef_fqdn,
	    cert ? NULL : d->conf->kpm_id, ri, js, strlen(js), &req,
	    &reqlen)) != 0) {
		r = r == -2 ? M2M_IPC_ERR_NO_MEMORY :
		    M2M_IPC_ERR_INVALID_PARAMETER;
		goto out;
	}
	r = job_for(c, ctx, &mt, req, reqlen, 1, bootstrap_finish, &c->job);
	req = NULL;	/* transferred */
	if (r == 0) {
		c->job->own_ctx = own;
		own = NULL;	/* held by the job */
	}
 out:
	SSL_CTX_free(own);
	free(req);
	json_object_put(arr);
	json_object_put(body);
	return r;
}

/* FetchCredentials, after the exchange: check, import, wipe. */
static long
fetch_finish(struct mtd_call *c, struct mtd_job *j,
    struct json_object *reply, struct mtd_err *err)
{
	struct mtd *d = c->d;
	struct json_object *o = NULL, *cv;
	const char *enrolee, *life, *cred;
	uint8_t value[64];
	CK_OBJECT_HANDLE h;
	size_t vlen = 0, clen;
	long r;

	if (j->res.resp.status != 200) {
		r = mef_refused(&j->res, err);
		goto out;
	}
	r = M2M_IPC_ERR_MEF_PROTOCOL;
	if ((o = parse_body(j->res.resp.body, j->res.resp.body_len)) ==
	    NULL || !status_true(o) ||
	    (enrolee = body_str(o, "EnroleeID", MTD_ID_MAX)) == NULL ||
	    !timestamp_ok(life = body_str(o, "Lifetime", 15)) ||
	    !json_object_object_get_ex(o, "Credential", &cv) ||
	    !json_object_is_type(cv, json_type_string)) {
		snprintf(err->detail, sizeof(err->detail), "the MEF's answer "
		    "lacks Status, Credential, EnroleeID or Lifetime");
		goto out;
	}
	cred = json_object_get_string(cv);
	clen = (size_t)json_object_get_string_len(cv);
	if (mtd_unb64(cred, clen, value, sizeof(value), &vlen) != 0 ||
	    vlen != 32) {
		snprintf(err->detail, sizeof(err->detail), "the MEF's "
		    "Credential is not base64 of 32 bytes");
		goto out;
	}
	r = (long)mtd_tok_import(d->tok, j->role, j->label, value, vlen,
	    enrolee, life, &h);
	OPENSSL_cleanse(value, sizeof(value));
	if (r != CKR_OK)
		goto out;
	if ((r = mtd_reply_key(d, h, reply)) != 0 ||
	    (r = mtd_add_str(reply, "source", "mef")) != 0)
		goto out;
	r = 0;
 out:
	OPENSSL_cleanse(value, sizeof(value));
	/* the base64 of the credential, inside json-c */
	m2m_json_put_wiped(o);
	return r;
}

/* see methods_int.h */
long
mtd_h_fetch(struct mtd_call *c, struct json_object *params,
    struct json_object *reply, struct mtd_err *err)
{
	static const char *const allowed[] = { "key", "suid", NULL };
	struct mtd *d = c->d;
	struct mtd_mef_target mt;
	const char *arg;
	char keid[MTD_ID_MAX + 1];
	char path[MTD_ID_MAX + 64], label[MTD_ID_MAX + 8], ri[32], *req = NULL;
	CK_OBJECT_HANDLE h;
	CK_ULONG role;
	size_t reqlen;
	long suid, r;
	int amb = 0;

	if ((r = mtd_p_only(params, allowed, err)) != 0 ||
	    (r = mtd_p_str(params, "key", 1, MTD_ID_MAX, &arg, err)) != 0 ||
	    (r = mtd_p_int(params, "suid", 0, 10, 99, -1, &suid, err)) != 0)
		return r;
	if (!mtd_keid_canon(arg, keid, sizeof(keid)))
		BAD(err, "parameter key: a KeId (32 hex digits @ the MEF's "
		    "FQDN)");
	if (d->conf->target_id == NULL || d->target_ctx == NULL ||
	    mef_target(d, &mt) != 0) {
		snprintf(err->detail, sizeof(err->detail), "FetchCredentials "
		    "needs [target] id and [mef] host, fqdn");
		return M2M_IPC_ERR_NOT_CONFIGURED;
	}
	role = suid < 0 ? CK_M2M_ROLE_KPSA : CK_M2M_ROLE_KUC;
	if (suid < 0) {
		snprintf(label, sizeof(label), "%s", keid);
		snprintf(path, sizeof(path), "/fetchCredentials/%s", keid);
	} else {
		/* suid is 10..99 (mtd_p_int): % 100 tells the compiler so */
		snprintf(label, sizeof(label), "%s/%02u", keid,
		    (unsigned int)(suid % 100));
		snprintf(path, sizeof(path), "/fetchCredentials/%s/%02u", keid,
		    (unsigned int)(suid % 100));
	}
	/* already here: no second fetch */
	if (mtd_tok_find(d->tok, label, role, NULL, &h, &amb) == CKR_OK) {
		if (amb)
			return M2M_IPC_ERR_AMBIGUOUS_KEY;
		if ((r = mtd_reply_key(d, h, reply)) != 0)
			return r;
		return mtd_add_str(reply, "source", "token");
	}
	request_id(ri);
	if ((r = mtd_http_request("GET", path, d->conf->mef_fqdn,
	    d->conf->target_id, ri, NULL, 0, &req, &reqlen)) != 0)
		return r == -2 ? M2M_IPC_ERR_NO_MEMORY :
		    M2M_IPC_ERR_INVALID_PARAMETER;
	if ((r = job_for(c, d->target_ctx, &mt, req, reqlen, 0, fetch_finish,
	    &c->job)) != 0)
		return r;
	snprintf(c->job->label, sizeof(c->job->label), "%s", label);
	c->job->role = role;
	return 0;
}
