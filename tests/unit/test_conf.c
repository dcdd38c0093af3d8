/* Unit tests for token/conf.c: the INI configuration. */
#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"
#include "err.h"
#include "log.h"
#include "secret.h"

#define SENTINEL_CONF	((struct m2m_conf *)(uintptr_t)0x5a5a5a5a)
#define PIN		"Zq7-SECRET-pin"	/* must never reach a message */
#define ENV_PIN		"M2M_TEST_CONF_PIN"
#define ENV_UNSET	"M2M_TEST_CONF_UNSET_42"

static char tmpdir[256];

/* Group setup: a private directory for every file the tests write. */
static int
group_setup(void **state)
{
	const char *t = getenv("TMPDIR");

	(void)state;
	if (t == NULL || *t == '\0')
		t = "/tmp";
	if ((size_t)snprintf(tmpdir, sizeof(tmpdir), "%s/m2mconf.XXXXXX", t) >=
	    sizeof(tmpdir) || mkdtemp(tmpdir) == NULL)
		return -1;
	return 0;
}

/* Group teardown: remove the directory and everything in it. */
static int
group_teardown(void **state)
{
	char p[512];
	struct dirent *de;
	DIR *d;

	(void)state;
	unsetenv(ENV_PIN);
	if ((d = opendir(tmpdir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", tmpdir, de->d_name);
		if (unlink(p) != 0)
			rmdir(p);
	}
	closedir(d);
	return rmdir(tmpdir) == 0 ? 0 : -1;
}

/* Write len bytes of s to tmpdir/name; the path goes to out. */
static void
write_file(const char *name, const void *s, size_t len, char *out,
    size_t outlen)
{
	int fd;

	assert_true((size_t)snprintf(out, outlen, "%s/%s", tmpdir, name) <
	    outlen);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd != -1);
	assert_int_equal(write(fd, s, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static char conf_path[512];

/* Load text as a config file; returns the result, conf and message. */
static int
load(const char *text, struct m2m_conf **ret, char *err, size_t errlen)
{
	write_file("test.conf", text, strlen(text), conf_path,
	    sizeof(conf_path));
	return m2m_conf_load(conf_path, ret, err, errlen);
}

/* text must fail with M2M_ERR_CONFIG and exactly "<path>: <want>". */
static void
load_fails(const char *text, const char *want)
{
	struct m2m_conf *c = SENTINEL_CONF;
	char err[512], full[1024];

	memset(err, 'X', sizeof(err));
	assert_int_equal(load(text, &c, err, sizeof(err)), M2M_ERR_CONFIG);
	assert_ptr_equal(c, SENTINEL_CONF);
	assert_true(memchr(err, '\0', sizeof(err)) != NULL);
	assert_null(strchr(err, '\n'));
	assert_null(strstr(err, PIN));
	snprintf(full, sizeof(full), "%s: %s", conf_path, want);
	assert_string_equal(err, full);
}

#define HSM_CONF \
	"[store]\n" \
	"path = /var/lib/m2mtoken/store.db\n" \
	"[backend]\n" \
	"type = hsm\n" \
	"[hsm]\n" \
	"module = /usr/lib/softhsm/libsofthsm2.so\n" \
	"token_label = m2m-backing\n" \
	"pin = " PIN "\n"

static void
test_good_hsm(void **state)
{
	struct m2m_conf *c = NULL;
	char err[256];

	(void)state;
	assert_int_equal(load(HSM_CONF, &c, err, sizeof(err)), 0);
	assert_non_null(c);
	assert_string_equal(err, "");
	assert_string_equal(c->path, conf_path);
	assert_string_equal(c->store_path, "/var/lib/m2mtoken/store.db");
	assert_int_equal(c->backend, M2M_BACKEND_HSM);
	assert_string_equal(c->hsm_module, "/usr/lib/softhsm/libsofthsm2.so");
	assert_string_equal(c->hsm_token_label, "m2m-backing");
	assert_non_null(c->hsm_pin);
	assert_int_equal(m2m_secret_len(c->hsm_pin), strlen(PIN));
	assert_memory_equal(m2m_secret_data(c->hsm_pin), PIN, strlen(PIN));
	/* defaults */
	assert_int_equal(c->cache_size, 64);
	assert_int_equal(c->pin_min, 4);
	assert_int_equal(c->pin_max, 64);
	assert_int_equal(c->max_pin_tries, 5);
	assert_int_equal(c->max_objects, 100000);
	assert_int_equal(c->max_bytes, 256 * 1024 * 1024);
	assert_int_equal(c->deliver_derived, 0);
	assert_int_equal(c->log_level_set, 0);
	assert_null(c->tpm_tcti);
	assert_int_equal(c->tpm_primary_handle, 0);
	assert_int_equal(c->tpm_mode, M2M_TPM_MODE_AUTO);
	m2m_conf_free(c);

	/* every optional key, in another order, with blank lines */
	c = NULL;
	assert_int_equal(load("[token]\npin_min = 6\npin_max = 255\n"
	    "max_pin_tries = 100\ndeliver_derived = yes\n"
	    "max_objects = 10000000\nmax_bytes = 1099511627776\n\n[log]\n"
	    "level = debug\n\n"
	    HSM_CONF "[backend]\ncache_size = 65536\n", &c, err, sizeof(err)),
	    0);
	assert_int_equal(c->cache_size, 65536);
	assert_int_equal(c->pin_min, 6);
	assert_int_equal(c->pin_max, 255);
	assert_int_equal(c->max_pin_tries, 100);
	assert_int_equal(c->max_objects, 10000000);
	assert_int_equal(c->max_bytes, 1099511627776ULL);
	assert_int_equal(c->deliver_derived, 1);
	assert_int_equal(c->log_level_set, 1);
	assert_int_equal(c->log_level, M2M_LOG_DEBUG);
	m2m_conf_free(c);
	m2m_conf_free(NULL);
}

static void
test_good_tpm(void **state)
{
	struct m2m_conf *c = NULL;
	char err[256];

	(void)state;
	assert_int_equal(load("[store]\npath = /tmp/s.db\n"
	    "[backend]\ntype = tpm\ncache_size = 1\n"
	    "[tpm]\ntcti = swtpm:host=127.0.0.1,port=2321\n"
	    "primary_handle = 0x81000001\n"
	    "[log]\nlevel = warning\n"
	    /* an [hsm] section is allowed, its PIN is not resolved */
	    "[hsm]\npin = env:" ENV_UNSET "\n", &c, err, sizeof(err)), 0);
	assert_int_equal(c->backend, M2M_BACKEND_TPM);
	assert_string_equal(c->store_path, "/tmp/s.db");
	assert_string_equal(c->tpm_tcti, "swtpm:host=127.0.0.1,port=2321");
	assert_int_equal(c->tpm_primary_handle, 0x81000001UL);
	assert_int_equal(c->cache_size, 1);
	assert_null(c->hsm_pin);
	assert_int_equal(c->log_level, M2M_LOG_WARNING);
	assert_int_equal(c->log_level_set, 1);
	m2m_conf_free(c);

	c = NULL;
	assert_int_equal(load("[store]\npath = s.db\n[backend]\ntype = tpm\n"
	    "[tpm]\ntcti = device:/dev/tpmrm0\nprimary_handle = 0x81FFFFFF\n",
	    &c, err, sizeof(err)), 0);
	assert_int_equal(c->tpm_primary_handle, 0x81FFFFFFUL);
	m2m_conf_free(c);
	c = NULL;
	assert_int_equal(load("[store]\npath = s.db\n[backend]\ntype = tpm\n"
	    "[tpm]\ntcti = tabrmd:\nprimary_handle = 0x81000000\n",
	    &c, err, sizeof(err)), 0);
	assert_int_equal(c->tpm_primary_handle, 0x81000000UL);
	assert_string_equal(c->tpm_tcti, "tabrmd:");
	m2m_conf_free(c);
}

/* [tpm] mode: auto (the default), shared, exclusive; nothing else. */
static void
test_tpm_mode(void **state)
{
	static const struct {
		const char		*value;
		enum m2m_tpm_mode	 want;
	} good[] = {
		{ "auto", M2M_TPM_MODE_AUTO },
		{ "shared", M2M_TPM_MODE_SHARED },
		{ "exclusive", M2M_TPM_MODE_EXCLUSIVE },
		{ "exclusive   ; one process owns the TPM",
		    M2M_TPM_MODE_EXCLUSIVE },
	};
	static const char *const bad[] = {
		"Exclusive", "excl", "shared exclusive", "1", "none",
	};
	struct m2m_conf *c = NULL;
	char text[512], err[256];
	size_t i;

	(void)state;
	assert_int_equal(load("[store]\npath = s.db\n[backend]\ntype = tpm\n"
	    "[tpm]\ntcti = swtpm:\n", &c, err, sizeof(err)), 0);
	assert_int_equal(c->tpm_mode, M2M_TPM_MODE_AUTO);
	m2m_conf_free(c);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		c = NULL;
		snprintf(text, sizeof(text), "[store]\npath = s.db\n"
		    "[backend]\ntype = tpm\n[tpm]\nmode = %s\n"
		    "tcti = swtpm:\n", good[i].value);
		assert_int_equal(load(text, &c, err, sizeof(err)), 0);
		assert_string_equal(err, "");
		assert_int_equal(c->tpm_mode, good[i].want);
		m2m_conf_free(c);
	}
	/* allowed with the HSM backend too, where it changes nothing */
	c = NULL;
	assert_int_equal(load(HSM_CONF "[tpm]\nmode = shared\n", &c, err,
	    sizeof(err)), 0);
	assert_int_equal(c->tpm_mode, M2M_TPM_MODE_SHARED);
	m2m_conf_free(c);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[store]\npath = s.db\n"
		    "[backend]\ntype = tpm\n[tpm]\ntcti = swtpm:\n"
		    "mode = %s\n", bad[i]);
		load_fails(text, "[tpm] mode: must be auto, shared or "
		    "exclusive");
	}
	load_fails("[tpm]\nmode =\n", "[tpm] mode: empty value");
	load_fails("[tpm]\nmode = shared\nmode = exclusive\n",
	    "[tpm] mode: given more than once (line 3)");
}

static void
test_missing_required(void **state)
{
	static const char *const lines[] = {
		"[store]\n", "path = /s.db\n", "[backend]\n", "type = hsm\n",
		"[hsm]\n", "module = /m.so\n", "token_label = t\n",
		"pin = " PIN "\n",
	};
	static const struct {
		size_t		 omit;
		const char	*want;
	} cases[] = {
		{ 1, "[store] path: missing" },
		{ 3, "[backend] type: missing" },
		{ 5, "[hsm] module: missing (type is hsm)" },
		{ 6, "[hsm] token_label: missing (type is hsm)" },
		{ 7, "[hsm] pin: missing (type is hsm)" },
	};
	char text[512];
	size_t i, j, n;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		text[0] = '\0';
		for (j = 0, n = 0; j < sizeof(lines) / sizeof(lines[0]); j++) {
			if (j != cases[i].omit)
				n += (size_t)snprintf(text + n,
				    sizeof(text) - n, "%s", lines[j]);
			assert_true(n < sizeof(text));
		}
		load_fails(text, cases[i].want);
	}
	load_fails("[store]\npath = /s.db\n[backend]\ntype = tpm\n"
	    "[tpm]\nprimary_handle = 0x81000001\n",
	    "[tpm] tcti: missing (type is tpm)");
	load_fails("", "[store] path: missing");
	/* an empty value is not a value */
	load_fails("[store]\npath =\n", "[store] path: empty value");
	load_fails("[store]\npath = ; nothing\n", "[store] path: empty value");
}

static void
test_unknown_section_and_key(void **state)
{
	(void)state;
	load_fails(HSM_CONF "[hsmm]\nmodule = /x.so\n",
	    "[hsmm]: unknown section");
	/* even without keys */
	load_fails("[foo]\n" HSM_CONF, "[foo]: unknown section");
	/* names not shaped like ours are shown by line (could be a PIN) */
	load_fails(HSM_CONF "[ hsm ]\n", "line 9: unknown section");
	load_fails(HSM_CONF "[HSM]\n", "line 9: unknown section");
	load_fails(HSM_CONF "Module = /x.so\n", "line 9: unknown key in [hsm]");
	load_fails(HSM_CONF "modul = /x.so\n", "[hsm] modul: unknown key");
	load_fails(HSM_CONF "[backend]\ncachesize = 5\n",
	    "[backend] cachesize: unknown key");
	load_fails(HSM_CONF "[tpm]\npin = 1234\n", "[tpm] pin: unknown key");
	load_fails("path = /s.db\n" HSM_CONF,
	    "line 1: key outside any section");
	/* junk after a section header */
	load_fails(HSM_CONF "[tpm] x\n", "line 9: syntax error");
	load_fails(HSM_CONF "[tpm\n", "line 9: syntax error");
	/* a line that is not "key = value" */
	load_fails(HSM_CONF "module\n", "line 9: syntax error");
	/* the first error is reported, whoever found it */
	load_fails(HSM_CONF "module\nbogus = 1\n", "line 9: syntax error");
	load_fails(HSM_CONF "bogus = 1\nmodule\n", "[hsm] bogus: unknown key");
	load_fails(HSM_CONF "module = /a.so\n",
	    "[hsm] module: given more than once (line 9)");
	/* an indented line continues the previous value in inih */
	load_fails("[store]\npath = /s.db\n  /more\n",
	    "[store] path: given more than once (line 3)");
}

#define BAD_TYPE	"[backend] type: must be hsm or tpm"
#define BAD_CACHE	"[backend] cache_size: must be a number from 1 to 65536"
#define BAD_TRIES	"[token] max_pin_tries: must be a number from 1 to 100"
#define BAD_OBJECTS	"[token] max_objects: must be a number from 0 to " \
			"10000000"
#define BAD_BYTES	"[token] max_bytes: must be a number from 0 to " \
			"1099511627776"

static void
test_bad_values(void **state)
{
	/* full: after a complete config (checks that need the whole file) */
	static const struct {
		const char	*text;
		const char	*want;
		int		 full;
	} cases[] = {
		{ "[backend]\ntype = pkcs11\n", BAD_TYPE, 0 },
		{ "[backend]\ntype = HSM\n", BAD_TYPE, 0 },
		{ "[backend]\ncache_size = 0\n",
		    BAD_CACHE, 0 },
		{ "[backend]\ncache_size = 65537\n",
		    BAD_CACHE, 0 },
		{ "[backend]\ncache_size = -1\n",
		    BAD_CACHE, 0 },
		{ "[backend]\ncache_size = 12abc\n",
		    BAD_CACHE, 0 },
		{ "[backend]\ncache_size = 0x10\n",
		    BAD_CACHE, 0 },
		{ "[backend]\ncache_size = +5\n",
		    BAD_CACHE, 0 },
		{ "[backend]\ncache_size = 99999999999999999999999\n",
		    BAD_CACHE, 0 },
		{ "[backend]\ncache_size = 1 2\n",
		    BAD_CACHE, 0 },
		{ "[token]\npin_min = 0\n",
		    "[token] pin_min: must be a number from 1 to 255", 0 },
		{ "[token]\npin_max = 256\n",
		    "[token] pin_max: must be a number from 1 to 255", 0 },
		{ "[token]\npin_min = 10\npin_max = 8\n",
		    "[token] pin_min: greater than pin_max (8)", 1 },
		{ "[token]\npin_min = 65\n",
		    "[token] pin_min: greater than pin_max (64)", 1 },
		{ "[token]\nmax_pin_tries = 0\n",
		    BAD_TRIES, 0 },
		{ "[token]\nmax_pin_tries = 101\n",
		    BAD_TRIES, 0 },
		{ "[token]\nmax_objects = 10000001\n", BAD_OBJECTS, 0 },
		{ "[token]\nmax_objects = -1\n", BAD_OBJECTS, 0 },
		{ "[token]\nmax_objects = 1e5\n", BAD_OBJECTS, 0 },
		{ "[token]\nmax_objects = 100 000\n", BAD_OBJECTS, 0 },
		{ "[token]\nmax_objects = none\n", BAD_OBJECTS, 0 },
		{ "[token]\nmax_objects = 99999999999999999999999\n",
		    BAD_OBJECTS, 0 },
		{ "[token]\nmax_objects = 5\nmax_objects = 6\n",
		    "[token] max_objects: given more than once (line 3)", 0 },
		{ "[token]\nmax_objects =\n",
		    "[token] max_objects: empty value", 0 },
		{ "[token]\nmax_bytes = 1099511627777\n", BAD_BYTES, 0 },
		{ "[token]\nmax_bytes = -1\n", BAD_BYTES, 0 },
		{ "[token]\nmax_bytes = 256M\n", BAD_BYTES, 0 },
		{ "[token]\nmax_bytes = 256 MiB\n", BAD_BYTES, 0 },
		{ "[token]\nmax_bytes = 2.5e8\n", BAD_BYTES, 0 },
		{ "[token]\nmax_bytes = 0x1000\n", BAD_BYTES, 0 },
		{ "[token]\nmax_bytes = none\n", BAD_BYTES, 0 },
		{ "[token]\nmax_bytes = 99999999999999999999999\n",
		    BAD_BYTES, 0 },
		{ "[token]\nmax_bytes = 18446744073709551616\n",
		    BAD_BYTES, 0 },
		{ "[token]\nmax_bytes = 5\nmax_bytes = 6\n",
		    "[token] max_bytes: given more than once (line 3)", 0 },
		{ "[token]\nmax_bytes =\n",
		    "[token] max_bytes: empty value", 0 },
		{ "[token]\ndeliver_derived = true\n",
		    "[token] deliver_derived: must be yes or no", 0 },
		{ "[token]\ndeliver_derived = YES\n",
		    "[token] deliver_derived: must be yes or no", 0 },
		{ "[log]\nlevel = verbose\n",
		    "[log] level: must be off, error, warning, info or debug", 0 },
		{ "[hsm]\ntoken_label = 123456789012345678901234567890123\n",
		    "[hsm] token_label: longer than 32 bytes", 0 },
	};
	static const char *const handles[] = {
		"0x80FFFFFF", "0x82000000", "81000001", "0x", "0xzz",
		"0x81000001x", "-0x81000001", "2164260865", "0x0",
	};
	struct m2m_conf *c = NULL;
	char text[1024], err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "%s%s",
		    cases[i].full ? HSM_CONF : "", cases[i].text);
		load_fails(text, cases[i].want);
	}
	for (i = 0; i < sizeof(handles) / sizeof(handles[0]); i++) {
		snprintf(text, sizeof(text), "[store]\npath = s\n[backend]\n"
		    "type = tpm\n[tpm]\ntcti = device:/dev/tpmrm0\n"
		    "primary_handle = %s\n", handles[i]);
		load_fails(text, "[tpm] primary_handle: must be a persistent "
		    "handle 0x81000000..0x81FFFFFF");
	}
	/* edges that are fine */
	assert_int_equal(load(HSM_CONF "[token]\npin_min = 1\npin_max = 1\n"
	    "max_pin_tries = 1\n[hsm]\n"
	    , &c, err, sizeof(err)), 0);
	assert_int_equal(c->pin_min, 1);
	assert_int_equal(c->pin_max, 1);
	assert_int_equal(c->max_pin_tries, 1);
	m2m_conf_free(c);
	c = NULL;
	/* max_objects: 0 is no limit, 1 the least */
	assert_int_equal(load(HSM_CONF "[token]\nmax_objects = 0\n", &c, err,
	    sizeof(err)), 0);
	assert_int_equal(c->max_objects, 0);
	m2m_conf_free(c);
	c = NULL;
	assert_int_equal(load(HSM_CONF "[token]\nmax_objects = 1\n", &c, err,
	    sizeof(err)), 0);
	assert_int_equal(c->max_objects, 1);
	m2m_conf_free(c);
	c = NULL;
	/*
	 * A MEF's token (deliver_derived = yes): no quota by default, in
	 * whatever order the keys come; a limit the file sets still holds.
	 */
	assert_int_equal(load(HSM_CONF "[token]\ndeliver_derived = yes\n",
	    &c, err, sizeof(err)), 0);
	assert_int_equal(c->max_objects, 0);
	assert_int_equal(c->max_bytes, 0);
	m2m_conf_free(c);
	c = NULL;
	assert_int_equal(load(HSM_CONF "[token]\nmax_objects = 5\n"
	    "deliver_derived = yes\n", &c, err, sizeof(err)), 0);
	assert_int_equal(c->max_objects, 5);
	assert_int_equal(c->max_bytes, 0);
	m2m_conf_free(c);
	c = NULL;
	assert_int_equal(load(HSM_CONF "[token]\ndeliver_derived = yes\n"
	    "max_bytes = 1000\n", &c, err, sizeof(err)), 0);
	assert_int_equal(c->max_objects, 0);
	assert_int_equal(c->max_bytes, 1000);
	m2m_conf_free(c);
	c = NULL;
	assert_int_equal(load(HSM_CONF "[token]\ndeliver_derived = no\n",
	    &c, err, sizeof(err)), 0);
	assert_int_equal(c->max_objects, 100000);
	assert_int_equal(c->max_bytes, 256 * 1024 * 1024);
	m2m_conf_free(c);
	c = NULL;
	/* max_bytes: 0 is no limit, 1 the least */
	assert_int_equal(load(HSM_CONF "[token]\nmax_bytes = 0\n", &c, err,
	    sizeof(err)), 0);
	assert_int_equal(c->max_bytes, 0);
	assert_int_equal(c->max_objects, 100000);
	m2m_conf_free(c);
	c = NULL;
	assert_int_equal(load(HSM_CONF "[token]\nmax_bytes = 1\n", &c, err,
	    sizeof(err)), 0);
	assert_int_equal(c->max_bytes, 1);
	m2m_conf_free(c);
	c = NULL;
	assert_int_equal(load(HSM_CONF "[hsm]\n[backend]\ncache_size = 010\n",
	    &c, err, sizeof(err)), 0);
	assert_int_equal(c->cache_size, 10);	/* decimal, not octal */
	m2m_conf_free(c);
}

#define HSM_NO_PIN \
	"[store]\npath = /s.db\n[backend]\ntype = hsm\n" \
	"[hsm]\nmodule = /m.so\ntoken_label = t\n"

static void
test_pin_env(void **state)
{
	struct m2m_conf *c = NULL;
	char err[256];

	(void)state;
	unsetenv(ENV_UNSET);
	load_fails(HSM_NO_PIN "pin = env:" ENV_UNSET "\n",
	    "[hsm] pin: environment variable " ENV_UNSET " is not set");
	load_fails(HSM_NO_PIN "pin = env:\n",
	    "[hsm] pin: env: needs a variable name");

	assert_int_equal(setenv(ENV_PIN, "", 1), 0);
	load_fails(HSM_NO_PIN "pin = env:" ENV_PIN "\n",
	    "[hsm] pin: environment variable " ENV_PIN " must hold 1 to 256 "
	    "bytes");

	assert_int_equal(setenv(ENV_PIN, PIN, 1), 0);
	assert_int_equal(load(HSM_NO_PIN "pin = env:" ENV_PIN "\n", &c, err,
	    sizeof(err)), 0);
	assert_int_equal(m2m_secret_len(c->hsm_pin), strlen(PIN));
	assert_memory_equal(m2m_secret_data(c->hsm_pin), PIN, strlen(PIN));
	m2m_conf_free(c);
	assert_int_equal(unsetenv(ENV_PIN), 0);
}

static void
test_pin_file(void **state)
{
	struct m2m_conf *c = NULL;
	char err[512], pinpath[512], text[1024], want[1024], big[300];

	(void)state;
	/* a trailing newline is cut, once */
	write_file("pin1", PIN "\n", strlen(PIN) + 1, pinpath,
	    sizeof(pinpath));
	snprintf(text, sizeof(text), HSM_NO_PIN "pin = file:%s\n", pinpath);
	assert_int_equal(load(text, &c, err, sizeof(err)), 0);
	assert_int_equal(m2m_secret_len(c->hsm_pin), strlen(PIN));
	assert_memory_equal(m2m_secret_data(c->hsm_pin), PIN, strlen(PIN));
	m2m_conf_free(c);

	write_file("pin2", "ab\n\n", 4, pinpath, sizeof(pinpath));
	snprintf(text, sizeof(text), HSM_NO_PIN "pin = file:%s\n", pinpath);
	c = NULL;
	assert_int_equal(load(text, &c, err, sizeof(err)), 0);
	assert_int_equal(m2m_secret_len(c->hsm_pin), 3);
	assert_memory_equal(m2m_secret_data(c->hsm_pin), "ab\n", 3);
	m2m_conf_free(c);

	/* no newline; 256 bytes is the most */
	memset(big, 'p', sizeof(big));
	write_file("pin3", big, 256, pinpath, sizeof(pinpath));
	snprintf(text, sizeof(text), HSM_NO_PIN "pin = file:%s\n", pinpath);
	c = NULL;
	assert_int_equal(load(text, &c, err, sizeof(err)), 0);
	assert_int_equal(m2m_secret_len(c->hsm_pin), 256);
	m2m_conf_free(c);

	write_file("pin4", big, 257, pinpath, sizeof(pinpath));
	snprintf(text, sizeof(text), HSM_NO_PIN "pin = file:%s\n", pinpath);
	snprintf(want, sizeof(want), "[hsm] pin: %s is longer than 256 bytes",
	    pinpath);
	load_fails(text, want);

	write_file("pin5", "\n", 1, pinpath, sizeof(pinpath));
	snprintf(text, sizeof(text), HSM_NO_PIN "pin = file:%s\n", pinpath);
	snprintf(want, sizeof(want), "[hsm] pin: %s holds an empty PIN",
	    pinpath);
	load_fails(text, want);

	snprintf(text, sizeof(text), HSM_NO_PIN "pin = file:%s/nope\n",
	    tmpdir);
	snprintf(want, sizeof(want), "[hsm] pin: cannot open %s/nope: "
	    "No such file or directory", tmpdir);
	load_fails(text, want);

	snprintf(text, sizeof(text), HSM_NO_PIN "pin = file:%s\n", tmpdir);
	snprintf(want, sizeof(want), "[hsm] pin: %s is not a regular file",
	    tmpdir);
	load_fails(text, want);

	load_fails(HSM_NO_PIN "pin = file:pin1\n",
	    "[hsm] pin: file: needs an absolute path");
}

/*
 * A "file:" PIN open to group or others, or owned by someone else than this
 * user or root, is refused with the file and its mode (as OpenSSH refuses
 * such a key); 0600 and 0400 pass.
 */
static void
test_pin_file_mode(void **state)
{
	static const mode_t bad[] = { 0640, 0604, 0644, 0620, 0602, 0610,
	    0666, 0700 | 0070 };
	struct m2m_conf *c = NULL;
	char pinpath[512], text[1024], want[1024];
	size_t i;

	(void)state;
	write_file("pinmode", PIN "\n", strlen(PIN) + 1, pinpath,
	    sizeof(pinpath));
	snprintf(text, sizeof(text), HSM_NO_PIN "pin = file:%s\n", pinpath);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(chmod(pinpath, bad[i]), 0);
		snprintf(want, sizeof(want), "[hsm] pin: %s has mode %04o: "
		    "group or others may access it (chmod go= it)", pinpath,
		    (unsigned int)bad[i]);
		load_fails(text, want);
	}
	assert_int_equal(chmod(pinpath, 0400), 0);
	assert_int_equal(load(text, &c, NULL, 0), 0);
	assert_memory_equal(m2m_secret_data(c->hsm_pin), PIN, strlen(PIN));
	m2m_conf_free(c);
	c = NULL;
	assert_int_equal(chmod(pinpath, 0600), 0);

	/* another user's file, even with a good mode (root can make one) */
	if (geteuid() != 0) {
		print_message("not root: the owner check is not tested\n");
		return;
	}
	assert_int_equal(chown(pinpath, 4242, 4242), 0);
	snprintf(want, sizeof(want), "[hsm] pin: %s is owned by uid 4242, "
	    "not by this process's user (uid 0) or root", pinpath);
	load_fails(text, want);
	assert_int_equal(chown(pinpath, 0, 0), 0);
	assert_int_equal(load(text, &c, NULL, 0), 0);
	m2m_conf_free(c);
}

/* Load conf_path with stderr going to a file; its text into out. */
static int
load_capture(struct m2m_conf **ret, char *out, size_t outlen)
{
	char path[600];
	ssize_t n;
	int fd, saved, r;

	snprintf(path, sizeof(path), "%s/stderr.txt", tmpdir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd != -1);
	fflush(stderr);
	saved = dup(2);
	assert_true(saved != -1);
	assert_int_equal(dup2(fd, 2), 2);
	r = m2m_conf_load(conf_path, ret, NULL, 0);
	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	n = pread(fd, out, outlen - 1, 0);
	assert_true(n >= 0);
	out[n] = '\0';
	close(fd);
	unlink(path);
	return r;
}

/*
 * A config file writable by group or others is loaded, with one error line
 * naming it and its mode; one that holds the HSM PIN itself and that group
 * or others may read, with another (found in review: in the documented
 * layout the daemon's group, which its flow callers share, could read
 * it); a 0600 file logs nothing, nor a 0644 one whose PIN is elsewhere.
 */
static void
test_conf_writable_warns(void **state)
{
	static const char env_pin[] = HSM_NO_PIN "pin = env:M2M_TEST_PIN\n";
	struct m2m_conf *c = NULL;
	char out[2048], want[1024], pin[1024];

	(void)state;
	write_file("test.conf", HSM_CONF, strlen(HSM_CONF), conf_path,
	    sizeof(conf_path));
	snprintf(pin, sizeof(pin), "m2mtoken: error: %s: holds the HSM PIN "
	    "itself and group or others may read it (mode %%04o): put the PIN "
	    "in a file only this user reads (pin = file:PATH) or chmod go= "
	    "it\n", conf_path);
	assert_int_equal(chmod(conf_path, 0664), 0);
	assert_int_equal(load_capture(&c, out, sizeof(out)), 0);
	m2m_conf_free(c);
	c = NULL;
	snprintf(want, sizeof(want), "m2mtoken: error: %s: writable by group "
	    "or others (mode 0664): whoever can write it chooses the store "
	    "and the PKCS#11 module this process loads (chmod go-w it)\n",
	    conf_path);
	assert_non_null(strstr(out, want));
	snprintf(want, sizeof(want), pin, 0664);
	assert_non_null(strstr(out, want));
	assert_int_equal(chmod(conf_path, 0646), 0);
	assert_int_equal(load_capture(&c, out, sizeof(out)), 0);
	m2m_conf_free(c);
	c = NULL;
	assert_non_null(strstr(out, "(mode 0646)"));
	assert_int_equal(chmod(conf_path, 0640), 0);
	assert_int_equal(load_capture(&c, out, sizeof(out)), 0);
	m2m_conf_free(c);
	c = NULL;
	snprintf(want, sizeof(want), pin, 0640);
	assert_string_equal(out, want);
	assert_int_equal(chmod(conf_path, 0600), 0);
	assert_int_equal(load_capture(&c, out, sizeof(out)), 0);
	m2m_conf_free(c);
	c = NULL;
	assert_string_equal(out, "");
	/* the PIN elsewhere: a readable file is fine */
	write_file("test.conf", env_pin, strlen(env_pin), conf_path,
	    sizeof(conf_path));
	assert_int_equal(setenv("M2M_TEST_PIN", "1234", 1), 0);
	assert_int_equal(chmod(conf_path, 0644), 0);
	assert_int_equal(load_capture(&c, out, sizeof(out)), 0);
	m2m_conf_free(c);
	assert_string_equal(out, "");
	assert_int_equal(unsetenv("M2M_TEST_PIN"), 0);
	assert_int_equal(chmod(conf_path, 0600), 0);
}

/*
 * A PIN file path or variable name is shown with its control bytes as '?'
 * (found by tests/fuzz/fuzz_conf: they went into the one-line message).
 */
static void
test_shown_names_printable(void **state)
{
	(void)state;
	load_fails(HSM_NO_PIN "pin = file:/no\x01such\x1b[2J\r/p\x7fin\n",
	    "[hsm] pin: cannot open /no?such?[2J?/p?in: "
	    "No such file or directory");
	load_fails(HSM_NO_PIN "pin = env:M2M\x1b[1mNO\rPIN\n",
	    "[hsm] pin: environment variable M2M?[1mNO?PIN is not set");
}

/*
 * The same for a PIN file that exists but is open to others: its mode
 * message shows the path with '?' too (found in review).
 */
static void
test_shown_mode_message(void **state)
{
	char path[512], text[1024], want[1024];
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/p\x1b[31mX", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, PIN "\n", strlen(PIN) + 1),
	    (ssize_t)strlen(PIN) + 1);
	close(fd);
	assert_int_equal(chmod(path, 0644), 0);
	snprintf(text, sizeof(text), HSM_NO_PIN "pin = file:%s\n", path);
	snprintf(want, sizeof(want), "[hsm] pin: %s/p?[31mX has mode 0644: "
	    "group or others may access it (chmod go= it)", tmpdir);
	load_fails(text, want);
	unlink(path);
}

static void
test_pin_literal(void **state)
{
	struct m2m_conf *c = NULL;
	char err[256];

	(void)state;
	/* ';' and '#' not after a blank belong to the value */
	assert_int_equal(load(HSM_NO_PIN "pin = 12;34#56 ; the PIN\n", &c,
	    err, sizeof(err)), 0);
	assert_int_equal(m2m_secret_len(c->hsm_pin), 8);
	assert_memory_equal(m2m_secret_data(c->hsm_pin), "12;34#56", 8);
	m2m_conf_free(c);
}

static void
test_inline_comments(void **state)
{
	struct m2m_conf *c = NULL;
	char err[256];

	(void)state;
	assert_int_equal(load(
	    "; a comment\n"
	    "# another\n"
	    "   ; indented comment\n"
	    "[store] ; why\n"
	    "path = /var/lib/m2mtoken/store.db        ; SQLite\n"
	    "[backend]\t# the backend\n"
	    "type = hsm\t\t\t# hsm | tpm\n"
	    "cache_size = 128 # loaded keys\n"
	    "[hsm]                                    ; any PKCS#11 HSM\n"
	    "module = /usr/lib/softhsm/libsofthsm2.so # path\n"
	    "token_label = m2m#backing ; '#' inside a value\n"
	    "pin = " PIN " # the PIN\n"
	    "[log]\n"
	    "level = info;\n"		/* ';' not after a blank: value */
	    , &c, err, sizeof(err)), M2M_ERR_CONFIG);
	assert_null(strstr(err, PIN));

	c = NULL;
	assert_int_equal(load(
	    "; a comment\n"
	    "# another\n"
	    "   ; indented comment\n"
	    "[store] ; why\n"
	    "path = /var/lib/m2mtoken/store.db        ; SQLite\n"
	    "[backend]\t# the backend\n"
	    "type = hsm\t\t\t# hsm | tpm\n"
	    "cache_size = 128 # loaded keys\n"
	    "[hsm]                                    ; any PKCS#11 HSM\n"
	    "module = /usr/lib/softhsm/libsofthsm2.so # path\n"
	    "token_label = m2m#backing ; '#' inside a value\n"
	    "pin = " PIN " # the PIN\n"
	    "[log]\n"
	    "level = info ;\n"
	    , &c, err, sizeof(err)), 0);
	assert_string_equal(c->store_path, "/var/lib/m2mtoken/store.db");
	assert_int_equal(c->backend, M2M_BACKEND_HSM);
	assert_int_equal(c->cache_size, 128);
	assert_string_equal(c->hsm_module, "/usr/lib/softhsm/libsofthsm2.so");
	assert_string_equal(c->hsm_token_label, "m2m#backing");
	assert_memory_equal(m2m_secret_data(c->hsm_pin), PIN, strlen(PIN));
	assert_int_equal(m2m_secret_len(c->hsm_pin), strlen(PIN));
	assert_int_equal(c->log_level, M2M_LOG_INFO);
	m2m_conf_free(c);

	/* CRLF line ends and a UTF-8 byte order mark */
	c = NULL;
	assert_int_equal(load("\xef\xbb\xbf[store]\r\npath = /s.db\r\n"
	    "[backend]\r\ntype = tpm # x\r\n[tpm]\r\ntcti = mssim:\r\n",
	    &c, err, sizeof(err)), 0);
	assert_string_equal(c->store_path, "/s.db");
	assert_string_equal(c->tpm_tcti, "mssim:");
	m2m_conf_free(c);
}

static void
test_file_errors(void **state)
{
	struct m2m_conf *c = SENTINEL_CONF;
	char err[512], want[1024], path[512], line[400];

	(void)state;
	snprintf(path, sizeof(path), "%s/absent.conf", tmpdir);
	assert_int_equal(m2m_conf_load(path, &c, err, sizeof(err)),
	    M2M_ERR_CONFIG);
	snprintf(want, sizeof(want), "%s: cannot open: No such file or "
	    "directory", path);
	assert_string_equal(err, want);
	assert_ptr_equal(c, SENTINEL_CONF);

	assert_int_equal(m2m_conf_load(tmpdir, &c, err, sizeof(err)),
	    M2M_ERR_CONFIG);
	snprintf(want, sizeof(want), "%s: cannot open: not a regular file",
	    tmpdir);
	assert_string_equal(err, want);

	/* NUL bytes */
	write_file("nul.conf", "[store]\npath = /a\0b\n", 20, path,
	    sizeof(path));
	assert_int_equal(m2m_conf_load(path, &c, err, sizeof(err)),
	    M2M_ERR_CONFIG);
	snprintf(want, sizeof(want), "%s: contains a NUL byte", path);
	assert_string_equal(err, want);

	/* a line longer than inih takes */
	memset(line, 'a', sizeof(line));
	memcpy(line, "[store]\npath = /", 16);
	line[sizeof(line) - 1] = '\0';
	load_fails(line, "line 2: line too long (at most 197 bytes)");

	/* larger than 64 KiB */
	{
		char *huge = malloc(65537);

		assert_non_null(huge);
		memset(huge, '\n', 65537);
		write_file("huge.conf", huge, 65537, path, sizeof(path));
		free(huge);
		assert_int_equal(m2m_conf_load(path, &c, err, sizeof(err)),
		    M2M_ERR_CONFIG);
		snprintf(want, sizeof(want), "%s: larger than 65536 bytes",
		    path);
		assert_string_equal(err, want);
	}
	assert_ptr_equal(c, SENTINEL_CONF);

	/* bad arguments; a NULL or short errbuf is fine */
	assert_int_equal(m2m_conf_load(NULL, &c, err, sizeof(err)),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(m2m_conf_load(path, NULL, err, sizeof(err)),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(m2m_conf_load(path, &c, NULL, 0), M2M_ERR_CONFIG);
	memset(err, 'X', sizeof(err));
	assert_int_equal(m2m_conf_load(path, &c, err, 8), M2M_ERR_CONFIG);
	assert_int_equal(strlen(err), 7);
	assert_int_equal(err[8], 'X');
	assert_ptr_equal(c, SENTINEL_CONF);
}

/* Whatever goes wrong, the PIN never appears in the message. */
static void
test_errors_never_show_pin(void **state)
{
	static const char *const texts[] = {
		HSM_CONF "[hsm]\npin = " PIN "\n",
		HSM_CONF "[hsm]\nbogus = " PIN "\n",
		HSM_CONF "[backend]\ntype = " PIN "\n",
		HSM_CONF "[backend]\ncache_size = " PIN "\n",
		HSM_CONF "[tpm]\nprimary_handle = " PIN "\n",
		HSM_CONF "[log]\nlevel = " PIN "\n",
		HSM_CONF "[token]\npin_min = " PIN "\n",
		HSM_CONF PIN "\n",
		HSM_CONF "  " PIN "\n",
		"[store]\n" PIN " = 1\n",
		"[" PIN "]\n",
		"[backend]\ntype = hsm\n[hsm]\npin = " PIN "\n",
		HSM_NO_PIN "pin = env:" ENV_UNSET "\n",
	};
	struct m2m_conf *c = SENTINEL_CONF;
	char err[512], pinpath[512], text[1024];
	size_t i;

	(void)state;
	unsetenv(ENV_UNSET);
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		err[0] = '\0';
		assert_int_equal(load(texts[i], &c, err, sizeof(err)),
		    M2M_ERR_CONFIG);
		assert_true(strlen(err) > strlen(conf_path));
		if (strstr(err, PIN) != NULL)
			fail_msg("case %zu: %s", i, err);
	}
	/* the PIN in a file that is too long, or in the environment */
	write_file("longpin", PIN PIN PIN PIN PIN PIN PIN PIN PIN PIN PIN PIN
	    PIN PIN PIN PIN PIN PIN PIN PIN, 20 * strlen(PIN), pinpath,
	    sizeof(pinpath));
	snprintf(text, sizeof(text), HSM_NO_PIN "pin = file:%s\n", pinpath);
	assert_int_equal(load(text, &c, err, sizeof(err)), M2M_ERR_CONFIG);
	assert_null(strstr(err, PIN));
	assert_int_equal(setenv(ENV_PIN, PIN, 1), 0);
	assert_int_equal(load(HSM_NO_PIN "pin = env:" ENV_PIN "\n[tpm]\n"
	    "tcti = 0\n[x]\n", &c, err, sizeof(err)), M2M_ERR_CONFIG);
	assert_null(strstr(err, PIN));
	assert_int_equal(unsetenv(ENV_PIN), 0);
	assert_ptr_equal(c, SENTINEL_CONF);
}

static void
test_default_path(void **state)
{
	(void)state;
	assert_int_equal(unsetenv("M2MTOKEN_CONF"), 0);
	assert_string_equal(m2m_conf_default_path(),
	    "/etc/m2mtoken/m2mtoken.conf");
	assert_int_equal(setenv("M2MTOKEN_CONF", "", 1), 0);
	assert_string_equal(m2m_conf_default_path(),
	    "/etc/m2mtoken/m2mtoken.conf");
	assert_int_equal(setenv("M2MTOKEN_CONF", "/x/y.conf", 1), 0);
	assert_string_equal(m2m_conf_default_path(), "/x/y.conf");
	assert_int_equal(unsetenv("M2MTOKEN_CONF"), 0);
}

/* [daemon]: client mode, and nothing of a store or a backend with it */
static void
test_daemon_section(void **state)
{
	static const char *const barred[] = { "store", "backend", "hsm",
	    "tpm" };
	struct m2m_conf *c = NULL;
	char err[512], text[256], want[128];
	size_t i;

	(void)state;
	assert_int_equal(load("[daemon]\nsocket = /run/m2mtoken/p.sock\n"
	    "[log]\nlevel = debug\n", &c, err, sizeof(err)), 0);
	assert_string_equal(c->daemon_socket, "/run/m2mtoken/p.sock");
	assert_int_equal(c->daemon_timeout, 60);
	assert_null(c->store_path);
	assert_true(c->log_level_set);
	m2m_conf_free(c);
	assert_int_equal(m2m_conf_names_daemon(conf_path), 1);
	c = NULL;
	assert_int_equal(load("[daemon]\nsocket = /s\ntimeout = 0\n", &c,
	    err, sizeof(err)), 0);
	assert_int_equal(c->daemon_timeout, 0);
	m2m_conf_free(c);
	for (i = 0; i < sizeof(barred) / sizeof(barred[0]); i++) {
		/* even an empty section: it is named */
		snprintf(text, sizeof(text), "[daemon]\nsocket = /s\n[%s]\n",
		    barred[i]);
		snprintf(want, sizeof(want), "[%s]: not allowed with [daemon] "
		    "socket (client mode keeps no store or backend)",
		    barred[i]);
		load_fails(text, want);
	}
	load_fails("[daemon]\nsocket = run/p.sock\n", "[daemon] socket: "
	    "must be an absolute path shorter than 108 bytes");
	load_fails("[daemon]\nsocket = /s\ntimeout = 86401\n",
	    "[daemon] timeout: must be a number from 0 to 86400");
	load_fails(HSM_CONF "[daemon]\ntimeout = 5\n",
	    "[daemon] timeout: without [daemon] socket");
	/* a local-mode file, a missing one: not client mode */
	assert_int_equal(load(HSM_CONF, &c, err, sizeof(err)), 0);
	m2m_conf_free(c);
	assert_int_equal(m2m_conf_names_daemon(conf_path), 0);
	assert_int_equal(m2m_conf_names_daemon("/nonexistent/m2m.conf"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_hsm),
		cmocka_unit_test(test_good_tpm),
		cmocka_unit_test(test_tpm_mode),
		cmocka_unit_test(test_missing_required),
		cmocka_unit_test(test_unknown_section_and_key),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_pin_env),
		cmocka_unit_test(test_pin_file),
		cmocka_unit_test(test_pin_file_mode),
		cmocka_unit_test(test_conf_writable_warns),
		cmocka_unit_test(test_pin_literal),
		cmocka_unit_test(test_shown_mode_message),
		cmocka_unit_test(test_shown_names_printable),
		cmocka_unit_test(test_inline_comments),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_errors_never_show_pin),
		cmocka_unit_test(test_default_path),
		cmocka_unit_test(test_daemon_section),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
