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

#include <m2mtoken/conf-path.h>

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
	assert_int_equal(c->max_conn_per_uid, 2);
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
	assert_int_equal(c->max_conn_per_uid, 16);
	assert_int_equal(c->idle_timeout, 30);
	assert_int_equal(c->log_level, MTD_LOG_INFO);
	assert_int_equal(c->mef_port, 443);
	assert_int_equal(c->mef_timeout, 10);
	assert_null(c->mef_host);
	assert_null(c->kpm_id);
	assert_int_equal(m2m_acl_rules(c->acl), 0);
	mtd_conf_free(c);
}

/* [pkcs11]: every key, the defaults, and a daemon of client mode only. */
static void
test_pkcs11(void **state)
{
	struct mtd_conf *c = NULL;
	char err[256];

	(void)state;
	assert_int_equal(mtd_conf_parse_string(TOKEN, &c, err, sizeof(err)),
	    0);
	assert_null(c->p11_socket);
	assert_int_equal(c->p11_socket_mode, 0660);
	assert_null(c->p11_socket_group);
	assert_int_equal(c->p11_max_clients, 64);
	assert_int_equal(c->p11_max_per_uid, 16);
	assert_int_equal(c->p11_frame_max, 1048576);
	assert_int_equal(c->p11_stall_timeout, 10);
	assert_int_equal(c->p11_hello_timeout, 5);
	assert_int_equal(c->p11_idle_timeout, 0);
	mtd_conf_free(c);
	c = NULL;
	assert_int_equal(mtd_conf_parse_string(TOKEN
	    "[pkcs11]\nsocket = /run/m2mtoken/pkcs11.sock\n"
	    "socket_mode = 0600\nsocket_group = m2m-clients\n"
	    "max_clients = 2\nframe_max = 4096\nstall_timeout = 1\n"
	    "hello_timeout = 60\nidle_timeout = 86400\n",
	    &c, err, sizeof(err)), 0);
	assert_string_equal(c->p11_socket, "/run/m2mtoken/pkcs11.sock");
	assert_int_equal(c->p11_socket_mode, 0600);
	assert_string_equal(c->p11_socket_group, "m2m-clients");
	assert_int_equal(c->p11_max_clients, 2);
	assert_int_equal(c->p11_max_per_uid, 1);
	assert_int_equal(c->p11_frame_max, 4096);
	assert_int_equal(c->p11_stall_timeout, 1);
	assert_int_equal(c->p11_hello_timeout, 60);
	assert_int_equal(c->p11_idle_timeout, 86400);
	mtd_conf_free(c);
	c = NULL;
	/* client mode only: no label, no PIN */
	assert_int_equal(mtd_conf_parse_string(
	    "[pkcs11]\nsocket = /p.sock\nframe_max = 16777216\n"
	    "[token]\nmodule = /m.so\n"
	    "[caller gw]\nuser = root\ntokens = gw-*\n",
	    &c, err, sizeof(err)), 0);
	assert_null(c->token_label);
	assert_null(c->pin_file);
	assert_null(c->pin_credential);
	assert_int_equal(c->p11_frame_max, 16777216);
	assert_int_equal(m2m_acl_rules(c->acl), 1);
	mtd_conf_free(c);
}

/* The caps per uid: their defaults (a quarter, at least 1), set, in range. */
static void
test_per_uid(void **state)
{
	struct mtd_conf *c = NULL;
	char err[256];

	(void)state;
	assert_int_equal(mtd_conf_parse_string(TOKEN
	    "[daemon]\nmax_connections = 3\n[pkcs11]\nmax_clients = 9\n",
	    &c, err, sizeof(err)), 0);
	assert_int_equal(c->max_conn_per_uid, 1);
	assert_int_equal(c->p11_max_per_uid, 2);
	mtd_conf_free(c);
	c = NULL;
	assert_int_equal(mtd_conf_parse_string(TOKEN
	    "[daemon]\nmax_connections = 4\nmax_connections_per_uid = 4\n"
	    "[pkcs11]\nmax_clients_per_uid = 64\n", &c, err, sizeof(err)), 0);
	assert_int_equal(c->max_conn_per_uid, 4);
	assert_int_equal(c->p11_max_per_uid, 64);
	mtd_conf_free(c);
	c = NULL;
	assert_int_equal(mtd_conf_parse_string(TOKEN
	    "[daemon]\nmax_connections = 4\nmax_connections_per_uid = 5\n",
	    &c, err, sizeof(err)), -1);
	assert_string_equal(err, "[daemon] max_connections_per_uid: a number "
	    "1..4 (max_connections)");
	assert_null(c);
	assert_int_equal(mtd_conf_parse_string(TOKEN
	    "[pkcs11]\nmax_clients_per_uid = 65\n", &c, err, sizeof(err)),
	    -1);
	assert_string_equal(err, "[pkcs11] max_clients_per_uid: a number "
	    "1..64 (max_clients)");
	assert_null(c);
}

/* A file under dir with text and mode. */
static void
put_file(const char *path, const char *text, mode_t mode)
{
	FILE *f;

	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

/* The rights of the daemon's files, and a module config in client mode. */
static void
test_check_files(void **state)
{
	char dir[] = "/tmp/mtd_conf_files.XXXXXX", conf[300], mod[300];
	char text[700], err[256];
	struct mtd_conf *c = NULL;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/d.conf", dir);
	snprintf(mod, sizeof(mod), "%s/m.conf", dir);
	snprintf(text, sizeof(text), TOKEN "config = %s\n", mod);
	assert_int_equal(mtd_conf_parse_string(text, &c, err, sizeof(err)),
	    0);
	put_file(conf, text, 0640);
	put_file(mod, "[store]\npath = /nonexistent/s.db\n", 0600);
	assert_int_equal(mtd_conf_check_files(c, conf, err, sizeof(err)), 0);
	/* others may read the daemon's configuration */
	assert_int_equal(chmod(conf, 0644), 0);
	assert_int_equal(mtd_conf_check_files(c, conf, err, sizeof(err)),
	    -1);
	snprintf(text, sizeof(text), "configuration %s has mode 0644: "
	    "others may access it (chmod o= it)", conf);
	assert_string_equal(err, text);
	assert_int_equal(chmod(conf, 0600), 0);
	/* others may read the module's */
	assert_int_equal(chmod(mod, 0604), 0);
	assert_int_equal(mtd_conf_check_files(c, conf, err, sizeof(err)),
	    -1);
	snprintf(text, sizeof(text), "module configuration %s has mode "
	    "0604: others may access it (chmod o= it)", mod);
	assert_string_equal(err, text);
	/* its group may read the HSM PIN written in it (found in review) */
	put_file(mod, "[hsm]\npin = 1234\n", 0640);
	assert_int_equal(mtd_conf_check_files(c, conf, err, sizeof(err)),
	    -1);
	snprintf(text, sizeof(text), "module configuration %s holds the HSM "
	    "PIN itself and has mode 0640: its group may read it (put the PIN "
	    "in a file of the daemon's user, mode 0600, with pin = file:PATH, "
	    "or chmod g= it)", mod);
	assert_string_equal(err, text);
	assert_int_equal(chmod(mod, 0600), 0);
	assert_int_equal(mtd_conf_check_files(c, conf, err, sizeof(err)), 0);
	put_file(mod, "[hsm]\npin = file:/etc/m2mtoken/hsm.pin\n", 0640);
	assert_int_equal(mtd_conf_check_files(c, conf, err, sizeof(err)), 0);
	put_file(mod, "[hsm]\npin = env:M2MTOKEN_HSM_PIN\n", 0640);
	assert_int_equal(mtd_conf_check_files(c, conf, err, sizeof(err)), 0);
	/* the module's configuration is in client mode */
	put_file(mod, "[daemon]\nsocket = /run/m2mtoken/pkcs11.sock\n",
	    0600);
	assert_int_equal(mtd_conf_check_files(c, conf, err, sizeof(err)),
	    -1);
	snprintf(text, sizeof(text), "module configuration %s has a "
	    "[daemon] section: that is client mode, and the daemon must run "
	    "the token itself (remove the section)", mod);
	assert_string_equal(err, text);
	assert_int_equal(unlink(mod), 0);
	assert_int_equal(mtd_conf_check_files(c, conf, err, sizeof(err)),
	    -1);
	snprintf(text, sizeof(text), "module configuration %s: No such "
	    "file or directory", mod);
	assert_string_equal(err, text);
	assert_int_equal(unlink(conf), 0);
	assert_int_equal(rmdir(dir), 0);
	mtd_conf_free(c);
}

/*
 * Without [token] config the module reads $M2MTOKEN_CONF, else
 * M2MTOKEN_CONF_DEFAULT: that file is checked all the same (found in
 * review: the check was skipped, and a literal HSM PIN in the default
 * file, root:m2mtoken 0640, started the daemon).
 */
static void
test_check_files_module_default(void **state)
{
	char dir[] = "/tmp/mtd_conf_files.XXXXXX", conf[300], mod[300];
	char text[700], err[256], *old = NULL;
	struct mtd_conf *c = NULL;

	(void)state;
	if (getenv(M2MTOKEN_CONF_ENV) != NULL)
		assert_non_null(old = strdup(getenv(M2MTOKEN_CONF_ENV)));
	assert_non_null(mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/d.conf", dir);
	snprintf(mod, sizeof(mod), "%s/m.conf", dir);
	assert_int_equal(mtd_conf_parse_string(TOKEN, &c, err, sizeof(err)),
	    0);
	assert_null(c->module_config);
	put_file(conf, TOKEN, 0600);
	put_file(mod, "[hsm]\npin = 1234\n", 0640);
	assert_int_equal(setenv(M2MTOKEN_CONF_ENV, mod, 1), 0);
	assert_int_equal(mtd_conf_check_files(c, conf, err, sizeof(err)),
	    -1);
	snprintf(text, sizeof(text), "module configuration %s holds the HSM "
	    "PIN itself and has mode 0640: its group may read it (put the PIN "
	    "in a file of the daemon's user, mode 0600, with pin = file:PATH, "
	    "or chmod g= it)", mod);
	assert_string_equal(err, text);
	/* the other checks of that file as well */
	put_file(mod, "[hsm]\npin = file:/etc/m2mtoken/hsm.pin\n", 0644);
	assert_int_equal(mtd_conf_check_files(c, conf, err, sizeof(err)),
	    -1);
	snprintf(text, sizeof(text), "module configuration %s has mode "
	    "0644: others may access it (chmod o= it)", mod);
	assert_string_equal(err, text);
	put_file(mod, "[hsm]\npin = file:/etc/m2mtoken/hsm.pin\n", 0640);
	assert_int_equal(mtd_conf_check_files(c, conf, err, sizeof(err)), 0);
	/* empty: the module's default, which this host may lack */
	assert_int_equal(setenv(M2MTOKEN_CONF_ENV, "", 1), 0);
	if (access(M2MTOKEN_CONF_DEFAULT, F_OK) != 0) {
		assert_int_equal(mtd_conf_check_files(c, conf, err,
		    sizeof(err)), -1);
		snprintf(text, sizeof(text), "module configuration %s: No "
		    "such file or directory", M2MTOKEN_CONF_DEFAULT);
		assert_string_equal(err, text);
	}
	if (old != NULL)
		assert_int_equal(setenv(M2MTOKEN_CONF_ENV, old, 1), 0);
	else
		assert_int_equal(unsetenv(M2MTOKEN_CONF_ENV), 0);
	free(old);
	assert_int_equal(unlink(mod), 0);
	assert_int_equal(unlink(conf), 0);
	assert_int_equal(rmdir(dir), 0);
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
		{ TOKEN "[daemon]\nmax_connections_per_uid = 0\n",
		    "line 6: [daemon] max_connections_per_uid: a number "
		    "1..4096" },
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
		    "[token] needs label (or [pkcs11] socket, for a daemon "
		    "serving client mode only)" },
		{ "[token]\nlabel = x\npin_file = /p\n",
		    "[token] needs module" },
		{ "[pkcs11]\nsocket = /p.sock\n[token]\nmodule = /m.so\n"
		    "pin_file = /p\n", "[token] has a PIN but no label" },
		{ "[pkcs11]\nsocket = /p.sock\n[token]\nmodule = /m.so\n"
		    "[mef]\nhost = h\nfqdn = h\n",
		    "[mef] needs [token] label and a PIN" },
		{ TOKEN "[pkcs11]\nsocket = p.sock\n",
		    "line 6: [pkcs11] socket: needs an absolute path" },
		{ TOKEN "[pkcs11]\nmax_clients = 4097\n",
		    "line 6: [pkcs11] max_clients: a number 1..4096" },
		{ TOKEN "[pkcs11]\nframe_max = 4095\n",
		    "line 6: [pkcs11] frame_max: a number 4096..16777216" },
		{ TOKEN "[pkcs11]\nframe_max = 16777217\n",
		    "line 6: [pkcs11] frame_max: a number 4096..16777216" },
		{ TOKEN "[pkcs11]\nstall_timeout = 0\n",
		    "line 6: [pkcs11] stall_timeout: a number 1..3600" },
		{ TOKEN "[pkcs11]\nmax_clients_per_uid = 0\n",
		    "line 6: [pkcs11] max_clients_per_uid: a number 1..4096" },
		{ TOKEN "[pkcs11]\nhello_timeout = 0\n",
		    "line 6: [pkcs11] hello_timeout: a number 1..60" },
		{ TOKEN "[pkcs11]\nhello_timeout = 61\n",
		    "line 6: [pkcs11] hello_timeout: a number 1..60" },
		{ TOKEN "[pkcs11]\nidle_timeout = 86401\n",
		    "line 6: [pkcs11] idle_timeout: a number 0..86400" },
		{ TOKEN "[pkcs11]\nidle_timeout = -1\n",
		    "line 6: [pkcs11] idle_timeout: a number 0..86400" },
		{ TOKEN "[pkcs11]\nsocket_mode = 1000\n",
		    "line 6: [pkcs11] socket_mode: an octal number 0..777" },
		{ TOKEN "[pkcs11]\nsocket_group = a\x01\n",
		    "line 6: [pkcs11] socket_group: empty, too long or has "
		    "control characters" },
		{ TOKEN "[pkcs11]\nsockets = /x\n",
		    "line 6: [pkcs11] unknown key sockets" },
		{ "[token]\nmodule = /m.so\nlabel = x\n",
		    "[token] needs pin_file or pin_credential (the PIN never "
		    "comes from argv or env)" },
		{ "[token]\nlabel = 0123456789012345678901234567890123\n",
		    "line 2: [token] label: at most 32 bytes" },
		{ "[token]\npin_credential = ../pin\n",
		    "line 2: [token] pin_credential: a name, not a path" },
		{ TOKEN "[caller x]\nuid = 0\n",
		    "rule x: no methods and no tokens" },
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
		cmocka_unit_test(test_pkcs11),
		cmocka_unit_test(test_per_uid),
		cmocka_unit_test(test_check_files),
		cmocka_unit_test(test_check_files_module_default),
		cmocka_unit_test(test_pin),
		cmocka_unit_test(test_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
