/*
 * The allocation-failure loop over daemon/common (STYLE.md, after curl's
 * torture tests): for every N, fail the Nth allocation of a scenario; the
 * scenario must then fail with M2M_IPC_ERR_NO_MEMORY, outputs untouched,
 * and free everything (LeakSanitizer and valgrind check at exit); the run
 * that sees no failure must give the full result.
 *
 * The allocators of the statically linked code (daemon/common) are
 * wrapped (support_alloc.c, tests/CMakeLists.txt); json-c, inih and the
 * C library allocate inside their shared libraries and are never failed.
 */
#include <sys/socket.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "acl.h"
#include "ipc.h"
#include "peer.h"
#include "support_alloc.h"

#define SENTINEL	((void *)(uintptr_t)0x5a5a)

static const char STREAM[] =
    "{\"method\":\"io.m2mtoken.Mic\",\"parameters\":{\"key\":\"e2e-1\"}}\0"
    "{\"method\":1}\0"
    "{\"method\":\"io.m2mtoken.Status\"}";	/* + its NUL */

/* Reader: two frames (one valid, one not) and a third; 0 if all seen. */
static int
sc_reader(void)
{
	struct m2m_ipc_reader *rd = SENTINEL;
	struct m2m_ipc_msg *msg = NULL;
	size_t off = 0, used;
	int r, got = 0;

	if ((r = m2m_ipc_reader_new(M2M_IPC_CALLS, &rd)) != 0) {
		assert_ptr_equal(rd, SENTINEL);
		return r;
	}
	while (off < sizeof(STREAM)) {
		r = m2m_ipc_reader_feed(rd, STREAM + off, sizeof(STREAM) - off,
		    &used, &msg);
		off += used;
		if (r == M2M_IPC_ERR_NO_MEMORY) {
			assert_null(msg);
			m2m_ipc_reader_free(rd);
			return r;
		}
		if (msg != NULL) {
			got++;
			m2m_ipc_msg_free(msg);
			msg = NULL;
		} else if (r != 0)
			assert_int_equal(r, M2M_IPC_ERR_METHOD_TYPE);
	}
	m2m_ipc_reader_free(rd);
	assert_int_equal(got, 2);
	return 0;
}

/* Writers: a call, a reply and an error reply from a code. */
static int
sc_writers(void)
{
	struct json_object *p = json_object_new_object();
	char *buf = SENTINEL;
	size_t len = 7;
	int r;

	json_object_object_add(p, "key", json_object_new_string("e2e-1"));
	if ((r = m2m_ipc_encode_call("io.m2mtoken.Mic", p, &buf,
	    &len)) != 0)
		goto out;
	free(buf);
	buf = SENTINEL;
	if ((r = m2m_ipc_encode_error_code(M2M_IPC_ERR_PERMISSION_DENIED, p,
	    &buf, &len)) != 0)
		goto out;
	assert_non_null(strstr(buf, "PermissionDenied"));
	free(buf);
	buf = SENTINEL;
	if ((r = m2m_ipc_encode_reply(p, &buf, &len)) != 0)
		goto out;
	free(buf);
	buf = SENTINEL;
 out:
	assert_ptr_equal(buf, SENTINEL);
	json_object_put(p);
	return r;
}

/* The ACL parser (string and FILE) and a decision. */
static int
sc_acl(void)
{
	static const char text[] =
	    "[caller a]\nuid = 1\nmethods = io.m2mtoken.Mic *\n"
	    "keys = e2e-* k?\n[caller b]\nuser = root\nmethods = *\n"
	    "[caller c]\ngroup = root\nmethods = io.m2mtoken.Status\n";
	struct m2m_acl *acl = SENTINEL;
	struct m2m_acl_verdict v;
	char err[160];
	gid_t g = 0;
	FILE *f;
	int r;

	if ((r = m2m_acl_parse_string(text, &acl, err, sizeof(err))) != 0) {
		assert_ptr_equal(acl, SENTINEL);
		return r;
	}
	assert_int_equal(m2m_acl_rules(acl), 3);
	assert_int_equal(m2m_acl_check(acl, 1, &g, 1, "io.m2mtoken.Mic",
	    "e2e-9", &v), 0);
	assert_true(v.allow);
	m2m_acl_free(acl);
	acl = SENTINEL;
	assert_non_null(f = fmemopen((void *)(uintptr_t)text,
	    sizeof(text) - 1, "r"));
	r = m2m_acl_parse_file(f, &acl, err, sizeof(err));
	fclose(f);
	if (r != 0) {
		assert_ptr_equal(acl, SENTINEL);
		return r;
	}
	m2m_acl_free(acl);
	return 0;
}

/* Peer credentials of a socketpair. */
static int
sc_peer(void)
{
	struct m2m_peer *peer = SENTINEL;
	int sv[2], r;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	r = m2m_peer_from_fd(sv[0], &peer);
	close(sv[0]);
	close(sv[1]);
	if (r != 0) {
		assert_ptr_equal(peer, SENTINEL);
		return r;
	}
	assert_int_equal(peer->uid, getuid());
	m2m_peer_free(peer);
	return 0;
}

static void
torture(int (*sc)(void), const char *name)
{
	unsigned long n;
	int r, hit;

	for (n = 1; n < 100000; n++) {
		m2m_alloc_arm(n);
		r = sc();
		hit = m2m_alloc_disarm();
		if (!hit) {
			if (r != 0)
				fail_msg("%s: %s without an injected failure",
				    name, m2m_ipc_strerror(r));
			/* our code allocated at least once: not vacuous */
			if (n < 2)
				fail_msg("%s: no allocation to fail", name);
			return;
		}
		if (r != 0 && r != M2M_IPC_ERR_NO_MEMORY)
			fail_msg("%s: allocation %lu failed: %s", name, n,
			    m2m_ipc_strerror(r));
	}
	fail_msg("%s: no end", name);
}

static void
test_reader(void **state)
{
	(void)state;
	torture(sc_reader, "reader");
}

static void
test_writers(void **state)
{
	(void)state;
	torture(sc_writers, "writers");
}

static void
test_acl(void **state)
{
	(void)state;
	torture(sc_acl, "acl");
}

static void
test_peer(void **state)
{
	(void)state;
	torture(sc_peer, "peer");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reader),
		cmocka_unit_test(test_writers),
		cmocka_unit_test(test_acl),
		cmocka_unit_test(test_peer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
