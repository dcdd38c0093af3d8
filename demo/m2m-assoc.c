/*
 * m2m-assoc: the oneM2M secure association (TS-0003 8.2.2, provisioned
 * symmetric key, pre-shared key from a MEF), shown for real between a
 * device and a gateway whose keys stay in their tokens.
 *
 *   m2m-assoc device  --port P --sni NAME --identity KpsaId
 *                     --token LABEL --pin-file FILE [--e2e-salt HEX]
 *                     [--request TEXT]
 *   m2m-assoc gateway --port P --sni NAME --token LABEL --pin-file FILE
 *                     [--daemon SOCKET] [--mef-fqdn FQDN] [--count N]
 *                     [--e2e-salt HEX]
 *
 * The device opens TLS 1.2 PSK to 127.0.0.1:P with identity KpsaId (=
 * KeId) and the Kpsa of its token (libm2mtls client).  The gateway
 * (libm2mtls server) does not know that identity: its unknown-identity
 * hook asks its m2mtokend (--daemon; io.m2mtoken.FetchCredentials through
 * libm2mtoken-client)
 * to fetch the Kpsa from the MEF and import it into the gateway's token,
 * and the handshake completes with it.  Then one request and its response
 * cross the channel, each with an E2E MIC (assoc_msg.h) made with
 * Ke2e_msg_auth in the sender's token (C_Sign) and checked with the same
 * key, derived independently in the receiver's token (C_Verify): Kpsa ->
 * Ke2e_master (HMAC-SHA-256 with the enrolee's E2E salt, none by
 * default) -> T(1).  [profile] an auth key is an HMAC key of the master's
 * hash: this program does the SHA-256 variant only.
 *
 * Keys only through PKCS#11 (the module $M2MTOKEN_MODULE with its
 * $M2MTOKEN_CONF) and libm2mtls; no key byte is ever in this process.  The
 * PIN comes from a file readable by its owner only, never from argv.
 * One readable line per step on stdout; the exit status is 0 only when
 * every step succeeded.  A gateway prints "listening on 127.0.0.1:P" once
 * it accepts, serves --count connections (default 1) and exits.
 *
 * Over 900 lines on purpose: both ends share the token session, the frames
 * and the MIC helpers a split would export, and the channel reads in order.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <m2mtoken/pkcs11-m2m.h>
#include <m2mtoken/tls.h>

#include <m2mtoken/client.h>

#include "assoc_msg.h"

#define PIN_MAX		256
#define SALT_MAX	64
#define LABEL_MAX	300
#define IPC_TIMEOUT_MS	20000
#define IO_TIMEOUT_S	20
#define KEID_HEX	32
#define FQDN_MAX	253

static const char default_request[] =
	"{\"m2m:rqp\":{\"op\":2,\"to\":\"/gw-cse/sensor-1/temp/la\","
	"\"rqi\":\"assoc-1\"}}";

struct opts {
	int		gateway;
	int		port;
	const char	*sni;
	const char	*identity;
	const char	*token;
	const char	*pin_file;
	const char	*daemon;
	const char	*mef_fqdn;
	const char	*request;
	int		count;
	uint8_t		salt[SALT_MAX];
	size_t		salt_len;
	CK_MECHANISM_TYPE e2e_mech;
};

static const char *role_name = "assoc";
static CK_FUNCTION_LIST_PTR f;
static CK_SESSION_HANDLE sess = CK_INVALID_HANDLE;

static void
say(const char *fmt, ...)
{
	va_list ap;

	printf("%-7s ", role_name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: m2m-assoc device --port P --sni NAME --identity KpsaId\n"
	    "           --token LABEL --pin-file FILE [--e2e-salt HEX]\n"
	    "           [--request TEXT]\n"
	    "       m2m-assoc gateway --port P --sni NAME --token LABEL\n"
	    "           --pin-file FILE [--daemon SOCKET] [--mef-fqdn FQDN]\n"
	    "           [--count N] [--e2e-salt HEX]\n");
	exit(2);
}

/* A printable copy of s (at most n - 1 bytes) for a message line. */
static const char *
printable(const char *s, size_t len, char *buf, size_t n)
{
	size_t i;

	for (i = 0; i < len && i + 1 < n; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

static const char *
rv_name(CK_RV rv)
{
	static char buf[32];

	switch (rv) {
	case CKR_OK: return "CKR_OK";
	case CKR_KEY_HANDLE_INVALID: return "CKR_KEY_HANDLE_INVALID";
	case CKR_SIGNATURE_INVALID: return "CKR_SIGNATURE_INVALID";
	case CKR_SIGNATURE_LEN_RANGE: return "CKR_SIGNATURE_LEN_RANGE";
	case CKR_PIN_INCORRECT: return "CKR_PIN_INCORRECT";
	case CKR_PIN_LOCKED: return "CKR_PIN_LOCKED";
	case CKR_KEY_FUNCTION_NOT_PERMITTED:
		return "CKR_KEY_FUNCTION_NOT_PERMITTED";
	case CKR_USER_NOT_LOGGED_IN: return "CKR_USER_NOT_LOGGED_IN";
	case CKR_TOKEN_NOT_PRESENT: return "CKR_TOKEN_NOT_PRESENT";
	default:
		snprintf(buf, sizeof(buf), "CKR_0x%lx", (unsigned long)rv);
		return buf;
	}
}

static int
hex_decode(const char *hex, uint8_t *out, size_t max, size_t *ret_len)
{
	size_t n = strlen(hex), i;
	unsigned int v;

	if (n == 0 || n % 2 != 0 || n / 2 > max)
		return -1;
	for (i = 0; i < n; i++)
		if (strchr("0123456789abcdefABCDEF", hex[i]) == NULL)
			return -1;
	for (i = 0; i < n / 2; i++) {
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	*ret_len = n / 2;
	return 0;
}

/*
 * The PIN from path: a regular file of this user (or root) that no one
 * else may read or write; one final newline cut.  pin (PIN_MAX + 1 bytes)
 * is secret: the caller wipes it.  0 or -1 with a line saying why.
 */
static int
read_pin(const char *path, char *pin, size_t *ret_len)
{
	struct stat st;
	ssize_t n;
	int fd, r = -1;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		fprintf(stderr, "m2m-assoc: cannot open the PIN file %s: %s\n",
		    path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (st.st_mode & 077) != 0 ||
	    (st.st_uid != getuid() && st.st_uid != 0)) {
		fprintf(stderr, "m2m-assoc: the PIN file %s must be a regular "
		    "file of this user with no access for group or others "
		    "(chmod 600)\n", path);
		goto out;
	}
	if ((n = read(fd, pin, PIN_MAX + 1)) <= 0 || n > PIN_MAX) {
		fprintf(stderr, "m2m-assoc: the PIN file %s is empty or "
		    "longer than %d bytes\n", path, PIN_MAX);
		goto out;
	}
	if (pin[n - 1] == '\n')
		n--;
	if (n == 0) {
		fprintf(stderr, "m2m-assoc: the PIN file %s is empty\n", path);
		goto out;
	}
	pin[n] = '\0';
	*ret_len = (size_t)n;
	r = 0;
 out:
	close(fd);
	if (r != 0)
		OPENSSL_cleanse(pin, PIN_MAX + 1);
	return r;
}

/* Load the module, find the token labelled label, open an R/W session and
   log in with the PIN.  0 or -1 with a line saying why. */
static int
token_open(const char *label, const char *pin, size_t pin_len,
    CK_SLOT_ID *ret_slot)
{
	const char *path = getenv("M2MTOKEN_MODULE");
	CK_C_GetFunctionList gfl;
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64, i;
	CK_TOKEN_INFO ti;
	size_t ll = strlen(label);
	void *dl;
	CK_RV rv;

	if (path == NULL || *path == '\0') {
		fprintf(stderr, "m2m-assoc: set M2MTOKEN_MODULE to the path "
		    "of libm2mtoken.so\n");
		return -1;
	}
	if ((dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		fprintf(stderr, "m2m-assoc: cannot load %s: %s\n", path,
		    dlerror());
		return -1;
	}
	*(void **)&gfl = dlsym(dl, "C_GetFunctionList");
	if (gfl == NULL || gfl(&f) != CKR_OK ||
	    ((rv = f->C_Initialize(NULL)) != CKR_OK &&
	    rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
		fprintf(stderr, "m2m-assoc: %s cannot be initialised (is "
		    "M2MTOKEN_CONF set?)\n", path);
		return -1;
	}
	if (ll > 32 || f->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
		n = 0;
	for (i = 0; i < n; i++) {
		if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK ||
		    memcmp(ti.label, label, ll) != 0 ||
		    (ll < 32 && ti.label[ll] != ' '))
			continue;
		rv = f->C_OpenSession(slots[i], CKF_SERIAL_SESSION |
		    CKF_RW_SESSION, NULL, NULL, &sess);
		if (rv == CKR_OK) {
			rv = f->C_Login(sess, CKU_USER, (CK_UTF8CHAR_PTR)pin,
			    pin_len);
			if (rv == CKR_USER_ALREADY_LOGGED_IN)
				rv = CKR_OK;
		}
		if (rv != CKR_OK) {
			fprintf(stderr, "m2m-assoc: token '%s': login: %s\n",
			    label, rv_name(rv));
			return -1;
		}
		*ret_slot = slots[i];
		return 0;
	}
	fprintf(stderr, "m2m-assoc: no token labelled '%s'\n", label);
	return -1;
}

/* The secret key labelled label with role role: CKR_OK and *ret, or
   CKR_KEY_HANDLE_INVALID. */
static CK_RV
find_key(const char *label, CK_ULONG role, CK_OBJECT_HANDLE *ret)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (CK_VOID_PTR)label, strlen(label) },
		{ CKA_M2M_ROLE, &role, sizeof(role) },
	};
	CK_OBJECT_HANDLE h;
	CK_ULONG n = 0;
	CK_RV rv;

	if ((rv = f->C_FindObjectsInit(sess, t, 3)) != CKR_OK)
		return rv;
	rv = f->C_FindObjects(sess, &h, 1, &n);
	f->C_FindObjectsFinal(sess);
	if (rv != CKR_OK)
		return rv;
	if (n == 0)
		return CKR_KEY_HANDLE_INVALID;
	*ret = h;
	return CKR_OK;
}

/*
 * Ke2e_msg_auth of the Kpsa labelled kpsa_id, derived in the token (or
 * found there: a derivation already made returns the same object):
 * Ke2e_master = HMAC-Hash(salt, Kpsa), T(1).  Its label (E2EKeyId) into
 * e2e_id.
 */
static int
e2e_auth_key(const struct opts *o, const char *kpsa_id,
    CK_OBJECT_HANDLE *ret, char *e2e_id, size_t e2e_len)
{
	CK_MECHANISM mm = { o->e2e_mech, o->salt_len ? (CK_VOID_PTR)o->salt :
	    NULL, o->salt_len };
	CK_BYTE one = 1;
	CK_MECHANISM me = { CKM_M2M_E2E_EXPAND, &one, 1 };
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE t[] = { { CKA_TOKEN, &yes, sizeof(yes) } };
	CK_ATTRIBUTE la = { CKA_LABEL, e2e_id, e2e_len - 1 };
	CK_OBJECT_HANDLE kpsa, master, auth;
	CK_RV rv;

	if ((rv = find_key(kpsa_id, CK_M2M_ROLE_KPSA, &kpsa)) != CKR_OK) {
		say("no Kpsa '%s' in the token: %s", kpsa_id, rv_name(rv));
		return -1;
	}
	if ((rv = f->C_DeriveKey(sess, &mm, kpsa, t, 1, &master)) !=
	    CKR_OK ||
	    (rv = f->C_DeriveKey(sess, &me, master, t, 1, &auth)) != CKR_OK) {
		say("E2E key derivation from Kpsa failed: %s", rv_name(rv));
		return -1;
	}
	if (f->C_GetAttributeValue(sess, auth, &la, 1) != CKR_OK ||
	    la.ulValueLen >= e2e_len)
		snprintf(e2e_id, e2e_len, "?");
	else
		e2e_id[la.ulValueLen] = '\0';
	*ret = auth;
	return 0;
}

/* MIC of kind over payload (and req_mic) with key, in the token. */
static CK_RV
mic_make(CK_OBJECT_HANDLE key, int kind, const uint8_t *payload,
    size_t plen, const uint8_t *req_mic, uint8_t mic[ASSOC_MIC_LEN])
{
	static uint8_t in[ASSOC_MIC_INPUT_MAX];
	CK_MECHANISM m = { CKM_SHA256_HMAC, NULL, 0 };
	CK_ULONG ml = ASSOC_MIC_LEN;
	long n;
	CK_RV rv;

	if ((n = assoc_mic_input(kind, payload, plen, req_mic, in)) < 0)
		return CKR_ARGUMENTS_BAD;
	if ((rv = f->C_SignInit(sess, &m, key)) != CKR_OK)
		return rv;
	rv = f->C_Sign(sess, in, (CK_ULONG)n, mic, &ml);
	if (rv == CKR_OK && ml != ASSOC_MIC_LEN)
		rv = CKR_GENERAL_ERROR;
	return rv;
}

static CK_RV
mic_check(CK_OBJECT_HANDLE key, int kind, const uint8_t *payload,
    size_t plen, const uint8_t *req_mic, const uint8_t *mic)
{
	static uint8_t in[ASSOC_MIC_INPUT_MAX];
	CK_MECHANISM m = { CKM_SHA256_HMAC, NULL, 0 };
	long n;
	CK_RV rv;

	if ((n = assoc_mic_input(kind, payload, plen, req_mic, in)) < 0)
		return CKR_ARGUMENTS_BAD;
	if ((rv = f->C_VerifyInit(sess, &m, key)) != CKR_OK)
		return rv;
	return f->C_Verify(sess, in, (CK_ULONG)n, (CK_BYTE_PTR)mic,
	    ASSOC_MIC_LEN);
}

static int
ssl_write_all(SSL *ssl, const uint8_t *p, size_t n)
{
	size_t done = 0;
	int w;

	while (done < n) {
		if ((w = SSL_write(ssl, p + done, (int)(n - done))) <= 0)
			return -1;
		done += (size_t)w;
	}
	return 0;
}

static int
ssl_read_exact(SSL *ssl, uint8_t *p, size_t n)
{
	size_t done = 0;
	int r;

	while (done < n) {
		if ((r = SSL_read(ssl, p + done, (int)(n - done))) <= 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

/* Send one frame: header, payload, MIC. */
static int
frame_send(SSL *ssl, int kind, const uint8_t *payload, size_t plen,
    const uint8_t mic[ASSOC_MIC_LEN])
{
	uint8_t hdr[ASSOC_HDR_LEN];

	if (assoc_frame_header(kind, plen, hdr) != 0 ||
	    ssl_write_all(ssl, hdr, sizeof(hdr)) != 0 ||
	    ssl_write_all(ssl, payload, plen) != 0 ||
	    ssl_write_all(ssl, mic, ASSOC_MIC_LEN) != 0)
		return -1;
	return 0;
}

/* Receive one frame of kind into buf (ASSOC_FRAME_MAX bytes). */
static int
frame_recv(SSL *ssl, int kind, uint8_t *buf, struct assoc_frame *fr)
{
	long total;

	if (ssl_read_exact(ssl, buf, ASSOC_HDR_LEN) != 0) {
		say("the peer closed the channel before a frame");
		return -1;
	}
	if ((total = assoc_frame_len(buf, ASSOC_HDR_LEN, kind)) < 0) {
		say("malformed frame header (%ld)", total);
		return -1;
	}
	if (ssl_read_exact(ssl, buf + ASSOC_HDR_LEN,
	    (size_t)total - ASSOC_HDR_LEN) != 0) {
		say("the peer closed the channel inside a frame");
		return -1;
	}
	return assoc_frame_parse(buf, (size_t)total, kind, fr) == 0 ? 0 : -1;
}

static void
hexstr(const uint8_t *p, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* ---- the gateway's hook: FetchCredentials through its m2mtokend ---- */

/*
 * Whether id is a KeId as the MEF makes them: 32 lower-case hex digits "@"
 * a lower-case FQDN (fqdn if set).  The same KeId in another case is not
 * an identity any device has (the PSK identity is compared exactly), and
 * asking for it would only make the daemon fetch once more (found in
 * review).
 */
static int
keid_shaped(const char *id, size_t len, const char *fqdn)
{
	size_t i, fl;

	if (len < KEID_HEX + 2 || len > KEID_HEX + 1 + FQDN_MAX ||
	    id[KEID_HEX] != '@')
		return 0;
	for (i = 0; i < KEID_HEX; i++)
		if (strchr("0123456789abcdef", id[i]) == NULL ||
		    id[i] == '\0')
			return 0;
	for (i = KEID_HEX + 1; i < len; i++)
		if (strchr("abcdefghijklmnopqrstuvwxyz0123456789.-",
		    id[i]) == NULL ||
		    id[i] == '\0')
			return 0;
	fl = len - KEID_HEX - 1;
	if (fqdn != NULL && (strlen(fqdn) != fl ||
	    strncasecmp(id + KEID_HEX + 1, fqdn, fl) != 0))
		return 0;
	return 1;
}

/*
 * Identities the daemon could not fetch lately: asked again only after
 * REFUSED_HOLD seconds, so that a client repeating a handshake with an
 * identity the MEF does not know costs the MEF one request, not one per
 * attempt (the identity is unauthenticated at that point).
 */
#define REFUSED_MAX	32
#define REFUSED_HOLD	10

static struct {
	char	id[KEID_HEX + 2 + FQDN_MAX];
	time_t	when;
} refused[REFUSED_MAX];
static unsigned int refused_next;

static int
refused_lately(const char *identity, size_t len)
{
	time_t now = time(NULL);
	size_t i;

	for (i = 0; i < REFUSED_MAX; i++)
		if (refused[i].id[0] != '\0' &&
		    strlen(refused[i].id) == len &&
		    memcmp(refused[i].id, identity, len) == 0 &&
		    now - refused[i].when < REFUSED_HOLD)
			return 1;
	return 0;
}

static void
refused_note(const char *identity, size_t len)
{
	if (len >= sizeof(refused[0].id))
		return;
	memcpy(refused[refused_next].id, identity, len);
	refused[refused_next].id[len] = '\0';
	refused[refused_next].when = time(NULL);
	refused_next = (refused_next + 1) % REFUSED_MAX;
}

static int
unknown_psk(void *arg, SSL *ssl, const char *identity, size_t len)
{
	const struct opts *o = arg;
	struct m2m_client *c = NULL;
	struct m2m_client_error err;
	char id[LABEL_MAX], *label = NULL;
	int r = -1, e;

	(void)ssl;
	memset(&err, 0, sizeof(err));
	printable(identity, len, id, sizeof(id));
	if (o->daemon == NULL) {
		say("unknown PSK identity '%s'; no m2mtokend to ask "
		    "(--daemon): refused", id);
		return -1;
	}
	if (!keid_shaped(identity, len, o->mef_fqdn)) {
		say("unknown PSK identity '%s' is not a KeId%s%s: refused, "
		    "not asked at the MEF", id, o->mef_fqdn ? " of " : "",
		    o->mef_fqdn ? o->mef_fqdn : "");
		return -1;
	}
	if (refused_lately(identity, len)) {
		say("unknown PSK identity '%s': its fetch failed less than "
		    "%d s ago; refused without asking again", id,
		    REFUSED_HOLD);
		return -1;
	}
	say("PSK identity '%s' is not in the token: asking m2mtokend "
	    "(%s) for io.m2mtoken.FetchCredentials", id, o->daemon);
	if ((e = m2m_client_connect(o->daemon, IPC_TIMEOUT_MS, &c)) != 0) {
		say("cannot reach m2mtokend at %s: %s", o->daemon,
		    m2m_client_strerror(e));
		goto out;
	}
	if ((e = m2m_client_fetch_credentials(c, identity, -1, &label,
	    &err)) != 0) {
		if (e == M2M_CLIENT_ERR_REMOTE)
			say("io.m2mtoken.FetchCredentials refused: %s (%s%s%s)",
			    err.name, err.reason, err.detail[0] ? "; " : "",
			    err.detail);
		else
			say("io.m2mtoken.FetchCredentials failed: %s",
			    m2m_client_strerror(e));
		goto out;
	}
	say("m2mtokend fetched Kpsa '%s' from the MEF and imported it into "
	    "its token", id);
	r = 0;
 out:
	if (r != 0)
		refused_note(identity, len);
	free(label);
	m2m_client_close(c);
	return r;
}

/* ---- the two ends ---- */

static SSL_CTX *
tls_ctx(const struct opts *o, const char *pin, size_t pin_len)
{
	struct m2m_tls_opts to;
	SSL_CTX *ctx = NULL;
	int r;

	memset(&to, 0, sizeof(to));
	to.module = getenv("M2MTOKEN_MODULE");
	to.token_label = o->token;
	to.pin = pin;
	to.pin_len = pin_len;
	to.role = o->gateway ? M2M_TLS_SERVER : M2M_TLS_CLIENT;
	to.sni = o->sni;
	to.identity = o->gateway ? NULL : o->identity;
	if (o->gateway) {
		to.unknown_psk = unknown_psk;
		to.unknown_psk_arg = (void *)o;
	}
	if ((r = m2m_tls_ctx_new(&to, &ctx)) != 0) {
		fprintf(stderr, "m2m-assoc: TLS context: %s\n",
		    m2m_tls_strerror(r));
		return NULL;
	}
	return ctx;
}

static void
set_timeouts(int fd)
{
	struct timeval tv = { IO_TIMEOUT_S, 0 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static void
handshake_failed(SSL *ssl, int r)
{
	unsigned long e;
	char buf[256];

	say("TLS-PSK handshake failed (%s)", SSL_get_error(ssl, r) ==
	    SSL_ERROR_SSL ? "TLS error" : "connection closed or I/O error");
	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		fprintf(stderr, "m2m-assoc: %s\n", buf);
	}
}

static int
serve_one(const struct opts *o, SSL_CTX *ctx, int lfd)
{
	static uint8_t buf[ASSOC_FRAME_MAX];
	uint8_t mic[ASSOC_MIC_LEN];
	char payload[ASSOC_PAYLOAD_MAX + 1], e2e_id[LABEL_MAX], hex[65];
	char id[LABEL_MAX];
	struct assoc_frame req;
	CK_OBJECT_HANDLE key;
	const char *identity;
	SSL *ssl = NULL;
	int fd, r, rc = -1, n;
	CK_RV rv;

	if ((fd = accept(lfd, NULL, NULL)) < 0)
		return -1;
	set_timeouts(fd);
	if ((ssl = SSL_new(ctx)) == NULL || !SSL_set_fd(ssl, fd))
		goto out;
	if ((r = SSL_accept(ssl)) != 1) {
		handshake_failed(ssl, r);
		goto out;
	}
	if ((identity = SSL_get_psk_identity(ssl)) == NULL)
		goto out;
	printable(identity, strlen(identity), id, sizeof(id));
	say("TLS 1.2 PSK handshake complete (%s), identity (KpsaId) '%s', "
	    "Kpsa from the gateway's token", SSL_get_cipher_name(ssl), id);
	if (e2e_auth_key(o, identity, &key, e2e_id, sizeof(e2e_id)) != 0)
		goto out;
	say("Ke2e_msg_auth derived from that Kpsa in the token "
	    "(E2EKeyId %s)", e2e_id);
	if (frame_recv(ssl, ASSOC_KIND_REQUEST, buf, &req) != 0)
		goto out;
	printable((const char *)req.payload, req.payload_len, payload,
	    sizeof(payload));
	say("request  <- %s", payload);
	hexstr(req.mic, 8, hex);
	if ((rv = mic_check(key, ASSOC_KIND_REQUEST, req.payload,
	    req.payload_len, NULL, req.mic)) != CKR_OK) {
		say("request MIC %s... does NOT verify (%s): refused", hex,
		    rv_name(rv));
		goto out;
	}
	say("request  MIC %s... verified with Ke2e_msg_auth (C_Verify)",
	    hex);
	n = snprintf(payload, sizeof(payload), "{\"m2m:rsp\":{\"rsc\":2000,"
	    "\"rqi\":\"assoc-1\",\"pc\":{\"m2m:cin\":{\"con\":\"21.5\"}},"
	    "\"to\":\"%s\"}}", o->sni);
	if (n <= 0 || (size_t)n >= sizeof(payload))
		goto out;
	if ((rv = mic_make(key, ASSOC_KIND_RESPONSE, (uint8_t *)payload,
	    (size_t)n, req.mic, mic)) != CKR_OK) {
		say("response MIC failed: %s", rv_name(rv));
		goto out;
	}
	if (frame_send(ssl, ASSOC_KIND_RESPONSE, (uint8_t *)payload,
	    (size_t)n, mic) != 0)
		goto out;
	hexstr(mic, 8, hex);
	say("response -> %s", payload);
	say("response MIC %s... made with Ke2e_msg_auth (C_Sign)", hex);
	SSL_shutdown(ssl);
	rc = 0;
 out:
	SSL_free(ssl);
	close(fd);
	ERR_clear_error();
	return rc;
}

static int
run_gateway(const struct opts *o, SSL_CTX *ctx)
{
	struct sockaddr_in a;
	int lfd, one = 1, i, bad = 0;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)o->port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(lfd, 8) != 0) {
		fprintf(stderr, "m2m-assoc: cannot listen on 127.0.0.1:%d: "
		    "%s\n", o->port, strerror(errno));
		close(lfd);
		return -1;
	}
	say("listening on 127.0.0.1:%d (TLS 1.2 PSK, server name %s)",
	    o->port, o->sni);
	for (i = 0; i < o->count; i++)
		if (serve_one(o, ctx, lfd) != 0)
			bad++;
	close(lfd);
	return bad ? -1 : 0;
}

static int
run_device(const struct opts *o, SSL_CTX *ctx)
{
	static uint8_t buf[ASSOC_FRAME_MAX];
	uint8_t mic[ASSOC_MIC_LEN];
	char payload[ASSOC_PAYLOAD_MAX + 1], e2e_id[LABEL_MAX], hex[65];
	const char *req = o->request ? o->request : default_request;
	size_t rl = strlen(req);
	struct assoc_frame rsp;
	struct sockaddr_in a;
	CK_OBJECT_HANDLE key;
	SSL *ssl = NULL;
	int fd = -1, r, rc = -1, i;
	CK_RV rv;

	if (rl == 0 || rl > ASSOC_PAYLOAD_MAX) {
		fprintf(stderr, "m2m-assoc: the request must be 1 to %d "
		    "bytes\n", ASSOC_PAYLOAD_MAX);
		return -1;
	}
	if (e2e_auth_key(o, o->identity, &key, e2e_id, sizeof(e2e_id)) != 0)
		return -1;
	say("Ke2e_msg_auth derived from Kpsa '%s' in the token "
	    "(E2EKeyId %s)", o->identity, e2e_id);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)o->port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (i = 0; i < 50; i++) {
		if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			break;
		close(fd);
		fd = -1;
		usleep(100000);
	}
	if (fd < 0) {
		say("cannot connect to the gateway at 127.0.0.1:%d", o->port);
		return -1;
	}
	set_timeouts(fd);
	if ((ssl = SSL_new(ctx)) == NULL || !SSL_set_fd(ssl, fd))
		goto out;
	say("TLS 1.2 PSK to the gateway %s, identity (KpsaId) '%s', Kpsa "
	    "from the device's token", o->sni, o->identity);
	if ((r = SSL_connect(ssl)) != 1) {
		handshake_failed(ssl, r);
		goto out;
	}
	say("handshake complete (%s)", SSL_get_cipher_name(ssl));
	if ((rv = mic_make(key, ASSOC_KIND_REQUEST, (const uint8_t *)req, rl,
	    NULL, mic)) != CKR_OK) {
		say("request MIC failed: %s", rv_name(rv));
		goto out;
	}
	if (frame_send(ssl, ASSOC_KIND_REQUEST, (const uint8_t *)req, rl,
	    mic) != 0)
		goto out;
	hexstr(mic, 8, hex);
	say("request  -> %s", req);
	say("request  MIC %s... made with Ke2e_msg_auth (C_Sign)", hex);
	if (frame_recv(ssl, ASSOC_KIND_RESPONSE, buf, &rsp) != 0)
		goto out;
	printable((const char *)rsp.payload, rsp.payload_len, payload,
	    sizeof(payload));
	say("response <- %s", payload);
	hexstr(rsp.mic, 8, hex);
	if ((rv = mic_check(key, ASSOC_KIND_RESPONSE, rsp.payload,
	    rsp.payload_len, mic, rsp.mic)) != CKR_OK) {
		say("response MIC %s... does NOT verify (%s)", hex,
		    rv_name(rv));
		goto out;
	}
	say("response MIC %s... verified with Ke2e_msg_auth (C_Verify)",
	    hex);
	SSL_shutdown(ssl);
	rc = 0;
 out:
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* v as a decimal number 1..max, or 0 when it is not one. */
static int
number(const char *v, long max)
{
	char *end = NULL;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < 1 || n > max)
		return 0;
	return (int)n;
}

int
main(int argc, char **argv)
{
	struct opts o;
	char pin[PIN_MAX + 1];
	size_t pin_len = 0;
	CK_SLOT_ID slot;
	SSL_CTX *ctx = NULL;
	int i, rc = 1;

	memset(&o, 0, sizeof(o));
	o.count = 1;
	o.e2e_mech = CKM_M2M_E2E_MASTER_SHA256;
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "gateway") == 0)
		o.gateway = 1;
	else if (strcmp(argv[1], "device") != 0)
		usage();
	role_name = argv[1];
	for (i = 2; i + 1 < argc; i += 2) {
		const char *a = argv[i], *v = argv[i + 1];

		if (strcmp(a, "--port") == 0)
			o.port = number(v, 65535);
		else if (strcmp(a, "--sni") == 0)
			o.sni = v;
		else if (strcmp(a, "--identity") == 0)
			o.identity = v;
		else if (strcmp(a, "--token") == 0)
			o.token = v;
		else if (strcmp(a, "--pin-file") == 0)
			o.pin_file = v;
		else if (strcmp(a, "--daemon") == 0)
			o.daemon = v;
		else if (strcmp(a, "--mef-fqdn") == 0)
			o.mef_fqdn = v;
		else if (strcmp(a, "--request") == 0)
			o.request = v;
		else if (strcmp(a, "--count") == 0)
			o.count = number(v, 1000);
		else if (strcmp(a, "--e2e-salt") == 0) {
			if (hex_decode(v, o.salt, sizeof(o.salt),
			    &o.salt_len) != 0) {
				fprintf(stderr, "m2m-assoc: --e2e-salt: 1 to "
				    "%d bytes in hex\n", SALT_MAX);
				return 2;
			}
		} else
			usage();
	}
	if (i != argc || o.port <= 0 || o.port > 65535 || o.sni == NULL ||
	    o.token == NULL || o.pin_file == NULL || o.count < 1 ||
	    o.count > 1000 || (!o.gateway && o.identity == NULL))
		usage();
	signal(SIGPIPE, SIG_IGN);
	if (read_pin(o.pin_file, pin, &pin_len) != 0)
		return 1;
	if (token_open(o.token, pin, pin_len, &slot) != 0 ||
	    (ctx = tls_ctx(&o, pin, pin_len)) == NULL)
		goto out;
	OPENSSL_cleanse(pin, sizeof(pin));
	rc = (o.gateway ? run_gateway(&o, ctx) : run_device(&o, ctx)) == 0 ?
	    0 : 1;
 out:
	OPENSSL_cleanse(pin, sizeof(pin));
	m2m_tls_ctx_free(ctx);
	if (f != NULL) {
		if (sess != CK_INVALID_HANDLE)
			f->C_CloseSession(sess);
		f->C_Finalize(NULL);
	}
	return rc;
}
