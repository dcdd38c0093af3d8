/*
 * Unit tests of daemon/mef/conf.c: the [cert] keys crl and crl_check, and
 * [bootstrap] kes_per_enrolee.  crl_check is leaf (the default) or chain,
 * and needs crl; kes_per_enrolee is 1..1000 (2); anything else stops the
 * load with one line naming the file and the key.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"
#include "mef.h"

#define BASE \
	"[mef]\nfqdn = mef.example.com\n" \
	"[token]\nmodule = /usr/lib/libm2mtoken.so\n" \
	"pin_file = /etc/m2mtoken/mef.pin\n" \
	"[cert]\nport = 8444\n" \
	"key = pkcs11:token=mef;object=mef-tls;type=private\n" \
	"cert = /etc/m2mtoken/mef-cert.pem\n" \
	"ca = /etc/m2mtoken/enrolee-ca.pem\n"

static char dir[] = "/tmp/test_mef_conf.XXXXXX";
static char path[64];
static char err[2048];	/* what the last load() wrote on stderr */

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/mef.conf", dir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(path);
	rmdir(dir);
	return 0;
}

/* mef_conf_load of text (after BASE), stderr in err: its result. */
static int
load(const char *text, struct mef_conf **ret)
{
	char errpath[64];
	FILE *f;
	ssize_t n;
	int fd, saved, r;

	*ret = NULL;
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "%s%s", BASE, text);
	fclose(f);
	snprintf(errpath, sizeof(errpath), "%s/stderr", dir);
	fflush(stderr);
	assert_true((fd = open(errpath, O_RDWR | O_CREAT | O_TRUNC,
	    0600)) >= 0);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	r = mef_conf_load(path, ret);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, err, sizeof(err) - 1, 0);
	err[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(errpath);
	return r;
}

static void
test_crl_check_default_leaf(void **state)
{
	struct mef_conf *c;

	(void)state;
	assert_int_equal(load("", &c), 0);
	assert_null(c->cert_crl);
	assert_int_equal(c->cert_crl_check, MEF_CRL_LEAF);
	mef_conf_free(c);
	assert_int_equal(load("crl = /etc/m2mtoken/enrolee-ca.crl\n", &c), 0);
	assert_string_equal(c->cert_crl, "/etc/m2mtoken/enrolee-ca.crl");
	assert_int_equal(c->cert_crl_check, MEF_CRL_LEAF);
	mef_conf_free(c);
}

static void
test_crl_check_values(void **state)
{
	struct mef_conf *c;

	(void)state;
	assert_int_equal(load("crl = /x.crl\ncrl_check = chain\n", &c), 0);
	assert_int_equal(c->cert_crl_check, MEF_CRL_CHAIN);
	mef_conf_free(c);
	assert_int_equal(load("crl_check = chain\ncrl = /x.crl\n", &c), 0);
	assert_int_equal(c->cert_crl_check, MEF_CRL_CHAIN);
	mef_conf_free(c);
	assert_int_equal(load("crl = /x.crl\ncrl_check = leaf\n", &c), 0);
	assert_int_equal(c->cert_crl_check, MEF_CRL_LEAF);
	mef_conf_free(c);
	/* the last one given counts, as for every key */
	assert_int_equal(load("crl = /x.crl\ncrl_check = chain\n"
	    "crl_check = leaf\n", &c), 0);
	assert_int_equal(c->cert_crl_check, MEF_CRL_LEAF);
	mef_conf_free(c);
}

static void
test_crl_check_bad_value(void **state)
{
	static const char *bad[] = { "all", "Chain", "", "leaf chain",
	    "1" };
	struct mef_conf *c;
	char text[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "crl = /x.crl\ncrl_check = %s\n",
		    bad[i]);
		assert_int_equal(load(text, &c), MEF_ERR_CONF);
		assert_null(c);
		assert_non_null(strstr(err, "bad value for [cert] crl_check"));
		assert_non_null(strstr(err, path));
	}
}

static void
test_crl_check_needs_crl(void **state)
{
	struct mef_conf *c;

	(void)state;
	assert_int_equal(load("crl_check = chain\n", &c), MEF_ERR_CONF);
	assert_null(c);
	assert_non_null(strstr(err, "[cert] crl_check needs [cert] crl"));
	assert_non_null(strstr(err, path));
	/* leaf, the default, said without a CRL file: as wrong */
	assert_int_equal(load("crl_check = leaf\n", &c), MEF_ERR_CONF);
	assert_non_null(strstr(err, "[cert] crl_check needs [cert] crl"));
	/* a relative CRL path stays refused */
	assert_int_equal(load("crl = x.crl\n", &c), MEF_ERR_CONF);
	assert_non_null(strstr(err, "bad value for [cert] crl"));
}

/* [bootstrap] kes_per_enrolee: 2 by default, 1..1000, else refused, named */
static void
test_kes_per_enrolee(void **state)
{
	static const char *bad[] = { "0", "1001", "x", "-1", "", "2x",
	    "99999999999" };
	struct mef_conf *c;
	char text[128];
	size_t i;

	(void)state;
	assert_int_equal(load("", &c), 0);
	assert_int_equal(c->kes_per_enrolee, 2);
	mef_conf_free(c);
	assert_int_equal(load("[bootstrap]\nkes_per_enrolee = 1\n", &c), 0);
	assert_int_equal(c->kes_per_enrolee, 1);
	mef_conf_free(c);
	assert_int_equal(load("[bootstrap]\nkes_per_enrolee = 1000\n", &c),
	    0);
	assert_int_equal(c->kes_per_enrolee, 1000);
	mef_conf_free(c);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[bootstrap]\n"
		    "kes_per_enrolee = %s\n", bad[i]);
		assert_int_equal(load(text, &c), MEF_ERR_CONF);
		assert_null(c);
		assert_non_null(strstr(err,
		    "bad value for [bootstrap] kes_per_enrolee"));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crl_check_default_leaf),
		cmocka_unit_test(test_crl_check_values),
		cmocka_unit_test(test_crl_check_bad_value),
		cmocka_unit_test(test_crl_check_needs_crl),
		cmocka_unit_test(test_kes_per_enrolee),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
