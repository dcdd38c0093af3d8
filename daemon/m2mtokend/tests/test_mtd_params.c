/*
 * Unit tests of m2mtokend's parameter reading (daemon/m2mtokend/params.c)
 * and of its method table (every name valid on the wire and documented).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "errors.h"
#include "ipc.h"
#include "methods.h"
#include "params.h"

static struct json_object *
P(const char *text)
{
	struct json_object *o = json_tokener_parse(text);

	assert_non_null(o);
	return o;
}

static void
test_str(void **state)
{
	struct json_object *p = P("{\"a\": \"x\", \"b\": 5, \"c\": \"\", "
	    "\"d\": \"a\\nb\", \"e\": \"abcdef\"}");
	struct mtd_err err;
	const char *s;

	(void)state;
	memset(&err, 0, sizeof(err));
	assert_int_equal(mtd_p_str(p, "a", 1, 10, &s, &err), 0);
	assert_string_equal(s, "x");
	assert_int_equal(mtd_p_str(p, "zz", 0, 10, &s, &err), 0);
	assert_null(s);
	assert_int_equal(mtd_p_str(p, "zz", 1, 10, &s, &err),
	    M2M_IPC_ERR_INVALID_PARAMETER);
	assert_string_equal(err.detail, "parameter zz is required");
	assert_int_equal(mtd_p_str(p, "b", 1, 10, &s, &err),
	    M2M_IPC_ERR_INVALID_PARAMETER);
	assert_string_equal(err.detail, "parameter b must be a string");
	assert_int_equal(mtd_p_str(p, "c", 1, 10, &s, &err),
	    M2M_IPC_ERR_INVALID_PARAMETER);
	assert_int_equal(mtd_p_str(p, "d", 1, 10, &s, &err),
	    M2M_IPC_ERR_INVALID_PARAMETER);
	assert_string_equal(err.detail, "parameter d holds a control "
	    "character");
	assert_int_equal(mtd_p_str(p, "e", 1, 5, &s, &err),
	    M2M_IPC_ERR_INVALID_PARAMETER);
	json_object_put(p);
}

static void
test_int(void **state)
{
	struct json_object *p = P("{\"n\": 22, \"s\": \"22\", \"f\": 2.5, "
	    "\"big\": 100}");
	struct mtd_err err;
	long v;

	(void)state;
	assert_int_equal(mtd_p_int(p, "n", 1, 0, 99, -1, &v, &err), 0);
	assert_int_equal(v, 22);
	assert_int_equal(mtd_p_int(p, "x", 0, 0, 99, -1, &v, &err), 0);
	assert_int_equal(v, -1);
	assert_int_equal(mtd_p_int(p, "s", 1, 0, 99, -1, &v, &err),
	    M2M_IPC_ERR_INVALID_PARAMETER);
	assert_int_equal(mtd_p_int(p, "f", 1, 0, 99, -1, &v, &err),
	    M2M_IPC_ERR_INVALID_PARAMETER);
	assert_int_equal(mtd_p_int(p, "big", 1, 0, 99, -1, &v, &err),
	    M2M_IPC_ERR_INVALID_PARAMETER);
	assert_string_equal(err.detail, "parameter big must be 0..99");
	json_object_put(p);
}

static void
test_unb64(void **state)
{
	uint8_t out[16];
	size_t n;

	(void)state;
	assert_int_equal(mtd_unb64("aGVsbG8=", 8, out, sizeof(out), &n), 0);
	assert_int_equal(n, 5);
	assert_memory_equal(out, "hello", 5);
	assert_int_equal(mtd_unb64("aGk=", 4, out, sizeof(out), &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(mtd_unb64("aQ==", 4, out, sizeof(out), &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(mtd_unb64("", 0, out, sizeof(out), &n), 0);
	assert_int_equal(n, 0);
	/* not padded, padding inside, bad characters, white space, url-safe */
	assert_int_equal(mtd_unb64("aGk", 3, out, sizeof(out), &n), -1);
	assert_int_equal(mtd_unb64("a=Gk", 4, out, sizeof(out), &n), -1);
	assert_int_equal(mtd_unb64("a===", 4, out, sizeof(out), &n), -1);
	assert_int_equal(mtd_unb64("aG k", 4, out, sizeof(out), &n), -1);
	assert_int_equal(mtd_unb64("aG-_", 4, out, sizeof(out), &n), -1);
	assert_int_equal(mtd_unb64("aGk=aGk=", 8, out, sizeof(out), &n), -1);
	/* over the cap */
	assert_int_equal(mtd_unb64("aGVsbG8=", 8, out, 4, &n), -1);
}

static void
test_b64_round_trip(void **state)
{
	uint8_t in[40], out[40];
	char *s;
	size_t i, len, n;

	(void)state;
	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 37 + 1);
	for (len = 0; len <= sizeof(in); len++) {
		s = mtd_b64(in, len);
		assert_non_null(s);
		assert_int_equal(mtd_unb64(s, strlen(s), out, sizeof(out),
		    &n), 0);
		assert_int_equal(n, len);
		assert_memory_equal(in, out, len);
		free(s);
	}
}

static void
test_b64_param(void **state)
{
	struct json_object *p = P("{\"d\": \"aGVsbG8=\", \"bad\": \"!!!!\", "
	    "\"num\": 1}");
	struct mtd_err err;
	uint8_t *b = NULL;
	size_t n;

	(void)state;
	assert_int_equal(mtd_p_b64(p, "d", 1, 16, &b, &n, &err), 0);
	assert_int_equal(n, 5);
	free(b);
	assert_int_equal(mtd_p_b64(p, "d", 1, 4, &b, &n, &err),
	    M2M_IPC_ERR_INVALID_PARAMETER);
	assert_null(b);
	assert_int_equal(mtd_p_b64(p, "bad", 1, 16, &b, &n, &err),
	    M2M_IPC_ERR_INVALID_PARAMETER);
	assert_int_equal(mtd_p_b64(p, "num", 1, 16, &b, &n, &err),
	    M2M_IPC_ERR_INVALID_PARAMETER);
	assert_int_equal(mtd_p_b64(p, "none", 0, 16, &b, &n, &err), 0);
	assert_null(b);
	assert_int_equal(n, 0);
	json_object_put(p);
}

static void
test_keyref(void **state)
{
	struct json_object *p;
	struct mtd_keyref kr;
	struct mtd_err err;

	(void)state;
	p = P("{\"key\": \"abc@mef\", \"role\": \"kpsa\", \"peer\": \"/cse\"}");
	assert_int_equal(mtd_p_keyref(p, &kr, &err), 0);
	assert_string_equal(kr.label, "abc@mef");
	assert_int_equal(kr.role, CK_M2M_ROLE_KPSA);
	assert_string_equal(kr.peer, "/cse");
	json_object_put(p);
	p = P("{\"key\": \"abc@mef\"}");
	assert_int_equal(mtd_p_keyref(p, &kr, &err), 0);
	assert_int_equal(kr.role, MTD_ROLE_ANY);
	assert_null(kr.peer);
	json_object_put(p);
	p = P("{\"key\": \"abc@mef\", \"role\": \"king\"}");
	assert_int_equal(mtd_p_keyref(p, &kr, &err),
	    M2M_IPC_ERR_INVALID_PARAMETER);
	json_object_put(p);
	p = P("{\"role\": \"kpsa\"}");
	assert_int_equal(mtd_p_keyref(p, &kr, &err),
	    M2M_IPC_ERR_INVALID_PARAMETER);
	assert_string_equal(err.detail, "parameter key is required");
	json_object_put(p);
}

static void
test_e2e_use(void **state)
{
	struct json_object *p;
	struct mtd_err err;
	CK_ULONG role;

	(void)state;
	p = P("{}");
	assert_int_equal(mtd_p_e2e_use(p, 0, &role, &err), 0);
	assert_int_equal(role, CK_M2M_ROLE_KE2E_MSG_AUTH);
	assert_int_equal(mtd_p_e2e_use(p, 1, &role, &err), 0);
	assert_int_equal(role, CK_M2M_ROLE_KE2E_MSG_CONF);
	json_object_put(p);
	p = P("{\"use\": \"attribute\"}");
	assert_int_equal(mtd_p_e2e_use(p, 0, &role, &err), 0);
	assert_int_equal(role, CK_M2M_ROLE_KE2E_ATT_AUTH);
	assert_int_equal(mtd_p_e2e_use(p, 1, &role, &err), 0);
	assert_int_equal(role, CK_M2M_ROLE_KE2E_ATT_CONF);
	json_object_put(p);
	p = P("{\"use\": \"both\"}");
	assert_int_equal(mtd_p_e2e_use(p, 0, &role, &err),
	    M2M_IPC_ERR_INVALID_PARAMETER);
	json_object_put(p);
}

static void
test_targets(void **state)
{
	const char *t[MTD_TARGETS_MAX];
	struct json_object *p;
	struct mtd_err err;
	size_t n;

	(void)state;
	p = P("{\"targets\": [\"/a\", \"/b\"]}");
	assert_int_equal(mtd_p_targets(p, t, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(t[1], "/b");
	json_object_put(p);
	p = P("{\"targets\": []}");
	assert_int_equal(mtd_p_targets(p, t, &n, &err),
	    M2M_IPC_ERR_INVALID_PARAMETER);
	json_object_put(p);
	p = P("{\"targets\": [\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\","
	    "\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\"]}");
	assert_int_equal(mtd_p_targets(p, t, &n, &err),
	    M2M_IPC_ERR_INVALID_PARAMETER);
	json_object_put(p);
	p = P("{\"targets\": [\"/a\", 5]}");
	assert_int_equal(mtd_p_targets(p, t, &n, &err),
	    M2M_IPC_ERR_INVALID_PARAMETER);
	assert_string_equal(err.detail, "parameter targets: element 1 must "
	    "be 1..255 bytes of text");
	json_object_put(p);
	p = P("{\"targets\": \"/a\"}");
	assert_int_equal(mtd_p_targets(p, t, &n, &err),
	    M2M_IPC_ERR_INVALID_PARAMETER);
	json_object_put(p);
}

static void
test_only(void **state)
{
	static const char *const allowed[] = { "key", "data", NULL };
	struct json_object *p;
	struct mtd_err err;

	(void)state;
	p = P("{\"key\": 1, \"data\": 2}");
	assert_int_equal(mtd_p_only(p, allowed, &err), 0);
	json_object_put(p);
	p = P("{\"key\": 1, \"oneway\": true}");
	assert_int_equal(mtd_p_only(p, allowed, &err),
	    M2M_IPC_ERR_INVALID_PARAMETER);
	json_object_put(p);
}

/* Every method's name passes the wire's name rule and is documented. */
static void
test_method_table(void **state)
{
	const struct mtd_method *m;
	const char *src = getenv("M2M_SRC");
	char path[1024], *doc;
	size_t n, i, len;
	FILE *f;

	(void)state;
	m = mtd_methods(&n);
	assert_true(n >= 12);
	assert_non_null(src);
	snprintf(path, sizeof(path), "%s/docs/protocol.md", src);
	assert_non_null(f = fopen(path, "r"));
	doc = calloc(1, 1 << 20);
	assert_non_null(doc);
	len = fread(doc, 1, (1 << 20) - 1, f);
	fclose(f);
	assert_true(len > 0);
	for (i = 0; i < n; i++) {
		if (!m2m_ipc_name_valid(m[i].name))
			fail_msg("%s is no valid method name", m[i].name);
		if (strstr(doc, m[i].name) == NULL)
			fail_msg("docs/protocol.md lacks %s", m[i].name);
		assert_ptr_equal(mtd_method_find(m[i].name), &m[i]);
	}
	assert_null(mtd_method_find("io.m2mtoken.Nope"));
	free(doc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_str),
		cmocka_unit_test(test_int),
		cmocka_unit_test(test_unb64),
		cmocka_unit_test(test_b64_round_trip),
		cmocka_unit_test(test_b64_param),
		cmocka_unit_test(test_keyref),
		cmocka_unit_test(test_e2e_use),
		cmocka_unit_test(test_targets),
		cmocka_unit_test(test_only),
		cmocka_unit_test(test_method_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
