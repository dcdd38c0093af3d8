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

#define EX_OK		0
#define EX_REFUSED	1
#define EX_USAGE	2
#define EX_UNREACHABLE	3
#define EX_DENIED	4
#define EX_VERIFY	5
#define EX_NOKEY	6
#define EX_MEF		7
#define EX_TOKEN	8
#define EX_NOTCONF	9

#define DATA_MAX	32768

static const char *opt_socket;
static int opt_json;
static int opt_timeout_ms;

struct cmd {
	const char	*name;
	const char	*method;
	int		(*build)(int, char **, struct json_object *);
	void		(*show)(struct json_object *);
	const char	*usage;
};

static void
die_usage(const char *cmd, const char *msg)
{
	fprintf(stderr, "m2mtoken%s%s: %s (see m2mtoken %s%s--help)\n",
	    cmd ? " " : "", cmd ? cmd : "", msg, cmd ? cmd : "",
	    cmd ? " " : "");
	exit(EX_USAGE);
}

/* ---- input helpers --------------------------------------------------- */

static int
unhex(const char *s, uint8_t *out, size_t cap, size_t *ret_len)
{
	size_t n = strlen(s), i;
	unsigned int v;

	if (n % 2 != 0 || n / 2 > cap)
		return -1;
	for (i = 0; i < n / 2; i++) {
		if (sscanf(s + 2 * i, "%2x", &v) != 1 ||
		    !((s[2 * i] >= '0' && s[2 * i] <= '9') ||
		    (s[2 * i] | 0x20) >= 'a'))
			return -1;
		out[i] = (uint8_t)v;
	}
	*ret_len = n / 2;
	return 0;
}

static void
put_b64(struct json_object *p, const char *k, const uint8_t *v, size_t n)
{
	char *s = malloc((n + 2) / 3 * 4 + 1);

	if (s == NULL) {
		fprintf(stderr, "m2mtoken: out of memory\n");
		exit(EX_REFUSED);
	}
	EVP_EncodeBlock((unsigned char *)s, v, (int)n);
	json_object_object_add(p, k, json_object_new_string(s));
	free(s);
}

/* --data TEXT | --data-hex HEX | --data-file PATH ("-": stdin) */
static int
read_data(const char *cmd, const char *text, const char *hex,
    const char *file, uint8_t *buf, size_t *ret_len)
{
	FILE *f;
	size_t n;

	if ((text != NULL) + (hex != NULL) + (file != NULL) != 1)
		die_usage(cmd, "give exactly one of --data, --data-hex, "
		    "--data-file");
	if (text != NULL) {
		if (strlen(text) > DATA_MAX)
			die_usage(cmd, "--data: more than 32768 bytes");
		memcpy(buf, text, strlen(text));
		*ret_len = strlen(text);
		return 0;
	}
	if (hex != NULL) {
		if (unhex(hex, buf, DATA_MAX, ret_len) != 0)
			die_usage(cmd, "--data-hex: not hex of at most 32768 "
			    "bytes");
		return 0;
	}
	if (strcmp(file, "-") == 0)
		f = stdin;
	else if ((f = fopen(file, "rb")) == NULL) {
		fprintf(stderr, "m2mtoken %s: cannot open %s: %s\n", cmd, file,
		    strerror(errno));
		exit(EX_USAGE);
	}
	n = fread(buf, 1, DATA_MAX + 1, f);
	if (f != stdin)
		fclose(f);
	if (n > DATA_MAX)
		die_usage(cmd, "--data-file: more than 32768 bytes");
	*ret_len = n;
	return 0;
}

static void
show_hex(const char *label, struct json_object *o, const char *k)
{
	struct json_object *v;
	uint8_t *b;
	const char *s;
	size_t n, i, pad = 0;

	if (!json_object_object_get_ex(o, k, &v))
		return;
	s = json_object_get_string(v);
	n = strlen(s);
	if (n % 4 != 0 || (b = malloc(n / 4 * 3 + 1)) == NULL)
		return;
	if (n > 0 && s[n - 1] == '=')
		pad++;
	if (n > 1 && s[n - 2] == '=')
		pad++;
	if (EVP_DecodeBlock(b, (const unsigned char *)s, (int)n) >= 0) {
		printf("%s", label);
		for (i = 0; i < n / 4 * 3 - pad; i++)
			printf("%02x", b[i]);
		printf("\n");
	}
	free(b);
}

static void
show_member(const char *label, struct json_object *o, const char *k)
{
	struct json_object *v;

	if (json_object_object_get_ex(o, k, &v) && v != NULL)
		printf("%s%s\n", label, json_object_get_string(v));
}

/* ---- commands -------------------------------------------------------- */

#define OPTS(...) static const struct option lo[] = { __VA_ARGS__,	\
	{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } }

static const struct cmd *cur;

static void
cmd_help(void)
{
	printf("usage: m2mtoken [global options] %s %s\n", cur->name,
	    cur->usage);
	exit(EX_OK);
}

/* Adds the common "key" / "role" / "peer" / "use" options. */
static int
key_opts(int ch, const char *arg, struct json_object *p)
{
	switch (ch) {
	case 'k':
		json_object_object_add(p, "key", json_object_new_string(arg));
		return 1;
	case 'r':
		json_object_object_add(p, "role", json_object_new_string(arg));
		return 1;
	case 'p':
		json_object_object_add(p, "peer", json_object_new_string(arg));
		return 1;
	case 'a':
		json_object_object_add(p, "use",
		    json_object_new_string("attribute"));
		return 1;
	default:
		return 0;
	}
}

static void
need(struct json_object *p, const char *k, const char *opt)
{
	char msg[80];

	if (!json_object_object_get_ex(p, k, NULL)) {
		snprintf(msg, sizeof(msg), "%s is required", opt);
		die_usage(cur->name, msg);
	}
}

static int
b_none(int argc, char **argv, struct json_object *p)
{
	OPTS({ "role", required_argument, NULL, 'r' });
	int ch;

	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (ch == 'h')
			cmd_help();
		if (ch == 'r' && strcmp(cur->name, "list-keys") == 0) {
			key_opts(ch, optarg, p);
			continue;
		}
		die_usage(cur->name, "unknown option");
	}
	return optind == argc ? 0 : -1;
}

static int
b_bootstrap(int argc, char **argv, struct json_object *p)
{
	OPTS({ "target", required_argument, NULL, 't' },
	    { "framework", required_argument, NULL, 'f' });
	struct json_object *a = json_object_new_array();
	int ch;

	json_object_object_add(p, "targets", a);
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (ch == 'h')
			cmd_help();
		if (ch == 'f') {
			json_object_object_add(p, "framework",
			    json_object_new_string(optarg));
			continue;
		}
		if (ch != 't')
			die_usage(cur->name, "unknown option");
		json_object_array_add(a, json_object_new_string(optarg));
	}
	if (json_object_array_length(a) == 0)
		die_usage(cur->name, "give at least one --target");
	return optind == argc ? 0 : -1;
}

static int
b_derive(int argc, char **argv, struct json_object *p)
{
	OPTS({ "key", required_argument, NULL, 'k' },
	    { "target", required_argument, NULL, 't' },
	    { "maf", required_argument, NULL, 'm' },
	    { "suid", required_argument, NULL, 'u' });
	int ch, kuc = strcmp(cur->name, "derive-kuc") == 0;
	int km = strcmp(cur->name, "derive-km") == 0;
	char *end;
	long v;

	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (ch == 'h')
			cmd_help();
		if (key_opts(ch, optarg, p) && ch == 'k')
			continue;
		if (ch == 't' && !km)
			json_object_object_add(p, "target",
			    json_object_new_string(optarg));
		else if (ch == 'm' && km)
			json_object_object_add(p, "maf",
			    json_object_new_string(optarg));
		else if (ch == 'u' && (kuc || strcmp(cur->name,
		    "fetch-credentials") == 0)) {
			v = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || v < 0 || v > 99)
				die_usage(cur->name, "--suid: 0..99");
			json_object_object_add(p, "suid",
			    json_object_new_int((int)v));
		} else
			die_usage(cur->name, "unknown option");
	}
	need(p, "key", "--key");
	if (km)
		need(p, "maf", "--maf");
	else if (strcmp(cur->name, "fetch-credentials") != 0)
		need(p, "target", "--target");
	if (kuc)
		need(p, "suid", "--suid");
	return optind == argc ? 0 : -1;
}

static int
b_e2e(int argc, char **argv, struct json_object *p)
{
	OPTS({ "key", required_argument, NULL, 'k' },
	    { "role", required_argument, NULL, 'r' },
	    { "peer", required_argument, NULL, 'p' },
	    { "salt-hex", required_argument, NULL, 's' },
	    { "salt", required_argument, NULL, 'S' },
	    { "hash", required_argument, NULL, 'H' });
	uint8_t salt[64];
	size_t n;
	int ch;

	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (ch == 'h')
			cmd_help();
		if (ch != 'a' && key_opts(ch, optarg, p))
			continue;
		if (ch == 's') {
			if (unhex(optarg, salt, sizeof(salt), &n) != 0)
				die_usage(cur->name, "--salt-hex: hex of at "
				    "most 64 bytes");
			put_b64(p, "salt", salt, n);
		} else if (ch == 'S') {
			/* base64, as Bootstrap's reply gives it */
			json_object_object_add(p, "salt",
			    json_object_new_string(optarg));
		} else if (ch == 'H')
			json_object_object_add(p, "hash",
			    json_object_new_string(optarg));
		else
			die_usage(cur->name, "unknown option");
	}
	need(p, "key", "--key");
	return optind == argc ? 0 : -1;
}

/* mic, verify-mic, seal, open */
static int
b_use(int argc, char **argv, struct json_object *p)
{
	OPTS({ "key", required_argument, NULL, 'k' },
	    { "peer", required_argument, NULL, 'p' },
	    { "attribute", no_argument, NULL, 'a' },
	    { "data", required_argument, NULL, 'd' },
	    { "data-hex", required_argument, NULL, 'x' },
	    { "data-file", required_argument, NULL, 'f' },
	    { "mic", required_argument, NULL, 'M' },
	    { "aad", required_argument, NULL, 'A' },
	    { "iv", required_argument, NULL, 'I' },
	    { "ciphertext", required_argument, NULL, 'C' });
	static uint8_t buf[DATA_MAX + 16];
	const char *text = NULL, *hex = NULL, *file = NULL, *mic = NULL;
	const char *iv = NULL, *ctx = NULL, *aad = NULL, *name = cur->name;
	size_t n;
	int ch, opening = strcmp(name, "open") == 0;

	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (ch == 'h')
			cmd_help();
		if (ch != 'r' && key_opts(ch, optarg, p))
			continue;
		switch (ch) {
		case 'd': text = optarg; break;
		case 'x': hex = optarg; break;
		case 'f': file = optarg; break;
		case 'M': mic = optarg; break;
		case 'A': aad = optarg; break;
		case 'I': iv = optarg; break;
		case 'C': ctx = optarg; break;
		default: die_usage(name, "unknown option");
		}
	}
	need(p, "key", "--key");
	if (aad != NULL)
		put_b64(p, "aad", (const uint8_t *)aad, strlen(aad));
	if (opening) {
		if (iv == NULL || ctx == NULL)
			die_usage(name, "--iv and --ciphertext are required");
		if (unhex(iv, buf, 12, &n) != 0 || n != 12)
			die_usage(name, "--iv: 24 hex digits");
		put_b64(p, "iv", buf, n);
		if (unhex(ctx, buf, sizeof(buf), &n) != 0)
			die_usage(name, "--ciphertext: hex");
		put_b64(p, "ciphertext", buf, n);
		return optind == argc ? 0 : -1;
	}
	read_data(name, text, hex, file, buf, &n);
	put_b64(p, strcmp(name, "seal") == 0 ? "plaintext" : "data", buf, n);
	OPENSSL_cleanse(buf, sizeof(buf));
	if (strcmp(name, "verify-mic") == 0) {
		if (mic == NULL || unhex(mic, buf, 64, &n) != 0)
			die_usage(name, "--mic: hex of the MIC is required");
		put_b64(p, "mic", buf, n);
	}
	return optind == argc ? 0 : -1;
}

/* keygen, csr */
static int
b_keycert(int argc, char **argv, struct json_object *p)
{
	OPTS({ "key", required_argument, NULL, 'k' },
	    { "curve", required_argument, NULL, 'c' },
	    { "id", required_argument, NULL, 'i' },
	    { "subject", required_argument, NULL, 's' },
	    { "san-uri", required_argument, NULL, 'u' },
	    { "san-dns", required_argument, NULL, 'd' });
	static const char *const keygen[] = { "curve", "id", NULL };
	static const char *const csr[] = { "subject", "sanUri", "sanDns",
	    NULL };
	const char *const *mine = strcmp(cur->name, "keygen") == 0 ? keygen :
	    csr;
	const char *k = NULL;
	uint8_t id[64];
	size_t n, i;
	int ch;

	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (ch) {
		case 'h': cmd_help(); break;
		case 'k': k = "key"; break;
		case 'c': k = "curve"; break;
		case 'i': k = "id"; break;
		case 's': k = "subject"; break;
		case 'u': k = "sanUri"; break;
		case 'd': k = "sanDns"; break;
		default: die_usage(cur->name, "unknown option");
		}
		for (i = 0; mine[i] != NULL && strcmp(k, "key") != 0; i++)
			if (strcmp(mine[i], k) == 0)
				break;
		if (strcmp(k, "key") != 0 && mine[i] == NULL)
			die_usage(cur->name, "unknown option");
		if (strcmp(k, "id") == 0) {
			if (unhex(optarg, id, sizeof(id), &n) != 0 || n == 0)
				die_usage(cur->name, "--id: hex of 1 to 64 "
				    "bytes");
			put_b64(p, "id", id, n);
		} else
			json_object_object_add(p, k,
			    json_object_new_string(optarg));
	}
	need(p, "key", "--key");
	if (mine == csr)
		need(p, "subject", "--subject");
	return optind == argc ? 0 : -1;
}

/* cert import FILE --key LABEL */
static int
b_cert(int argc, char **argv, struct json_object *p)
{
	OPTS({ "key", required_argument, NULL, 'k' });
	static uint8_t buf[DATA_MAX + 16];
	const char *file;
	size_t n;
	int ch;

	if (argc >= 2 && strcmp(argv[1], "--help") == 0)
		cmd_help();
	if (argc < 2 || strcmp(argv[1], "import") != 0)
		die_usage(cur->name, "give import FILE --key LABEL");
	argc--;
	argv++;
	optind = 0;	/* a fresh scan: FILE may come before --key */
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (ch == 'h')
			cmd_help();
		if (ch != 'k')
			die_usage(cur->name, "unknown option");
		json_object_object_add(p, "key",
		    json_object_new_string(optarg));
	}
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

static void
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
}

static void
s_keys(struct json_object *o)
{
	struct json_object *a, *k;
	size_t i, n;

	if (!json_object_object_get_ex(o, "keys", &a))
		return;
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
}

static void
s_key(struct json_object *o)
{
	show_member("key:     ", o, "key");
	show_member("role:    ", o, "role");
	show_member("peer:    ", o, "peer");
	show_member("enrolee: ", o, "enroleeId");
	show_member("expires: ", o, "expires");
	show_member("from:    ", o, "source");
}

static void
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
}

static void
s_e2e(struct json_object *o)
{
	show_member("E2EKeyId: ", o, "e2eKeyId");
	show_member("hash:     ", o, "hash");
}

static void
s_mic(struct json_object *o)
{
	show_hex("", o, "mic");
}

static void
s_verify(struct json_object *o)
{
	(void)o;
	printf("MIC valid\n");
}

static void
s_seal(struct json_object *o)
{
	show_hex("iv:         ", o, "iv");
	show_hex("ciphertext: ", o, "ciphertext");
}

static void
s_open(struct json_object *o)
{
	struct json_object *v;
	const char *s;
	uint8_t *b;
	size_t n, pad = 0;

	if (!json_object_object_get_ex(o, "plaintext", &v))
		return;
	s = json_object_get_string(v);
	n = strlen(s);
	if (n % 4 != 0 || (b = malloc(n / 4 * 3 + 1)) == NULL)
		return;
	if (n > 0 && s[n - 1] == '=')
		pad++;
	if (n > 1 && s[n - 2] == '=')
		pad++;
	if (EVP_DecodeBlock(b, (const unsigned char *)s, (int)n) >= 0)
		fwrite(b, 1, n / 4 * 3 - pad, stdout);
	OPENSSL_cleanse(b, n / 4 * 3 + 1);
	free(b);
}

static void
s_keygen(struct json_object *o)
{
	struct json_object *v;

	show_member("key:   ", o, "key");
	show_member("id:    ", o, "id");
	show_member("curve: ", o, "curve");
	if (json_object_object_get_ex(o, "publicKey", &v))
		printf("%s", json_object_get_string(v));
}

static void
s_csr(struct json_object *o)
{
	struct json_object *v;

	if (json_object_object_get_ex(o, "csr", &v))
		printf("%s", json_object_get_string(v));
}

static void
s_certimport(struct json_object *o)
{
	show_member("key: ", o, "key");
	show_member("id:  ", o, "id");
}

static void
s_raw(struct json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
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
	    "--data-hex HEX | --data-file PATH|-)" },
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
	struct json_object *p = NULL, *reply = NULL;
	const char *method;
	char *out = NULL, *end;
	size_t i;
	long v;
	int ch, r, rc = EX_REFUSED;

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
			cmd_help();
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
	r = m2m_client_call(c, method, json_object_to_json_string_ext(p,
	    JSON_C_TO_STRING_PLAIN), &out, &err);
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
	if (opt_json) {
		printf("%s\n", out);
	} else if ((reply = json_tokener_parse(out)) != NULL) {
		cur->show(reply);
	}
	rc = EX_OK;
 out:
	json_object_put(reply);
	json_object_put(p);
	if (out != NULL) {
		OPENSSL_cleanse(out, strlen(out));
		free(out);
	}
	m2m_client_close(c);
	return rc;
}
