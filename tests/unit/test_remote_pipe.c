/*
 * Unit tests of pkcs11/remote_pipe.c: when client mode may pipeline a
 * C_SignInit / C_VerifyInit (the session table; the wire part is proven by
 * tests/integration/p11_pipeline.c in client mode).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "remote_pipe.h"

#define SESS	7
#define KEY	42

static CK_MECHANISM hmac = { CKM_SHA256_HMAC, NULL, 0 };
static uint8_t sig[32];
static CK_ULONG siglen;

/* a[] of an init: session, mechanism, key */
static void
init_args(struct p11w_arg *a, CK_SESSION_HANDLE s, CK_MECHANISM *m,
    CK_OBJECT_HANDLE k)
{
	memset(a, 0, sizeof(*a) * P11W_MAX_ARGS);
	a[0].v = s;
	a[1].p = m;
	a[2].v = k;
}

/* a[] of C_Sign: session, data, signature (NULL: a size query) */
static void
sign_args(struct p11w_arg *a, CK_SESSION_HANDLE s, void *out)
{
	memset(a, 0, sizeof(*a) * P11W_MAX_ARGS);
	a[0].v = s;
	a[2].p = out;
	a[2].lp = &siglen;
}

static int
may(CK_SESSION_HANDLE s, uint32_t call, CK_MECHANISM *m, CK_OBJECT_HANDLE k,
    uint64_t epoch)
{
	struct p11w_arg a[P11W_MAX_ARGS];
	uint64_t gen;

	init_args(a, s, m, k);
	return rp_may_pipeline(call, a, epoch, &gen);
}

/* An init answered rv over the wire between epochs e0 and e1. */
static void
wire_init(CK_SESSION_HANDLE s, uint32_t call, CK_MECHANISM *m,
    CK_OBJECT_HANDLE k, CK_RV rv, uint64_t e0, uint64_t e1)
{
	struct p11w_arg a[P11W_MAX_ARGS];

	init_args(a, s, m, k);
	rp_after(call, a, rv, 0, e0, e1);
}

static void
after_sign(CK_SESSION_HANDLE s, uint32_t call, void *out, CK_RV rv)
{
	struct p11w_arg a[P11W_MAX_ARGS];

	sign_args(a, s, out);
	if (call == P11W_CALL_C_SignFinal) {
		a[1] = a[2];
		memset(&a[2], 0, sizeof(a[2]));
	}
	rp_after(call, a, rv, 0, 0, 0);
}

static int
teardown(void **state)
{
	(void)state;
	rp_clear();
	return 0;
}

/* an init OK, its operation ended: pipelined at the same epoch only */
static void
test_repeat(void **state)
{
	CK_ULONG l16 = 16, l20 = 20;
	CK_MECHANISM g16 = { CKM_SHA256_HMAC_GENERAL, &l16, sizeof(l16) };
	CK_MECHANISM g20 = { CKM_SHA256_HMAC_GENERAL, &l20, sizeof(l20) };
	CK_MECHANISM h512 = { CKM_SHA512_HMAC, NULL, 0 };

	(void)state;
	assert_int_equal(may(SESS, P11W_CALL_C_SignInit, &hmac, KEY, 5), 0);
	wire_init(SESS, P11W_CALL_C_SignInit, &hmac, KEY, CKR_OK, 5, 5);
	/* active: no */
	assert_int_equal(may(SESS, P11W_CALL_C_SignInit, &hmac, KEY, 5), 0);
	after_sign(SESS, P11W_CALL_C_Sign, sig, CKR_OK);
	assert_int_equal(may(SESS, P11W_CALL_C_SignInit, &hmac, KEY, 5), 1);
	assert_int_equal(may(SESS, P11W_CALL_C_SignInit, &hmac, KEY, 6), 0);
	assert_int_equal(may(SESS, P11W_CALL_C_SignInit, &hmac, KEY + 1, 5),
	    0);
	assert_int_equal(may(SESS, P11W_CALL_C_SignInit, &h512, KEY, 5), 0);
	assert_int_equal(may(SESS, P11W_CALL_C_VerifyInit, &hmac, KEY, 5), 0);
	assert_int_equal(may(SESS + 1, P11W_CALL_C_SignInit, &hmac, KEY, 5),
	    0);
	assert_int_equal(may(SESS, P11W_CALL_C_EncryptInit, &hmac, KEY, 5),
	    0);
	/* parameter bytes */
	wire_init(SESS, P11W_CALL_C_SignInit, &g16, KEY, CKR_OK, 5, 5);
	after_sign(SESS, P11W_CALL_C_Sign, sig, CKR_OK);
	assert_int_equal(may(SESS, P11W_CALL_C_SignInit, &g16, KEY, 5), 1);
	assert_int_equal(may(SESS, P11W_CALL_C_SignInit, &g20, KEY, 5), 0);
	assert_int_equal(may(SESS, P11W_CALL_C_SignInit, &hmac, KEY, 5), 0);
	/* an epoch moved during the init: not remembered */
	wire_init(SESS, P11W_CALL_C_SignInit, &hmac, KEY, CKR_OK, 7, 8);
	after_sign(SESS, P11W_CALL_C_Sign, sig, CKR_OK);
	assert_int_equal(may(SESS, P11W_CALL_C_SignInit, &hmac, KEY, 7), 0);
	assert_int_equal(may(SESS, P11W_CALL_C_SignInit, &hmac, KEY, 8), 0);
}

/* mechanisms with an output parameter are never pipelined */
static void
test_mech(void **state)
{
	CK_GCM_PARAMS gp;
	CK_MECHANISM gcm = { CKM_AES_GCM, &gp, sizeof(gp) };

	(void)state;
	assert_int_equal(rp_mech_ok(CKM_SHA256_HMAC), 1);
	assert_int_equal(rp_mech_ok(CKM_ECDSA_SHA256), 1);
	assert_int_equal(rp_mech_ok(CKM_AES_GCM), 0);
	assert_int_equal(rp_mech_ok(CKM_M2M_E2E_EXPAND), 0);
	memset(&gp, 0, sizeof(gp));
	wire_init(SESS, P11W_CALL_C_SignInit, &gcm, KEY, CKR_OK, 1, 1);
	assert_int_equal(rp_count(), 0);
	assert_int_equal(may(SESS, P11W_CALL_C_SignInit, &gcm, KEY, 1), 0);
}

/* the PKCS#11 rules of an operation's end */
static void
test_op_end(void **state)
{
	(void)state;
	wire_init(SESS, P11W_CALL_C_SignInit, &hmac, KEY, CKR_OK, 1, 1);
	after_sign(SESS, P11W_CALL_C_Sign, NULL, CKR_OK);	/* size query */
	assert_int_equal(may(SESS, P11W_CALL_C_SignInit, &hmac, KEY, 1), 0);
	after_sign(SESS, P11W_CALL_C_Sign, sig, CKR_BUFFER_TOO_SMALL);
	assert_int_equal(may(SESS, P11W_CALL_C_SignInit, &hmac, KEY, 1), 0);
	after_sign(SESS, P11W_CALL_C_SignUpdate, NULL, CKR_OK);
	assert_int_equal(may(SESS, P11W_CALL_C_SignInit, &hmac, KEY, 1), 0);
	after_sign(SESS, P11W_CALL_C_SignFinal, sig, CKR_OK);
	assert_int_equal(may(SESS, P11W_CALL_C_SignInit, &hmac, KEY, 1), 1);

	/* an error: unsure, so no */
	wire_init(SESS, P11W_CALL_C_SignInit, &hmac, KEY, CKR_OK, 1, 1);
	after_sign(SESS, P11W_CALL_C_Sign, sig, CKR_ARGUMENTS_BAD);
	assert_int_equal(may(SESS, P11W_CALL_C_SignInit, &hmac, KEY, 1), 0);
	/* a failed init: no */
	wire_init(SESS, P11W_CALL_C_SignInit, &hmac, KEY,
	    CKR_OPERATION_ACTIVE, 1, 1);
	assert_int_equal(may(SESS, P11W_CALL_C_SignInit, &hmac, KEY, 1), 0);

	/* verify: CKR_SIGNATURE_INVALID ends it too */
	wire_init(SESS, P11W_CALL_C_VerifyInit, &hmac, KEY, CKR_OK, 1, 1);
	after_sign(SESS, P11W_CALL_C_Verify, NULL, CKR_SIGNATURE_INVALID);
	assert_int_equal(may(SESS, P11W_CALL_C_VerifyInit, &hmac, KEY, 1), 1);
	/* another operation on the session: unsure */
	after_sign(SESS, P11W_CALL_C_DigestInit, NULL, CKR_OK);
	assert_int_equal(may(SESS, P11W_CALL_C_VerifyInit, &hmac, KEY, 1), 0);
}

/* rp_take_pending, short */
static CK_RV
take(uint32_t call, const struct p11w_arg *a, uint64_t seq, int *over,
    int *earlier)
{
	return rp_take_pending(call, a, seq, over, earlier);
}

/* a pipelined init's error: pending on the next call of its operation */
static void
test_pending(void **state)
{
	struct p11w_arg a[P11W_MAX_ARGS];
	uint64_t gen;
	int over, earlier;

	(void)state;
	wire_init(SESS, P11W_CALL_C_SignInit, &hmac, KEY, CKR_OK, 1, 1);
	after_sign(SESS, P11W_CALL_C_Sign, sig, CKR_OK);
	init_args(a, SESS, &hmac, KEY);
	assert_int_equal(rp_may_pipeline(P11W_CALL_C_SignInit, a, 1, &gen),
	    1);
	rp_pipelined(P11W_CALL_C_SignInit, SESS, 99, 99);
	/* no second one while the first is active */
	assert_int_equal(may(SESS, P11W_CALL_C_SignInit, &hmac, KEY, 1), 0);
	/* a reply overtaking it */
	sign_args(a, SESS, sig);
	assert_int_equal(take(P11W_CALL_C_Sign, a, 1000,
	    &over, &earlier), CKR_OK);
	assert_int_equal(over, 1);
	/* a stale generation or id changes nothing */
	assert_int_equal(rp_init_reply(P11W_CALL_C_SignInit, SESS, gen + 1, 99,
	    CKR_KEY_HANDLE_INVALID), 0);
	assert_int_equal(rp_init_reply(P11W_CALL_C_SignInit, SESS, gen, 98,
	    CKR_KEY_HANDLE_INVALID), 0);
	assert_int_equal(rp_init_reply(P11W_CALL_C_SignInit, SESS, gen, 99,
	    CKR_KEY_HANDLE_INVALID), 1);
	/* not for verify; for sign, once */
	assert_int_equal(take(P11W_CALL_C_Verify, a, 1000,
	    &over, &earlier),
	    CKR_OK);
	assert_int_equal(take(P11W_CALL_C_SignUpdate, a, 1000,
	    &over, &earlier),
	    CKR_KEY_HANDLE_INVALID);
	assert_int_equal(over, 0);
	assert_int_equal(take(P11W_CALL_C_Sign, a, 1000,
	    &over, &earlier), CKR_OK);
	rp_after(P11W_CALL_C_SignUpdate, a, CKR_KEY_HANDLE_INVALID, 1, 1, 1);
	assert_int_equal(may(SESS, P11W_CALL_C_SignInit, &hmac, KEY, 1), 0);

	/* CKR_OK: nothing pending, the operation goes on */
	wire_init(SESS, P11W_CALL_C_SignInit, &hmac, KEY, CKR_OK, 2, 2);
	after_sign(SESS, P11W_CALL_C_Sign, sig, CKR_OK);
	init_args(a, SESS, &hmac, KEY);
	assert_int_equal(rp_may_pipeline(P11W_CALL_C_SignInit, a, 2, &gen),
	    1);
	rp_pipelined(P11W_CALL_C_SignInit, SESS, 100, 100);
	assert_int_equal(rp_init_reply(P11W_CALL_C_SignInit, SESS, gen, 100,
	    CKR_OK), 0);
	sign_args(a, SESS, sig);
	assert_int_equal(take(P11W_CALL_C_Sign, a, 1000,
	    &over, &earlier), CKR_OK);
	assert_int_equal(over, 0);
	after_sign(SESS, P11W_CALL_C_Sign, sig, CKR_OK);
	assert_int_equal(may(SESS, P11W_CALL_C_SignInit, &hmac, KEY, 2), 1);
}

/*
 * Two threads on one session: a call sent before the pipelined init is
 * not overtaking it (its reply comes first), takes no pending error of
 * it and leaves the session unknown; a call sent after it still is.
 */
static void
test_earlier(void **state)
{
	struct p11w_arg a[P11W_MAX_ARGS];
	uint64_t gen;
	int over, earlier;

	(void)state;
	wire_init(SESS, P11W_CALL_C_SignInit, &hmac, KEY, CKR_OK, 1, 1);
	after_sign(SESS, P11W_CALL_C_Sign, sig, CKR_OK);
	init_args(a, SESS, &hmac, KEY);
	assert_int_equal(rp_may_pipeline(P11W_CALL_C_SignInit, a, 1, &gen),
	    1);
	rp_pipelined(P11W_CALL_C_SignInit, SESS, 7, 50);
	/* a C_Sign sent as request 49, before the init: its own reply */
	sign_args(a, SESS, sig);
	assert_int_equal(take(P11W_CALL_C_Sign, a, 49, &over, &earlier),
	    CKR_OK);
	assert_int_equal(over, 0);
	assert_int_equal(earlier, 1);
	rp_after(P11W_CALL_C_Sign, a, CKR_OPERATION_NOT_INITIALIZED, earlier,
	    1, 1);
	/* the init's error: not for request 49, for request 51 */
	assert_int_equal(rp_init_reply(P11W_CALL_C_SignInit, SESS, gen, 7,
	    CKR_KEY_HANDLE_INVALID), 1);
	assert_int_equal(take(P11W_CALL_C_Sign, a, 49, &over, &earlier),
	    CKR_OK);
	assert_int_equal(earlier, 1);
	assert_int_equal(take(P11W_CALL_C_Sign, a, 51, &over, &earlier),
	    CKR_KEY_HANDLE_INVALID);
	assert_int_equal(over, 0);
	assert_int_equal(earlier, 0);
	rp_after(P11W_CALL_C_Sign, a, CKR_KEY_HANDLE_INVALID, 1, 1, 1);
	assert_int_equal(may(SESS, P11W_CALL_C_SignInit, &hmac, KEY, 1), 0);

	/* and a later one before the init's reply: overtaken */
	wire_init(SESS, P11W_CALL_C_SignInit, &hmac, KEY, CKR_OK, 2, 2);
	after_sign(SESS, P11W_CALL_C_Sign, sig, CKR_OK);
	init_args(a, SESS, &hmac, KEY);
	assert_int_equal(rp_may_pipeline(P11W_CALL_C_SignInit, a, 2, &gen),
	    1);
	rp_pipelined(P11W_CALL_C_SignInit, SESS, 8, 60);
	sign_args(a, SESS, sig);
	assert_int_equal(take(P11W_CALL_C_Sign, a, 61, &over, &earlier),
	    CKR_OK);
	assert_int_equal(over, 1);
	assert_int_equal(earlier, 0);
}

/* C_SessionCancel, C_Logout, C_CloseSession end a pending error */
static void
test_pending_ends(void **state)
{
	struct p11w_arg a[P11W_MAX_ARGS];
	uint64_t gen;
	uint32_t calls[] = { P11W_CALL_C_SessionCancel, P11W_CALL_C_Logout,
	    P11W_CALL_C_CloseSession };
	size_t i;
	int over, earlier;

	(void)state;
	for (i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		wire_init(SESS, P11W_CALL_C_SignInit, &hmac, KEY, CKR_OK, 1,
		    1);
		after_sign(SESS, P11W_CALL_C_Sign, sig, CKR_OK);
		init_args(a, SESS, &hmac, KEY);
		assert_int_equal(rp_may_pipeline(P11W_CALL_C_SignInit, a, 1,
		    &gen), 1);
		rp_pipelined(P11W_CALL_C_SignInit, SESS, 5, 5);
		assert_int_equal(rp_init_reply(P11W_CALL_C_SignInit, SESS,
		    gen, 5, CKR_KEY_HANDLE_INVALID), 1);
		memset(a, 0, sizeof(a));
		a[0].v = SESS;
		a[1].v = CKF_SIGN;
		rp_after(calls[i], a, CKR_OK, 0, 1, 1);
		sign_args(a, SESS, sig);
		assert_int_equal(take(P11W_CALL_C_Sign, a, 1000,
		    &over, &earlier),
		    CKR_OK);
	}
	assert_int_equal(rp_count(), 0);
	wire_init(SESS, P11W_CALL_C_SignInit, &hmac, KEY, CKR_OK, 1, 1);
	wire_init(SESS + 1, P11W_CALL_C_SignInit, &hmac, KEY, CKR_OK, 1, 1);
	assert_int_equal(rp_count(), 2);
	memset(a, 0, sizeof(a));
	rp_after(P11W_CALL_C_CloseAllSessions, a, CKR_OK, 0, 1, 1);
	assert_int_equal(rp_count(), 0);
}

/* the allow-list of the epoch */
static void
test_epoch(void **state)
{
	(void)state;
	assert_int_equal(rp_keeps_epoch(P11W_CALL_C_Sign), 1);
	assert_int_equal(rp_keeps_epoch(P11W_CALL_C_SignInit), 1);
	assert_int_equal(rp_keeps_epoch(P11W_CALL_C_GetAttributeValue), 1);
	assert_int_equal(rp_keeps_epoch(P11W_CALL_C_FindObjects), 1);
	assert_int_equal(rp_keeps_epoch(P11W_CALL_C_GenerateRandom), 1);
	assert_int_equal(rp_keeps_epoch(P11W_CALL_C_DestroyObject), 0);
	assert_int_equal(rp_keeps_epoch(P11W_CALL_C_SetAttributeValue), 0);
	assert_int_equal(rp_keeps_epoch(P11W_CALL_C_Login), 0);
	assert_int_equal(rp_keeps_epoch(P11W_CALL_C_Logout), 0);
	assert_int_equal(rp_keeps_epoch(P11W_CALL_C_CloseSession), 0);
	assert_int_equal(rp_keeps_epoch(P11W_CALL_C_OpenSession), 0);
	assert_int_equal(rp_keeps_epoch(P11W_CALL_C_CreateObject), 0);
	assert_int_equal(rp_keeps_epoch(P11W_CALL_C_SessionCancel), 0);
	assert_int_equal(rp_keeps_epoch(P11W_CALL_C_SignRecoverInit), 0);
	assert_int_equal(rp_tracks(P11W_CALL_C_GetSlotList), 0);
	assert_int_equal(rp_tracks(P11W_CALL_C_GetAttributeValue), 0);
	assert_int_equal(rp_tracks(P11W_CALL_C_Sign), 1);
	assert_int_equal(rp_tracks(P11W_CALL_C_DestroyObject), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_repeat, teardown),
		cmocka_unit_test_teardown(test_mech, teardown),
		cmocka_unit_test_teardown(test_op_end, teardown),
		cmocka_unit_test_teardown(test_pending, teardown),
		cmocka_unit_test_teardown(test_earlier, teardown),
		cmocka_unit_test_teardown(test_pending_ends, teardown),
		cmocka_unit_test_teardown(test_epoch, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
