/*
 * m2mtoken: the command line of m2mtokend, over libm2mtoken-client.
 *
 *   m2mtoken [-s SOCKET] [--json] [--timeout S] COMMAND [OPTIONS]
 *
 * Exit codes (docs/operations.md, "The m2mtoken command"): 0 done,
 * 1 refused (another error), 2 usage, 3 daemon unreachable, 4 permission
 * denied, 5 verification failed, 6 no such key, 7 MEF error, 8 token
 * error, 9 daemon not configured for it.
 */
#include <sys/resource.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <m2mtoken/client.h>

#include "ipc.h"
#include "opts.h"
#include "text.h"

static const char *opt_socket;
static int opt_json;
static int opt_timeout_ms;

/*
 * The base64 string member k of o, decoded: 0 and *ret (malloc'd, n + 1
 * bytes, n in *ret_len), -1 if absent, not a string or not base64.
 */
static int
b64_member(struct json_object *o, const char *k, uint8_t **ret,
    size_t *ret_len)
{
	struct json_object *v;
	const char *s;
	uint8_t *b;
	size_t n, pad = 0;

	if (!json_object_object_get_ex(o, k, &v) ||
	    !json_object_is_type(v, json_type_string))
		return -1;
	s = json_object_get_string(v);
	n = strlen(s);
	if (n % 4 != 0 || (b = malloc(n / 4 * 3 + 1)) == NULL)
		return -1;
	if (n > 0 && s[n - 1] == '=')
		pad++;
	if (n > 1 && s[n - 2] == '=')
		pad++;
	if (EVP_DecodeBlock(b, (const unsigned char *)s, (int)n) < 0) {
		free(b);
		return -1;
	}
	*ret = b;
	*ret_len = n / 4 * 3 - pad;
	return 0;
}

/* The base64 member k of o in hex after label; -1 if it is not there. */
static int
show_hex(const char *label, struct json_object *o, const char *k)
{
	uint8_t *b;
	size_t n, i;

	if (b64_member(o, k, &b, &n) != 0)
		return -1;
	printf("%s", label);
	for (i = 0; i < n; i++)
		printf("%02x", b[i]);
	printf("\n");
	free(b);
	return 0;
}

/*
 * s as it is, but control characters as '?': C0 (but '\n' if lines), DEL
 * and C1 (U+0080..U+009F: UTF-8 "c2 9b" is CSI, obeyed as ESC [).  The
 * daemon's strings (labels, peers) go to a terminal, and the socket may
 * not be the daemon's.  Other UTF-8 is kept as it is: a label in another
 * script stays readable.
 */
static void
put_safe(const char *s, int lines)
{
	size_t n;

	for (; *s != '\0'; s += n)
		if (m2m_text_char(s, lines, &n, NULL))
			fwrite(s, 1, n, stdout);
		else
			putchar('?');
}

/*
 * The JSON text of a reply (json-c's: C0 controls are \u escapes there
 * already) with DEL and C1 as \u escapes too, and a byte that starts no
 * UTF-8 character (the IPC lets none through) as its \u00XX: the same
 * JSON for a program, no control character for a terminal.
 */
static void
put_json(const char *s)
{
	unsigned long cp;
	size_t n;

	for (; *s != '\0'; s += n)
		if (m2m_text_char(s, 1, &n, &cp))
			fwrite(s, 1, n, stdout);
		else
			printf("\\u%04lx", cp);
}

static void
show_member(const char *label, struct json_object *o, const char *k)
{
	struct json_object *v;

	if (json_object_object_get_ex(o, k, &v) && v != NULL) {
		printf("%s", label);
		put_safe(json_object_get_string(v), 0);
		printf("\n");
	}
}

/* ---- commands -------------------------------------------------------- */

#define NOPTS(t)	(sizeof(t) / sizeof((t)[0]))

static const struct cmd *cur;

static void
need(struct json_object *p, const char *k, const char *opt)
{
	char msg[80];

	if (!json_object_object_get_ex(p, k, NULL)) {
		snprintf(msg, sizeof(msg), "%s is required", opt);
		die_usage(cur->name, msg);
	}
}

/* --attribute: the key for attribute MICs and sealing. */
static void
o_attribute(const char *cmd, const char *arg, struct json_object *p)
{
	(void)cmd;
	(void)arg;
	json_object_object_add(p, "use", json_object_new_string("attribute"));
}

/* --target ID of bootstrap: one more target each time. */
static void
o_target(const char *cmd, const char *arg, struct json_object *p)
{
	struct json_object *a;

	(void)cmd;
	if (json_object_object_get_ex(p, "targets", &a))
		json_object_array_add(a, json_object_new_string(arg));
}

/* --suid N: 10 to 99 (two digits, as the module takes). */
static void
o_suid(const char *cmd, const char *arg, struct json_object *p)
{
	char *end;
	long v;

	v = strtol(arg, &end, 10);
	if (*arg == '\0' || *end != '\0' || v < 10 || v > 99)
		die_usage(cmd, "--suid: 10..99");
	json_object_object_add(p, "suid", json_object_new_int((int)v));
}

/* --salt-hex HEX: at most 64 bytes, sent in base64. */
static void
o_salt_hex(const char *cmd, const char *arg, struct json_object *p)
{
	uint8_t salt[64];
	size_t n;

	if (unhex(arg, salt, sizeof(salt), &n) != 0)
		die_usage(cmd, "--salt-hex: hex of at most 64 bytes");
	put_b64(p, "salt", salt, n);
}

/* --id HEX: 1 to 64 bytes, sent in base64. */
static void
o_id(const char *cmd, const char *arg, struct json_object *p)
{
	uint8_t id[64];
	size_t n;

	if (unhex(arg, id, sizeof(id), &n) != 0 || n == 0)
		die_usage(cmd, "--id: hex of 1 to 64 bytes");
	put_b64(p, "id", id, n);
}

/* status, list-keys */
static int
b_none(int argc, char **argv, struct json_object *p)
{
	static const struct cli_opt o[] = {
		{ "role", required_argument, "list-keys", "role", NULL },
	};

	return cli_getopts(cur, argc, argv, o, NOPTS(o), p, NULL);
}

static int
b_bootstrap(int argc, char **argv, struct json_object *p)
{
	static const struct cli_opt o[] = {
		{ "target", required_argument, NULL, NULL, o_target },
		{ "framework", required_argument, NULL, "framework", NULL },
	};
	struct json_object *a = json_object_new_array();
	int r;

	json_object_object_add(p, "targets", a);
	r = cli_getopts(cur, argc, argv, o, NOPTS(o), p, NULL);
	if (json_object_array_length(a) == 0)
		die_usage(cur->name, "give at least one --target");
	return r;
}

/* derive-kpsa, derive-km, derive-kuc, fetch-credentials */
static int
b_derive(int argc, char **argv, struct json_object *p)
{
	static const struct cli_opt o[] = {
		{ "key", required_argument, NULL, "key", NULL },
		{ "target", required_argument, "derive-kpsa derive-kuc "
		    "fetch-credentials", "target", NULL },
		{ "maf", required_argument, "derive-km", "maf", NULL },
		{ "suid", required_argument, "derive-kuc fetch-credentials",
		    NULL, o_suid },
	};
	int r;

	r = cli_getopts(cur, argc, argv, o, NOPTS(o), p, NULL);
	need(p, "key", "--key");
	if (strcmp(cur->name, "derive-km") == 0)
		need(p, "maf", "--maf");
	else if (strcmp(cur->name, "fetch-credentials") != 0)
		need(p, "target", "--target");
	if (strcmp(cur->name, "derive-kuc") == 0)
		need(p, "suid", "--suid");
	return r;
}

static int
b_e2e(int argc, char **argv, struct json_object *p)
{
	static const struct cli_opt o[] = {
		{ "key", required_argument, NULL, "key", NULL },
		{ "role", required_argument, NULL, "role", NULL },
		{ "peer", required_argument, NULL, "peer", NULL },
		{ "salt-hex", required_argument, NULL, NULL, o_salt_hex },
		/* base64, as Bootstrap's reply gives it */
		{ "salt", required_argument, NULL, "salt", NULL },
		{ "hash", required_argument, NULL, "hash", NULL },
	};
	int r;

	r = cli_getopts(cur, argc, argv, o, NOPTS(o), p, NULL);
	need(p, "key", "--key");
	return r;
}

/* mic, verify-mic, seal, open */
static int
b_use(int argc, char **argv, struct json_object *p)
{
	enum { U_KEY, U_PEER, U_ATTR, U_DATA, U_HEX, U_FILE, U_MIC, U_AAD,
	    U_IV, U_CT, U_COUNT };
	static const struct cli_opt o[U_COUNT] = {
		[U_KEY] = { "key", required_argument, NULL, "key", NULL },
		[U_PEER] = { "peer", required_argument, NULL, "peer", NULL },
		[U_ATTR] = { "attribute", no_argument, NULL, NULL,
		    o_attribute },
		[U_DATA] = { "data", required_argument, NULL, NULL, NULL },
		[U_HEX] = { "data-hex", required_argument, NULL, NULL, NULL },
		[U_FILE] = { "data-file", required_argument, NULL, NULL,
		    NULL },
		[U_MIC] = { "mic", required_argument, NULL, NULL, NULL },
		[U_AAD] = { "aad", required_argument, NULL, NULL, NULL },
		[U_IV] = { "iv", required_argument, NULL, NULL, NULL },
		[U_CT] = { "ciphertext", required_argument, NULL, NULL, NULL },
	};
	static uint8_t buf[DATA_MAX + 16];
	const char *v[U_COUNT] = { NULL }, *name = cur->name;
	size_t n;
	int r;

	r = cli_getopts(cur, argc, argv, o, U_COUNT, p, v);
	need(p, "key", "--key");
	if (v[U_AAD] != NULL)
		put_b64(p, "aad", (const uint8_t *)v[U_AAD],
		    strlen(v[U_AAD]));
	if (strcmp(name, "open") == 0) {
		if (v[U_IV] == NULL || v[U_CT] == NULL)
			die_usage(name, "--iv and --ciphertext are required");
		if (unhex(v[U_IV], buf, 12, &n) != 0 || n != 12)
			die_usage(name, "--iv: 24 hex digits");
		put_b64(p, "iv", buf, n);
		if (unhex(v[U_CT], buf, sizeof(buf), &n) != 0)
			die_usage(name, "--ciphertext: hex");
		put_b64(p, "ciphertext", buf, n);
		return r;
	}
	read_data(name, v[U_DATA], v[U_HEX], v[U_FILE], buf, &n);
	put_b64(p, strcmp(name, "seal") == 0 ? "plaintext" : "data", buf, n);
	OPENSSL_cleanse(buf, sizeof(buf));
	if (strcmp(name, "verify-mic") == 0) {
		if (v[U_MIC] == NULL || unhex(v[U_MIC], buf, 64, &n) != 0)
			die_usage(name, "--mic: hex of the MIC is required");
		put_b64(p, "mic", buf, n);
	}
	return r;
}

/* keygen, csr */
static int
b_keycert(int argc, char **argv, struct json_object *p)
{
	static const struct cli_opt o[] = {
		{ "key", required_argument, NULL, "key", NULL },
		{ "curve", required_argument, "keygen", "curve", NULL },
		{ "id", required_argument, "keygen", NULL, o_id },
		{ "subject", required_argument, "csr", "subject", NULL },
		{ "san-uri", required_argument, "csr", "sanUri", NULL },
		{ "san-dns", required_argument, "csr", "sanDns", NULL },
	};
	int r;

	r = cli_getopts(cur, argc, argv, o, NOPTS(o), p, NULL);
	need(p, "key", "--key");
	if (strcmp(cur->name, "csr") == 0)
		need(p, "subject", "--subject");
	return r;
}

/* cert import FILE --key LABEL */
static int
b_cert(int argc, char **argv, struct json_object *p)
{
	static const struct cli_opt o[] = {
		{ "key", required_argument, NULL, "key", NULL },
	};
	static uint8_t buf[DATA_MAX + 16];
	const char *file;
	size_t n;

	if (argc >= 2 && strcmp(argv[1], "--help") == 0)
		cmd_help(cur);
	if (argc < 2 || strcmp(argv[1], "import") != 0)
		die_usage(cur->name, "give import FILE --key LABEL");
	argc--;
	argv++;
	optind = 0;	/* a fresh scan: FILE may come before --key */
	(void)cli_getopts(cur, argc, argv, o, NOPTS(o), p, NULL);
	need(p, "key", "--key");
	if (optind + 1 != argc)
		die_usage(cur->name, "give one FILE (DER or PEM; - for "
		    "standard input)");
	file = argv[optind];
	read_data(cur->name, NULL, NULL, file, buf, &n);
	put_b64(p, "certificate", buf, n);
	return 0;
}

static int
b_call(int argc, char **argv, struct json_object *p)
{
	(void)argc;
	(void)argv;
	(void)p;
	return 0;	/* see main: raw method and JSON */
}

/* ---- human output ---------------------------------------------------- */

static int
s_status(struct json_object *o)
{
	struct json_object *t;

	show_member("version:     ", o, "version");
	if (json_object_object_get_ex(o, "token", &t)) {
		show_member("token:       ", t, "label");
		show_member("  state:     ", t, "state");
		show_member("  maker:     ", t, "manufacturer");
		show_member("  model:     ", t, "model");
	}
	show_member("enrolee:     ", o, "enroleeKpmId");
	show_member("target:      ", o, "targetId");
	show_member("mef:         ", o, "mef");
	show_member("uptime (s):  ", o, "uptime");
	show_member("connections: ", o, "connections");
	show_member("calls:       ", o, "calls");
	return 0;
}

static int
s_keys(struct json_object *o)
{
	struct json_object *a, *k;
	size_t i, n;

	if (!json_object_object_get_ex(o, "keys", &a) ||
	    !json_object_is_type(a, json_type_array))
		return -1;
	n = json_object_array_length(a);
	for (i = 0; i < n; i++) {
		k = json_object_array_get_idx(a, i);
		show_member("", k, "key");
		show_member("  role:    ", k, "role");
		show_member("  peer:    ", k, "peer");
		show_member("  enrolee: ", k, "enroleeId");
		show_member("  expires: ", k, "expires");
	}
	if (n == 0)
		printf("no keys this caller may name\n");
	return 0;
}

static int
s_key(struct json_object *o)
{
	show_member("key:     ", o, "key");
	show_member("role:    ", o, "role");
	show_member("peer:    ", o, "peer");
	show_member("enrolee: ", o, "enroleeId");
	show_member("expires: ", o, "expires");
	show_member("from:    ", o, "source");
	return 0;
}

static int
s_bootstrap(struct json_object *o)
{
	struct json_object *e;

	show_member("KeId:      ", o, "keId");
	show_member("EnroleeID: ", o, "enroleeId");
	show_member("lifetime:  ", o, "lifetime");
	show_member("targets:   ", o, "targets");
	if (json_object_object_get_ex(o, "e2e", &e)) {
		show_member("E2E hash:  ", e, "hash");
		show_member("E2E salt:  ", e, "salt");
	}
	return 0;
}

static int
s_e2e(struct json_object *o)
{
	show_member("E2EKeyId: ", o, "e2eKeyId");
	show_member("hash:     ", o, "hash");
	return 0;
}

static int
s_mic(struct json_object *o)
{
	return show_hex("", o, "mic");
}

static int
s_verify(struct json_object *o)
{
	(void)o;	/* main checked "valid": true */
	printf("MIC valid\n");
	return 0;
}

static int
s_seal(struct json_object *o)
{
	return show_hex("iv:         ", o, "iv") != 0 ||
	    show_hex("ciphertext: ", o, "ciphertext") != 0 ? -1 : 0;
}

static int
s_open(struct json_object *o)
{
	uint8_t *b;
	size_t n, off;
	ssize_t k;

	if (b64_member(o, "plaintext", &b, &n) != 0)
		return -1;
	/* write(2): stdio would keep a copy in its buffer */
	fflush(stdout);
	for (off = 0; off < n; off += (size_t)k) {
		k = write(STDOUT_FILENO, b + off, n - off);
		if (k == -1 && errno == EINTR)
			k = 0;
		else if (k <= 0)
			break;
	}
	OPENSSL_cleanse(b, n + 1);
	free(b);
	return 0;
}

static int
s_keygen(struct json_object *o)
{
	struct json_object *v;

	show_member("key:   ", o, "key");
	show_member("id:    ", o, "id");
	show_member("curve: ", o, "curve");
	if (json_object_object_get_ex(o, "publicKey", &v))
		put_safe(json_object_get_string(v), 1);
	return 0;
}

static int
s_csr(struct json_object *o)
{
	struct json_object *v;

	if (json_object_object_get_ex(o, "csr", &v))
		put_safe(json_object_get_string(v), 1);
	return 0;
}

static int
s_certimport(struct json_object *o)
{
	show_member("key: ", o, "key");
	show_member("id:  ", o, "id");
	return 0;
}

static int
s_raw(struct json_object *o)
{
	put_json(json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	printf("\n");
	return 0;
}

static const struct cmd cmds[] = {
	{ "status", "io.m2mtoken.Status", b_none, s_status, "" },
	{ "list-keys", "io.m2mtoken.ListKeys", b_none, s_keys,
	    "[--role ROLE]" },
	{ "bootstrap", "io.m2mtoken.Bootstrap", b_bootstrap, s_bootstrap,
	    "--target ID [--target ID]... [--framework psk|certificate]\n"
	    "  Bootstraps with the MEF ([enrolee] kpm_id, or cert_key with "
	    "certificate; [mef]) and stores Ke." },
	{ "keygen", "io.m2mtoken.KeyGen", b_keycert, s_keygen,
	    "--key LABEL [--curve P-256|P-384] [--id HEX]\n"
	    "  Makes an EC key pair in the token; prints its public key "
	    "(PEM)." },
	{ "csr", "io.m2mtoken.Csr", b_keycert, s_csr,
	    "--key LABEL --subject /CN=NAME[/O=...] [--san-uri URI] "
	    "[--san-dns NAME]\n"
	    "  Prints a PKCS#10 request (PEM) the token key signed." },
	{ "cert", "io.m2mtoken.CertImport", b_cert, s_certimport,
	    "import FILE --key LABEL\n"
	    "  Stores the certificate (DER or PEM) next to the token key "
	    "LABEL, if its public key is that key's." },
	{ "derive-kpsa", "io.m2mtoken.DeriveKpsa", b_derive, s_key,
	    "--key KEID --target ENROLEE-B-ID" },
	{ "derive-km", "io.m2mtoken.DeriveKm", b_derive, s_key,
	    "--key KEID --maf MAF-ID" },
	{ "derive-kuc", "io.m2mtoken.DeriveUsageConstrained", b_derive, s_key,
	    "--key KEID --suid N --target TARGET-ID" },
	{ "fetch-credentials", "io.m2mtoken.FetchCredentials", b_derive,
	    s_key, "--key KEID [--suid N]\n"
	    "  Fetches Kpsa (or Kuc) for KEID from the MEF ([target] id)." },
	{ "provision-e2e", "io.m2mtoken.ProvisionEndToEnd", b_e2e, s_e2e,
	    "--key LABEL [--role kpsa|km|kuc] [--peer ID] [--salt-hex HEX | "
	    "--salt BASE64] [--hash sha256|sha512]\n"
	    "  The salt and hash are the ones Bootstrap's reply gave (e2e)." },
	{ "mic", "io.m2mtoken.Mic", b_use, s_mic,
	    "--key E2EKEYID [--attribute] [--peer ID] (--data TEXT | "
	    "--data-hex HEX | --data-file PATH|-)\n"
	    "  Prints the MIC in hex (--json: base64)." },
	{ "verify-mic", "io.m2mtoken.VerifyMic", b_use, s_verify,
	    "--key E2EKEYID --mic HEX [--attribute] (--data TEXT | "
	    "--data-hex HEX | --data-file PATH|-)\n"
	    "  Exit code 5 if the MIC does not verify." },
	{ "seal", "io.m2mtoken.Seal", b_use, s_seal,
	    "--key E2EKEYID [--attribute] [--aad TEXT] (--data TEXT | "
	    "--data-hex HEX | --data-file PATH|-)\n"
	    "  --data and --data-hex put the plaintext in the command line, "
	    "which other\n  users may read (ps): for a secret use "
	    "--data-file PATH, or - for standard input." },
	{ "open", "io.m2mtoken.Open", b_use, s_open,
	    "--key E2EKEYID --iv HEX --ciphertext HEX [--attribute] "
	    "[--aad TEXT]\n"
	    "  Writes the plaintext to stdout; exit code 5 if forged." },
	{ "call", NULL, b_call, s_raw,
	    "METHOD [PARAMETERS-JSON]\n"
	    "  Any method, e.g. m2mtoken call io.m2mtoken.Status '{}'" },
};

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: m2mtoken [-s SOCKET] [--json] [--timeout SECONDS] "
	    "COMMAND [OPTIONS]\n\n"
	    "Talks to m2mtokend (default socket %s, or $M2MTOKEN_SOCKET).\n"
	    "Commands (m2mtoken COMMAND --help for each):\n",
	    M2M_CLIENT_SOCKET_DEFAULT);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %s\n", cmds[i].name);
	fprintf(f, "\nExit codes: 0 done, 1 refused, 2 usage, 3 daemon "
	    "unreachable, 4 permission denied,\n5 verification failed, 6 no "
	    "such key, 7 MEF error, 8 token error, 9 not configured.\n");
}

/* The exit code and advice for an error reply. */
static int
explain(const struct m2m_client_error *e)
{
	static const struct {
		const char	*name;
		int		 code;
		const char	*advice;
	} t[] = {
		{ "io.m2mtoken.PermissionDenied", EX_DENIED, "ask the "
		    "operator for a [caller] rule in m2mtokend.conf for this "
		    "user, method and key" },
		{ "io.m2mtoken.VerificationFailed", EX_VERIFY, "treat the "
		    "message as forged" },
		{ "io.m2mtoken.NoSuchKey", EX_NOKEY, "check the key's label "
		    "with m2mtoken list-keys" },
		{ "io.m2mtoken.AmbiguousKey", EX_NOKEY, "add --role and/or "
		    "--peer to name one key" },
		{ "io.m2mtoken.MefUnreachable", EX_MEF, "check [mef] host, "
		    "port and fqdn, that the MEF runs, and the PSK identity" },
		{ "io.m2mtoken.MefRefused", EX_MEF, "the MEF refused: see "
		    "the detail, and the MEF's registry for this enrolee or "
		    "target" },
		{ "io.m2mtoken.MefProtocolError", EX_MEF, "the MEF answered "
		    "something else than docs/mef-http.md; nothing stored" },
		{ "io.m2mtoken.TokenUnavailable", EX_TOKEN, "the TPM or HSM "
		    "behind the daemon is not reachable; see its log" },
		{ "io.m2mtoken.TokenLocked", EX_TOKEN, "the daemon is not "
		    "logged in; restart it with the right PIN file" },
		{ "io.m2mtoken.PinIncorrect", EX_TOKEN, "fix the daemon's PIN "
		    "file" },
		{ "io.m2mtoken.PinLocked", EX_TOKEN, "the token's SO must "
		    "unlock the PIN" },
		{ "io.m2mtoken.TokenFailure", EX_TOKEN, "see the daemon's "
		    "log" },
		{ "io.m2mtoken.TokenReadOnly", EX_TOKEN, "the key store is "
		    "read-only" },
		{ "io.m2mtoken.NotConfigured", EX_NOTCONF, "complete "
		    "m2mtokend.conf ([mef], [enrolee] or [target])" },
		{ "io.m2mtoken.InvalidParameter", EX_REFUSED, "fix the "
		    "command's options (see --help)" },
		{ "io.m2mtoken.KeyNotPermitted", EX_REFUSED, "the key's role "
		    "or lifetime does not allow this (expired?)" },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(e->name, t[i].name) == 0) {
			fprintf(stderr, "m2mtoken: %s: %s%s%s\n  -> %s\n",
			    e->name, e->reason, e->detail[0] ? ": " : "",
			    e->detail, t[i].advice);
			return t[i].code;
		}
	fprintf(stderr, "m2mtoken: %s: %s%s%s\n  -> see the daemon's log\n",
	    e->name, e->reason, e->detail[0] ? ": " : "", e->detail);
	return EX_REFUSED;
}

int
main(int argc, char **argv)
{
	static const struct option gl[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct m2m_client_error err;
	struct m2m_client *c = NULL;
	struct json_object *p = NULL, *reply = NULL, *valid;
	struct json_tokener *tok = NULL;
	struct rlimit rl = { 0, 0 };
	const char *method;
	char *out = NULL, *in = NULL, *end;
	size_t i, inlen = 0;
	long v;
	int ch, r, rc = EX_REFUSED;

	/* a core would hold the plaintext of seal or open: none, as m2mtokend */
	(void)setrlimit(RLIMIT_CORE, &rl);
	while ((ch = getopt_long(argc, argv, "+s:jt:hV", gl, NULL)) != -1) {
		switch (ch) {
		case 's':
			opt_socket = optarg;
			break;
		case 'j':
			opt_json = 1;
			break;
		case 't':
			v = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || v < 1 ||
			    v > 3600)
				die_usage(NULL, "--timeout: 1..3600 seconds");
			opt_timeout_ms = (int)v * 1000;
			break;
		case 'h':
			usage(stdout);
			return EX_OK;
		case 'V':
			printf("m2mtoken 0.1.0\n");
			return EX_OK;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EX_USAGE;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(cmds[i].name, argv[optind]) == 0)
			break;
	if (i == sizeof(cmds) / sizeof(cmds[0])) {
		fprintf(stderr, "m2mtoken: unknown command %s (m2mtoken "
		    "--help lists them)\n", argv[optind]);
		return EX_USAGE;
	}
	cur = &cmds[i];
	argc -= optind;
	argv += optind;
	optind = 1;
	method = cur->method;
	if (method == NULL) {
		/* call METHOD [JSON] */
		if (argc >= 2 && strcmp(argv[1], "--help") == 0)
			cmd_help(cur);
		if (argc < 2 || argc > 3)
			die_usage(cur->name, "give METHOD [PARAMETERS-JSON]");
		method = argv[1];
		p = json_tokener_parse(argc == 3 ? argv[2] : "{}");
		if (p == NULL || !json_object_is_type(p, json_type_object))
			die_usage(cur->name, "PARAMETERS-JSON must be a JSON "
			    "object");
	} else {
		p = json_object_new_object();
		if (cur->build(argc, argv, p) != 0)
			die_usage(cur->name, "unexpected argument");
	}
	if ((r = m2m_client_connect(opt_socket, opt_timeout_ms, &c)) != 0) {
		fprintf(stderr, "m2mtoken: %s: %s\n  -> %s\n", opt_socket ?
		    opt_socket : getenv("M2MTOKEN_SOCKET") ?
		    getenv("M2MTOKEN_SOCKET") : M2M_CLIENT_SOCKET_DEFAULT,
		    strerror(errno), m2m_client_strerror(r));
		rc = EX_UNREACHABLE;
		goto out;
	}
	/* m2m_json_text, not json-c's text: that leaves copies unwiped */
	if (m2m_json_text(p, 0, SIZE_MAX, &in, &inlen) != 0) {
		fprintf(stderr, "m2mtoken: out of memory\n");
		goto out;
	}
	r = m2m_client_call(c, method, in, &out, &err);
	if (r == M2M_CLIENT_ERR_REMOTE) {
		if (opt_json)
			printf("{\"error\": \"%s\"}\n", err.name);
		rc = explain(&err);
		goto out;
	}
	if (r == M2M_CLIENT_ERR_ARG) {
		fprintf(stderr, "m2mtoken: the call cannot be sent: a method "
		    "is io.m2mtoken. and letters, its parameters one JSON "
		    "object of at most 64 KiB without \\u0000\n");
		rc = EX_USAGE;
		goto out;
	}
	if (r != 0) {
		fprintf(stderr, "m2mtoken: %s\n", m2m_client_strerror(r));
		rc = EX_UNREACHABLE;
		goto out;
	}
	/* json_tokener_parse(), its buffer wiped: out may hold a plaintext */
	if ((tok = m2m_json_tokener_new(JSON_TOKENER_DEFAULT_DEPTH,
	    strlen(out))) == NULL ||
	    (reply = json_tokener_parse_ex(tok, out, (int)strlen(out))) ==
	    NULL || json_tokener_get_error(tok) != json_tokener_success) {
		fprintf(stderr, "m2mtoken: %s\n",
		    m2m_client_strerror(M2M_CLIENT_ERR_PROTOCOL));
		goto out;
	}
	if (strcmp(method, "io.m2mtoken.VerifyMic") == 0 &&
	    !(json_object_object_get_ex(reply, "valid", &valid) &&
	    json_object_is_type(valid, json_type_boolean) &&
	    json_object_get_boolean(valid))) {
		/* only "valid": true says so; anything else is not a yes */
		fprintf(stderr, "m2mtoken: %s: it does not say \"valid\": "
		    "true\n  -> treat the message as forged\n",
		    m2m_client_strerror(M2M_CLIENT_ERR_PROTOCOL));
		rc = EX_VERIFY;
		goto out;
	}
	if (opt_json) {
		put_json(out);
		printf("\n");
	} else if (cur->show(reply) != 0) {
		fprintf(stderr, "m2mtoken: %s: a member is missing or of the "
		    "wrong type\n", m2m_client_strerror(M2M_CLIENT_ERR_PROTOCOL));
		goto out;
	}
	rc = EX_OK;
 out:
	m2m_json_tokener_free(tok);
	m2m_json_put_wiped(reply);
	m2m_json_put_wiped(p);
	if (in != NULL) {
		OPENSSL_cleanse(in, inlen);
		free(in);
	}
	if (out != NULL) {
		OPENSSL_cleanse(out, strlen(out));
		free(out);
	}
	m2m_client_close(c);
	return rc;
}
