/*
 * Unit tests for daemon/common/acl.c: the [caller NAME] rules, their
 * parse errors, and the allow/deny matrix with the rule that decided.
 */
#include <sys/types.h>

#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "acl.h"
#include "errors.h"

/* nobody (65534) and group nogroup/root exist on Debian */
static const char ACL[] =
    "[daemon]\n"
    "socket = /run/m2mtoken/m2mtokend.sock\n"
    "\n"
    "[caller gateway]\n"
    "uid = 1001\n"
    "methods = io.m2mtoken.Mic, io.m2mtoken.VerifyMic\n"
    "methods = io.m2mtoken.Status\n"
    "keys = e2e-* kpsa-gw?\n"
    "\n"
    "# nobody may only ask for the status\n"
    "[caller status]\n"
    "user = nobody\n"
    "methods = io.m2mtoken.Status io.m2mtoken.ListKeys\n"
    "\n"
    "[caller admins]\n"
    "group = root\n"
    "methods = *\n"
    "keys = *\n"
    "\n"
    "[caller sealers]\n"
    "gid = 2000\n"
    "methods = io.m2mtoken.Seal io.m2mtoken.Open\n"
    "keys = conf-[ab]\n";

struct row {
	uid_t		 uid;
	gid_t		 gids[3];
	size_t		 ngids;
	const char	*method;
	const char	*keyid;
	int		 allow;
	enum m2m_acl_why why;
	const char	*rule;
};

static const struct row matrix[] = {
	/* gateway: by uid, its methods and key patterns */
	{ 1001, { 1001 }, 1, "io.m2mtoken.Mic", "e2e-7", 1,
	    M2M_ACL_ALLOWED, "gateway" },
	{ 1001, { 1001 }, 1, "io.m2mtoken.VerifyMic", "kpsa-gw1", 1,
	    M2M_ACL_ALLOWED, "gateway" },
	{ 1001, { 1001 }, 1, "io.m2mtoken.Status", NULL, 1,
	    M2M_ACL_ALLOWED, "gateway" },
	{ 1001, { 1001 }, 1, "io.m2mtoken.Mic", "kpsa-gw12", 0,
	    M2M_ACL_KEY, "gateway" },
	{ 1001, { 1001 }, 1, "io.m2mtoken.Mic", "E2E-7", 0,
	    M2M_ACL_KEY, "gateway" },
	{ 1001, { 1001 }, 1, "io.m2mtoken.Seal", "e2e-7", 0,
	    M2M_ACL_METHOD, "gateway" },
	{ 1001, { 1001 }, 1, "io.m2mtoken.mic", "e2e-7", 0,
	    M2M_ACL_METHOD, "gateway" },
	/* nobody: a user name; a rule without keys allows no keyid */
	{ 65534, { 65534 }, 1, "io.m2mtoken.Status", NULL, 1,
	    M2M_ACL_ALLOWED, "status" },
	{ 65534, { 65534 }, 1, "io.m2mtoken.ListKeys", "e2e-1", 0,
	    M2M_ACL_KEY, "status" },
	{ 65534, { 65534 }, 1, "io.m2mtoken.Mic", "e2e-1", 0,
	    M2M_ACL_METHOD, "status" },
	/* group rules match any of the caller's groups */
	{ 4242, { 4242, 0 }, 2, "io.m2mtoken.Bootstrap", "kpm-1", 1,
	    M2M_ACL_ALLOWED, "admins" },
	{ 4242, { 4242, 7, 2000 }, 3, "io.m2mtoken.Open", "conf-b", 1,
	    M2M_ACL_ALLOWED, "sealers" },
	{ 4242, { 2000 }, 1, "io.m2mtoken.Open", "conf-c", 0,
	    M2M_ACL_KEY, "sealers" },
	{ 4242, { 2000 }, 1, "io.m2mtoken.Mic", "conf-a", 0,
	    M2M_ACL_METHOD, "sealers" },
	/* the first allowing rule decides, in file order */
	{ 1001, { 1001, 0 }, 2, "io.m2mtoken.Mic", "e2e-7", 1,
	    M2M_ACL_ALLOWED, "gateway" },
	{ 1001, { 1001, 0 }, 2, "io.m2mtoken.Seal", "x", 1,
	    M2M_ACL_ALLOWED, "admins" },
	/* nobody else: default deny, no rule */
	{ 4242, { 4242 }, 1, "io.m2mtoken.Status", NULL, 0,
	    M2M_ACL_NO_RULE, NULL },
	{ 4242, { 0 }, 0, "io.m2mtoken.Status", NULL, 0,
	    M2M_ACL_NO_RULE, NULL },
	/* the uid is no gid: uid 2000 is not group 2000 */
	{ 2000, { 4242 }, 1, "io.m2mtoken.Open", "conf-a", 0,
	    M2M_ACL_NO_RULE, NULL },
};

static void
test_matrix(void **state)
{
	struct m2m_acl *acl = NULL;
	struct m2m_acl_verdict v;
	const struct row *m;
	char err[160] = "";
	size_t i;

	(void)state;
	if (getpwnam("nobody") == NULL || getpwnam("nobody")->pw_uid != 65534)
		skip();
	assert_int_equal(m2m_acl_parse_string(ACL, &acl, err, sizeof(err)),
	    0);
	assert_int_equal(m2m_acl_rules(acl), 4);
	for (i = 0; i < sizeof(matrix) / sizeof(matrix[0]); i++) {
		m = &matrix[i];
		memset(&v, 0x5a, sizeof(v));
		assert_int_equal(m2m_acl_check(acl, m->uid, m->gids, m->ngids,
		    m->method, m->keyid, &v), 0);
		if (v.allow != m->allow || v.why != m->why ||
		    (m->rule == NULL) != (v.rule == NULL) ||
		    (m->rule != NULL && strcmp(m->rule, v.rule) != 0))
			fail_msg("row %zu: uid %u %s %s: allow %d why %d "
			    "rule %s", i, (unsigned)m->uid, m->method,
			    m->keyid ? m->keyid : "-", v.allow, (int)v.why,
			    v.rule ? v.rule : "(none)");
	}
	assert_int_equal(m2m_acl_check(acl, 1001, NULL, 1, "io.m2mtoken.Mic",
	    NULL, &v), M2M_IPC_ERR_INVALID_ARGUMENT);
	assert_int_equal(v.allow, 0);
	assert_int_equal(m2m_acl_check(acl, 1001, NULL, 0, NULL, NULL, &v),
	    M2M_IPC_ERR_INVALID_ARGUMENT);
	assert_int_equal(v.allow, 0);
	m2m_acl_free(acl);
}

/* No [caller] section at all: every call denied. */
static void
test_empty_denies(void **state)
{
	struct m2m_acl *acl = NULL;
	struct m2m_acl_verdict v;
	gid_t g = 0;

	(void)state;
	assert_int_equal(m2m_acl_parse_string("[daemon]\nx = y\n", &acl,
	    NULL, 0), 0);
	assert_int_equal(m2m_acl_rules(acl), 0);
	assert_int_equal(m2m_acl_check(acl, 0, &g, 1, "io.m2mtoken.Status",
	    NULL, &v), 0);
	assert_int_equal(v.allow, 0);
	assert_int_equal(v.why, M2M_ACL_NO_RULE);
	assert_null(v.rule);
	m2m_acl_free(acl);
}

struct bad {
	const char	*text;
	const char	*err;
};

static const struct bad bads[] = {
	{ "[caller a]\nuid = 1\n", "rule a: no methods and no tokens" },
	{ "[caller a]\nmethods = *\n", "rule a: no uid, user, gid or group" },
	{ "[caller a]\nuid = 1\nuser = root\nmethods = *\n",
	    "line 3: rule a names its caller twice (one of uid, user, gid, "
	    "group)" },
	{ "[caller a]\nuid = -1\nmethods = *\n",
	    "line 2: uid is a decimal number" },
	{ "[caller a]\nuid = 4294967295\nmethods = *\n",
	    "line 2: uid is a decimal number" },
	{ "[caller a]\nuid = 12345678901\nmethods = *\n",
	    "line 2: uid is a decimal number" },
	{ "[caller a]\ngid = 0x10\nmethods = *\n",
	    "line 2: gid is a decimal number" },
	{ "[caller a]\nuser = no-such-user-m2m\nmethods = *\n",
	    "line 2: unknown user" },
	{ "[caller a]\ngroup = no-such-group-m2m\nmethods = *\n",
	    "line 2: unknown group" },
	{ "[caller a]\nuid = 1\nmethods = Mic\n",
	    "line 3: a method is * or io.m2mtoken.[A-Za-z]+" },
	{ "[caller a]\nuid = 1\nmethods = io.m2mtoken.*\n",
	    "line 3: a method is * or io.m2mtoken.[A-Za-z]+" },
	{ "[caller a]\nuid = 1\nmethods = *\nkey = x\n",
	    "line 4: unknown setting in rule a (uid, user, gid, group, "
	    "methods, keys, tokens)" },
	{ "[caller a]\nuid = 1\nmethods = *\n[caller b]\nuid = 2\n"
	    "methods = *\n[caller a]\nuid = 3\n",
	    "line 8: rule a defined twice" },
	{ "[caller ]\nuid = 1\n", "line 2: a rule name has 1 to 64 "
	    "characters" },
	{ "[caller a b]\nuid = 1\n",
	    "line 2: a rule name is made of A-Z a-z 0-9 _ . -" },
	{ "[caller a]\nuid = 1\nmethods\n", "line 3: syntax error" },
	{ "[caller a]\nuid = 1\ntokens = a\x01\n",
	    "line 3: control character in tokens" },
	{ "[caller a]\nuid = 1\nmethods = *\nkeys = a\x01\n",
	    "line 4: control character in keys" },
	/* an unknown name, with control bytes, is not echoed */
	{ "[caller a]\nuid = 1\nmethods = *\nk\x1b[2Jeys = a\x01\n",
	    "line 4: unknown setting in rule a (uid, user, gid, group, "
	    "methods, keys, tokens)" },
};

/* client mode: which tokens a caller sees */
static const char TOKACL[] =
    "[caller gw]\n"
    "uid = 1001\n"
    "tokens = device gw-*\n"
    "\n"
    "[caller flows]\n"
    "uid = 1001\n"
    "methods = io.m2mtoken.Mic\n"
    "\n"
    "[caller more]\n"
    "gid = 3000\n"
    "tokens = gw-* mef\n"
    "\n"
    "[caller init]\n"
    "uid = 0\n"
    "tokens = *\n";

struct tokrow {
	uid_t		 uid;
	gid_t		 gid;
	const char	*label;		/* 32 bytes, blank padded */
	int		 allow;
	enum m2m_acl_why why;
	const char	*rule;
};

static const struct tokrow tokrows[] = {
	{ 1001, 100, "device                          ", 1, M2M_ACL_ALLOWED,
	    "gw" },
	{ 1001, 100, "gw-7                            ", 1, M2M_ACL_ALLOWED,
	    "gw" },
	/* trailing blanks go, inner ones stay */
	{ 1001, 100, "device 2                        ", 0, M2M_ACL_TOKEN,
	    "gw" },
	{ 1001, 100, "mef                             ", 0, M2M_ACL_TOKEN,
	    "gw" },
	/* a blank label: only "*" */
	{ 1001, 100, "                                ", 0, M2M_ACL_TOKEN,
	    "gw" },
	{ 0, 0, "                                ", 1, M2M_ACL_ALLOWED,
	    "init" },
	{ 1002, 3000, "mef                             ", 1, M2M_ACL_ALLOWED,
	    "more" },
	{ 1002, 3000, "device                          ", 0, M2M_ACL_TOKEN,
	    "more" },
	/* a rule with methods only grants no token */
	{ 1003, 100, "device                          ", 0, M2M_ACL_NO_RULE,
	    NULL },
};

/* The token matrix: label globs, trailing blanks, the blank label. */
static void
test_tokens(void **state)
{
	struct m2m_acl *acl = NULL;
	struct m2m_acl_verdict v;
	const struct tokrow *t;
	char err[160];
	size_t i;

	(void)state;
	assert_int_equal(m2m_acl_parse_string(TOKACL, &acl, err,
	    sizeof(err)), 0);
	for (i = 0; i < sizeof(tokrows) / sizeof(tokrows[0]); i++) {
		t = &tokrows[i];
		assert_int_equal(strlen(t->label), 32);
		assert_int_equal(m2m_acl_token_check(acl, t->uid, &t->gid, 1,
		    t->label, 32, &v), 0);
		if (v.allow != t->allow || v.why != t->why ||
		    (t->rule == NULL) != (v.rule == NULL) ||
		    (t->rule != NULL && strcmp(t->rule, v.rule) != 0))
			fail_msg("token row %zu: allow %d why %d rule %s", i,
			    v.allow, (int)v.why, v.rule ? v.rule : "-");
	}
	/* a C string label, and one cut at a NUL */
	assert_int_equal(m2m_acl_token_check(acl, 1001, NULL, 0, "gw-1",
	    4, &v), 0);
	assert_int_equal(v.allow, 1);
	assert_int_equal(m2m_acl_token_check(acl, 1001, NULL, 0,
	    "device\0xx", 9, &v), 0);
	assert_int_equal(v.allow, 1);
	assert_int_equal(m2m_acl_token_check(acl, 1001, NULL, 0, NULL, 0,
	    &v), M2M_IPC_ERR_INVALID_ARGUMENT);
	assert_int_equal(v.allow, 0);
	m2m_acl_free(acl);
}

/* The patterns a worker gets: of every rule naming the caller, once. */
static void
test_token_patterns(void **state)
{
	struct m2m_acl *acl = NULL;
	const char *pat[8], *rule = NULL;
	gid_t g = 3000;
	size_t n = 99;

	(void)state;
	assert_int_equal(m2m_acl_parse_string(TOKACL, &acl, NULL, 0), 0);
	assert_int_equal(m2m_acl_token_patterns(acl, 1001, &g, 1, pat, 8,
	    &n, &rule), 0);
	assert_int_equal(n, 3);
	assert_string_equal(rule, "gw");
	assert_string_equal(pat[0], "device");
	assert_string_equal(pat[1], "gw-*");
	assert_string_equal(pat[2], "mef");
	assert_int_equal(m2m_acl_label_match(pat, n, "mef   ", 6), 1);
	assert_int_equal(m2m_acl_label_match(pat, n, "gw", 2), 0);
	assert_int_equal(m2m_acl_label_match(pat, n, "      ", 6), 0);
	/* more than max: nothing, an error */
	assert_int_equal(m2m_acl_token_patterns(acl, 1001, &g, 1, pat, 2,
	    &n, &rule), M2M_IPC_ERR_INVALID_ARGUMENT);
	assert_int_equal(n, 0);
	/* a caller no tokens rule names */
	g = 100;
	assert_int_equal(m2m_acl_token_patterns(acl, 1003, &g, 1, pat, 8,
	    &n, &rule), 0);
	assert_int_equal(n, 0);
	assert_null(rule);
	m2m_acl_free(acl);
}

/* Each malformed ACL fails with its own one-line reason. */
static void
test_parse_errors(void **state)
{
	struct m2m_acl *acl = (struct m2m_acl *)(uintptr_t)0x5a5a;
	char err[160];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		memset(err, 0, sizeof(err));
		if (m2m_acl_parse_string(bads[i].text, &acl, err,
		    sizeof(err)) != M2M_IPC_ERR_ACL_SYNTAX ||
		    strcmp(err, bads[i].err) != 0)
			fail_msg("bad ACL %zu: got \"%s\", not \"%s\"", i, err,
			    bads[i].err);
		assert_ptr_equal(acl, (struct m2m_acl *)(uintptr_t)0x5a5a);
	}
	assert_int_equal(m2m_acl_parse_string(NULL, &acl, err, sizeof(err)),
	    M2M_IPC_ERR_INVALID_ARGUMENT);
}

/* The limits: items per rule, pattern length, number of rules. */
static void
test_limits(void **state)
{
	struct m2m_acl *acl = NULL;
	char *text, err[160];
	size_t i, n = 0, cap = 64 * 1024;

	(void)state;
	assert_non_null(text = malloc(cap));
	n += (size_t)snprintf(text + n, cap - n,
	    "[caller a]\nuid = 1\nmethods = *\n");
	for (i = 0; i < M2M_ACL_ITEMS_MAX; i++)
		n += (size_t)snprintf(text + n, cap - n, "keys = k%zu\n", i);
	assert_int_equal(m2m_acl_parse_string(text, &acl, err, sizeof(err)),
	    0);
	m2m_acl_free(acl);
	acl = NULL;
	snprintf(text + n, cap - n, "keys = one-too-many\n");
	assert_int_equal(m2m_acl_parse_string(text, &acl, err, sizeof(err)),
	    M2M_IPC_ERR_ACL_SYNTAX);
	assert_string_equal(err, "line 68: more than 64 keys");

	n = (size_t)snprintf(text, cap, "[caller a]\nuid = 1\nmethods = *\n"
	    "keys = ");
	memset(text + n, 'p', M2M_ACL_PATTERN_MAX + 1);
	text[n + M2M_ACL_PATTERN_MAX + 1] = '\0';
	assert_int_equal(m2m_acl_parse_string(text, &acl, err, sizeof(err)),
	    M2M_IPC_ERR_ACL_SYNTAX);
	assert_string_equal(err, "line 4: a keys entry has at most 128 bytes");
	/* a line longer than inih takes (199 bytes) is an error too */
	n = (size_t)snprintf(text, cap, "[caller a]\nuid = 1\nmethods = *\n"
	    "keys = ");
	for (i = 0; i < 60; i++)
		n += (size_t)snprintf(text + n, cap - n, "k%02zu ", i);
	assert_int_equal(m2m_acl_parse_string(text, &acl, err, sizeof(err)),
	    M2M_IPC_ERR_ACL_SYNTAX);
	assert_string_equal(err, "line 4: line too long (at most 198 bytes)");

	for (n = 0, i = 0; i <= M2M_ACL_RULES_MAX; i++)
		n += (size_t)snprintf(text + n, cap - n,
		    "[caller r%zu]\nuid = %zu\nmethods = *\n", i, i);
	assert_int_equal(m2m_acl_parse_string(text, &acl, err, sizeof(err)),
	    M2M_IPC_ERR_ACL_SYNTAX);
	assert_string_equal(err, "line 770: more than 256 rules");
	free(text);
}

/* The same text through a FILE. */
static void
test_parse_file(void **state)
{
	struct m2m_acl *acl = NULL;
	struct m2m_acl_verdict v;
	gid_t g = 5;
	char err[160], *big;
	FILE *f;

	(void)state;
	assert_non_null(f = fmemopen((void *)(uintptr_t)ACL,
	    sizeof(ACL) - 1, "r"));
	if (getpwnam("nobody") == NULL)
		skip();
	assert_int_equal(m2m_acl_parse_file(f, &acl, err, sizeof(err)), 0);
	fclose(f);
	assert_int_equal(m2m_acl_rules(acl), 4);
	assert_int_equal(m2m_acl_check(acl, 1001, &g, 1, "io.m2mtoken.Mic",
	    "e2e-x", &v), 0);
	assert_int_equal(v.allow, 1);
	assert_string_equal(v.rule, "gateway");
	m2m_acl_free(acl);
	acl = NULL;

	/* a NUL byte, and one byte over the size limit */
	assert_non_null(f = fmemopen((void *)(uintptr_t)"[caller a]\0x", 12,
	    "r"));
	assert_int_equal(m2m_acl_parse_file(f, &acl, err, sizeof(err)),
	    M2M_IPC_ERR_ACL_SYNTAX);
	assert_string_equal(err, "NUL byte in the text");
	fclose(f);
	assert_non_null(big = malloc(M2M_ACL_TEXT_MAX + 1));
	memset(big, '\n', M2M_ACL_TEXT_MAX + 1);
	assert_non_null(f = fmemopen(big, M2M_ACL_TEXT_MAX + 1, "r"));
	assert_int_equal(m2m_acl_parse_file(f, &acl, err, sizeof(err)),
	    M2M_IPC_ERR_ACL_SYNTAX);
	assert_string_equal(err, "more than 1048576 bytes");
	fclose(f);
	assert_non_null(f = fmemopen(big, M2M_ACL_TEXT_MAX, "r"));
	assert_int_equal(m2m_acl_parse_file(f, &acl, err, sizeof(err)), 0);
	assert_int_equal(m2m_acl_rules(acl), 0);
	m2m_acl_free(acl);
	fclose(f);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matrix),
		cmocka_unit_test(test_empty_denies),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_parse_file),
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_token_patterns),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
