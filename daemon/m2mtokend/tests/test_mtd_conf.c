/*
 * Unit tests of m2mtokend's configuration (daemon/m2mtokend/conf.c): the
 * sections and keys, their defaults and checks, the [caller] rules read
 * from the same text, and the PIN file / systemd credential.
 */
#include <sys/stat.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../conf.h"
#include "../log.h"

#define TOKEN "[token]\nmodule = /usr/lib/libm2mtoken.so\nlabel = dev\n" \
	"pin_file = /etc/m2mtoken/pin\n"

static void
test_full(void **state)
{
	struct mtd_conf *c = NULL;
	char err[256];

	(void)state;
	assert_int_equal(mtd_conf_parse_string(
	    "[daemon]\nsocket = /run/x.sock\nsocket_mode = 0640\n"
	    "socket_group = m2m\nmax_connections = 8\nidle_timeout = 5\n"
	    "log_level = debug\n"
	    "[token]\nmodule = /lib/m.so\nconfig = /etc/m.conf\n"
	    "label = gw\npin_credential = pin\n"
	    "[mef]\nhost = 127.0.0.1\nport = 8443\nfqdn = mef.example.com\n"
	    "timeout = 3\n[enrolee]\nkpm_id = kpm-1\n[target]\nid = /cse-1\n"
	    "[caller ops]\nuid = 0\nmethods = *\nkeys = *\n",
	    &c, err, sizeof(err)), 0);
	assert_string_equal(c->socket_path, "/run/x.sock");
	assert_int_equal(c->socket_mode, 0640);
	assert_string_equal(c->socket_group, "m2m");
	assert_int_equal(c->max_connections, 8);
	assert_int_equal(c->idle_timeout, 5);
	assert_int_equal(c->log_level, MTD_LOG_DEBUG);
	assert_string_equal(c->module, "/lib/m.so");
	assert_string_equal(c->module_config, "/etc/m.conf");
	assert_string_equal(c->token_label, "gw");
	assert_null(c->pin_file);
	assert_string_equal(c->pin_credential, "pin");
	assert_string_equal(c->mef_host, "127.0.0.1");
	assert_int_equal(c->mef_port, 8443);
	assert_string_equal(c->mef_fqdn, "mef.example.com");
	assert_int_equal(c->mef_timeout, 3);
	assert_string_equal(c->kpm_id, "kpm-1");
	assert_string_equal(c->target_id, "/cse-1");
	assert_int_equal(m2m_acl_rules(c->acl), 1);
	mtd_conf_free(c);
}

static void
test_defaults(void **state)
{
	struct mtd_conf *c = NULL;
	char err[256];

	(void)state;
	assert_int_equal(mtd_conf_parse_string(TOKEN, &c, err, sizeof(err)),
	    0);
	assert_string_equal(c->socket_path, MTD_SOCKET_DEFAULT);
	assert_int_equal(c->socket_mode, 0660);
	assert_null(c->socket_group);
	assert_int_equal(c->max_connections, 64);
	assert_int_equal(c->idle_timeout, 30);
	assert_int_equal(c->log_level, MTD_LOG_INFO);
	assert_int_equal(c->mef_port, 443);
	assert_int_equal(c->mef_timeout, 10);
	assert_null(c->mef_host);
	assert_null(c->kpm_id);
	assert_int_equal(m2m_acl_rules(c->acl), 0);
	mtd_conf_free(c);
}

static void
test_errors(void **state)
{
	static const struct {
		const char	*text;
		const char	*err;
	} t[] = {
		{ TOKEN "[nope]\nx = 1\n", "line 6: unknown section [nope]" },
		{ TOKEN "[daemon]\nsockets = /x\n",
		    "line 6: [daemon] unknown key sockets" },
		{ TOKEN "[daemon]\nsocket = x.sock\n",
		    "line 6: [daemon] socket: needs an absolute path" },
		{ TOKEN "[daemon]\nsocket = /a\nsocket = /b\n",
		    "line 7: [daemon] socket given twice" },
		{ TOKEN "[daemon]\nmax_connections = 0\n",
		    "line 6: [daemon] max_connections: a number 1..4096" },
		{ TOKEN "[daemon]\nmax_connections = 12x\n",
		    "line 6: [daemon] max_connections: a number 1..4096" },
		{ TOKEN "[daemon]\nsocket_mode = 0999\n",
		    "line 6: [daemon] socket_mode: an octal number 0..777" },
		{ TOKEN "[daemon]\nlog_level = loud\n",
		    "line 6: [daemon] log_level: error, warning, info or "
		    "debug" },
		{ TOKEN "[mef]\nport = 70000\n",
		    "line 6: [mef] port: a number 1..65535" },
		{ TOKEN "[mef]\nhost = 127.0.0.1\n",
		    "[mef] needs host and fqdn together" },
		{ "[token]\nmodule = /m.so\npin_file = /p\n",
		    "[token] needs module and label" },
		{ "[token]\nmodule = /m.so\nlabel = x\n",
		    "[token] needs pin_file or pin_credential (the PIN never "
		    "comes from argv or env)" },
		{ "[token]\nlabel = 0123456789012345678901234567890123\n",
		    "line 2: [token] label: at most 32 bytes" },
		{ "[token]\npin_credential = ../pin\n",
		    "line 2: [token] pin_credential: a name, not a path" },
		{ TOKEN "[caller x]\nuid = 0\n", "rule x: no methods" },
		{ "no section\n", "line 1: syntax error" },
	};
	struct mtd_conf *c;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		c = NULL;
		err[0] = '\0';
		if (mtd_conf_parse_string(t[i].text, &c, err,
		    sizeof(err)) != -1)
			fail_msg("case %zu accepted", i);
		assert_null(c);
		if (strcmp(err, t[i].err) != 0)
			fail_msg("case %zu: '%s', want '%s'", i, err, t[i].err);
	}
}

/* A PIN file under a fresh temp dir, with mode. */
static void
pin_file(char *dir, char *path, size_t cap, const char *pin, mode_t mode)
{
	FILE *f;

	snprintf(path, cap, "%s/pin", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs(pin, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void
test_pin(void **state)
{
	char dir[] = "/tmp/test_mtd_conf.XXXXXX", path[256], text[512];
	char pin[MTD_PIN_MAX + 1], err[256], *big;
	struct mtd_conf *c = NULL;
	size_t n;

	(void)state;
	assert_non_null(mkdtemp(dir));
	pin_file(dir, path, sizeof(path), "1234\n", 0600);
	snprintf(text, sizeof(text), "[token]\nmodule = /m.so\nlabel = x\n"
	    "pin_file = %s\n", path);
	assert_int_equal(mtd_conf_parse_string(text, &c, err, sizeof(err)),
	    0);
	unsetenv("CREDENTIALS_DIRECTORY");
	assert_int_equal(mtd_conf_read_pin(c, pin, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 4);
	assert_string_equal(pin, "1234");

	/* group- or world-readable: refused, and the message says so */
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(mtd_conf_read_pin(c, pin, &n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "has mode 0640: group or others may "
	    "access it (chmod go= it)"));
	assert_null(strstr(err, "1234"));

	/* empty, and longer than the cap */
	pin_file(dir, path, sizeof(path), "\n", 0600);
	assert_int_equal(mtd_conf_read_pin(c, pin, &n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is empty"));
	big = malloc(MTD_PIN_MAX + 2);
	memset(big, '7', MTD_PIN_MAX + 1);
	big[MTD_PIN_MAX + 1] = '\0';
	pin_file(dir, path, sizeof(path), big, 0600);
	free(big);
	assert_int_equal(mtd_conf_read_pin(c, pin, &n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "longer than 256 bytes"));

	/* missing, and not a regular file */
	unlink(path);
	assert_int_equal(mtd_conf_read_pin(c, pin, &n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file"));
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(mtd_conf_read_pin(c, pin, &n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is not a regular file"));
	rmdir(path);
	mtd_conf_free(c);

	/* a systemd credential */
	c = NULL;
	assert_int_equal(mtd_conf_parse_string("[token]\nmodule = /m.so\n"
	    "label = x\npin_credential = pin\n", &c, err, sizeof(err)), 0);
	assert_int_equal(mtd_conf_read_pin(c, pin, &n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "$CREDENTIALS_DIRECTORY is not"));
	pin_file(dir, path, sizeof(path), "5678", 0400);
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	assert_int_equal(mtd_conf_read_pin(c, pin, &n, err, sizeof(err)), 0);
	assert_string_equal(pin, "5678");
	unsetenv("CREDENTIALS_DIRECTORY");
	mtd_conf_free(c);
	unlink(path);
	rmdir(dir);
}

static void
test_load(void **state)
{
	char dir[] = "/tmp/test_mtd_conf.XXXXXX", path[256], err[256];
	struct mtd_conf *c = NULL;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/m2mtokend.conf", dir);
	assert_int_equal(mtd_conf_load(path, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot open"));
	assert_non_null(f = fopen(path, "w"));
	fputs(TOKEN, f);
	fclose(f);
	assert_int_equal(mtd_conf_load(path, &c, err, sizeof(err)), 0);
	assert_string_equal(c->token_label, "dev");
	mtd_conf_free(c);
	/* a NUL byte in the file */
	assert_non_null(f = fopen(path, "w"));
	fwrite(TOKEN "\0x", 1, sizeof(TOKEN) + 1, f);
	fclose(f);
	c = NULL;
	assert_int_equal(mtd_conf_load(path, &c, err, sizeof(err)), -1);
	assert_string_equal(err, "a NUL byte in the file");
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_pin),
		cmocka_unit_test(test_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
