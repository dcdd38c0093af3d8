/*
 * Unit tests for daemon/common/ipc.c: the flow IPC framing, over real
 * socketpairs where bytes travel (docs/protocol.md, "Framing").
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ipc.h"

static const char CALL[] =
    "{\"method\": \"io.m2mtoken.Mic\", \"parameters\": "
    "{\"key\": \"e2e-1\", \"data\": \"aGVsbG8=\", \"n\": [1, 2, {}]}}";

static void
pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
}

static void
put(int fd, const void *buf, size_t len)
{
	assert_int_equal(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Bytes waiting on fd, without taking them. */
static ssize_t
pending(int fd, char *buf, size_t len)
{
	ssize_t n = recv(fd, buf, len, MSG_PEEK | MSG_DONTWAIT);

	return n == -1 && errno == EAGAIN ? 0 : n;
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static void
check_call(struct m2m_ipc_msg *msg)
{
	struct json_object *p, *v;

	assert_non_null(msg);
	assert_string_equal(m2m_ipc_msg_method(msg), "io.m2mtoken.Mic");
	assert_null(m2m_ipc_msg_error(msg));
	p = m2m_ipc_msg_parameters(msg);
	assert_true(json_object_is_type(p, json_type_object));
	assert_true(json_object_object_get_ex(p, "key", &v));
	assert_string_equal(json_object_get_string(v), "e2e-1");
}

/* A call split at every byte boundary arrives whole, exactly once. */
static void
test_split_every_boundary(void **state)
{
	struct m2m_ipc_reader *rd = NULL;
	struct m2m_ipc_msg *msg = NULL;
	size_t len = sizeof(CALL), k;	/* with its NUL */
	char rest[8];
	int sv[2];

	(void)state;
	for (k = 0; k <= len; k++) {
		pair(sv);
		assert_int_equal(m2m_ipc_reader_new(M2M_IPC_CALLS, &rd), 0);
		if (k > 0)
			put(sv[1], CALL, k);
		if (k < len) {
			/* "need more", at once */
			assert_int_equal(m2m_ipc_reader_read_fd(rd, sv[0],
			    &msg), 0);
			assert_null(msg);
			put(sv[1], CALL + k, len - k);
		}
		assert_int_equal(m2m_ipc_reader_read_fd(rd, sv[0], &msg), 0);
		check_call(msg);
		m2m_ipc_msg_free(msg);
		assert_int_equal(pending(sv[0], rest, sizeof(rest)), 0);
		assert_int_equal(m2m_ipc_reader_read_fd(rd, sv[0], &msg), 0);
		assert_null(msg);
		close(sv[1]);
		assert_int_equal(m2m_ipc_reader_read_fd(rd, sv[0], &msg),
		    M2M_IPC_ERR_EOF);
		m2m_ipc_reader_free(rd);
		close(sv[0]);
	}
}

/* One byte at a time through feed(): used is 1 each time. */
static void
test_feed_byte_by_byte(void **state)
{
	struct m2m_ipc_reader *rd = NULL;
	struct m2m_ipc_msg *msg = NULL;
	size_t i, used;

	(void)state;
	assert_int_equal(m2m_ipc_reader_new(M2M_IPC_CALLS, &rd), 0);
	for (i = 0; i < sizeof(CALL); i++) {
		assert_int_equal(m2m_ipc_reader_feed(rd, CALL + i, 1, &used,
		    &msg), 0);
		assert_int_equal(used, 1);
		if (i + 1 < sizeof(CALL)) {
			assert_null(msg);
			assert_int_equal(m2m_ipc_reader_eof(rd),
			    M2M_IPC_ERR_TRUNCATED);
		}
	}
	check_call(msg);
	m2m_ipc_msg_free(msg);
	assert_int_equal(m2m_ipc_reader_eof(rd), 0);
	m2m_ipc_reader_free(rd);
}

/*
 * Three whole frames and the start of a fourth in one write: the first
 * read takes them all from the socket; each read gives one frame, the rest
 * held ahead (buffered) and fed before the socket is read again.
 */
static void
test_many_frames_one_read(void **state)
{
	struct m2m_ipc_reader *rd = NULL;
	struct m2m_ipc_msg *msg = NULL;
	char buf[4 * sizeof(CALL)], peek[sizeof(buf)];
	size_t len = 0, used, off;
	int sv[2], i;

	(void)state;
	for (i = 0; i < 3; i++) {
		memcpy(buf + len, CALL, sizeof(CALL));
		len += sizeof(CALL);
	}
	memcpy(buf + len, CALL, 10);
	len += 10;
	pair(sv);
	assert_int_equal(m2m_ipc_reader_new(M2M_IPC_CALLS, &rd), 0);
	put(sv[1], buf, len);
	assert_int_equal(m2m_ipc_reader_buffered(rd), 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(m2m_ipc_reader_read_fd(rd, sv[0], &msg), 0);
		check_call(msg);
		m2m_ipc_msg_free(msg);
		assert_int_equal(pending(sv[0], peek, sizeof(peek)), 0);
		/* the next frames (or the fourth's start) are held ahead */
		assert_int_equal(m2m_ipc_reader_buffered(rd), 1);
		assert_int_equal(m2m_ipc_reader_drained(rd), 0);
		assert_int_equal(m2m_ipc_reader_eof(rd), M2M_IPC_ERR_TRUNCATED);
	}
	assert_int_equal(m2m_ipc_reader_read_fd(rd, sv[0], &msg), 0);
	assert_null(msg);
	assert_int_equal(m2m_ipc_reader_buffered(rd), 0);
	assert_int_equal(m2m_ipc_reader_drained(rd), 1);
	put(sv[1], CALL + 10, sizeof(CALL) - 10);
	assert_int_equal(m2m_ipc_reader_read_fd(rd, sv[0], &msg), 0);
	check_call(msg);
	m2m_ipc_msg_free(msg);
	m2m_ipc_reader_free(rd);
	close(sv[0]);
	close(sv[1]);

	/* the same through feed(): used ends at each NUL */
	assert_int_equal(m2m_ipc_reader_new(M2M_IPC_CALLS, &rd), 0);
	for (off = 0, i = 0; i < 3; i++) {
		assert_int_equal(m2m_ipc_reader_feed(rd, buf + off,
		    len - off, &used, &msg), 0);
		assert_int_equal(used, sizeof(CALL));
		check_call(msg);
		m2m_ipc_msg_free(msg);
		off += used;
	}
	assert_int_equal(m2m_ipc_reader_feed(rd, buf + off, len - off, &used,
	    &msg), 0);
	assert_int_equal(used, 10);
	assert_null(msg);
	m2m_ipc_reader_free(rd);
}

/*
 * m2m_ipc_recv with a frame held ahead gives it at once, without waiting
 * for the socket (which has nothing more); then it waits, and times out;
 * a peer that closes after a whole frame and half of the next: the whole
 * one first, then TRUNCATED.
 */
static void
test_recv_ahead(void **state)
{
	struct m2m_ipc_reader *rd = NULL;
	struct m2m_ipc_msg *msg = NULL;
	char buf[3 * sizeof(CALL)];
	double t0;
	int sv[2];

	(void)state;
	memcpy(buf, CALL, sizeof(CALL));
	memcpy(buf + sizeof(CALL), CALL, sizeof(CALL));
	pair(sv);
	assert_int_equal(m2m_ipc_reader_new(M2M_IPC_CALLS, &rd), 0);
	put(sv[1], buf, 2 * sizeof(CALL));
	assert_int_equal(m2m_ipc_recv(rd, sv[0], 1000, &msg), 0);
	check_call(msg);
	m2m_ipc_msg_free(msg);
	assert_int_equal(m2m_ipc_reader_buffered(rd), 1);
	t0 = now_ms();
	assert_int_equal(m2m_ipc_recv(rd, sv[0], 5000, &msg), 0);
	assert_true(now_ms() - t0 < 1000);
	check_call(msg);
	m2m_ipc_msg_free(msg);
	assert_int_equal(m2m_ipc_recv(rd, sv[0], 50, &msg),
	    M2M_IPC_ERR_TIMEOUT);
	assert_null(msg);
	/* a whole frame and half of one, then the peer closes */
	put(sv[1], buf, sizeof(CALL) + 7);
	close(sv[1]);
	assert_int_equal(m2m_ipc_recv(rd, sv[0], 1000, &msg), 0);
	check_call(msg);
	m2m_ipc_msg_free(msg);
	assert_int_equal(m2m_ipc_recv(rd, sv[0], 1000, &msg),
	    M2M_IPC_ERR_TRUNCATED);
	m2m_ipc_reader_free(rd);
	close(sv[0]);
}

/* A call frame of exactly len bytes of JSON (padded with blanks). */
static char *
frame_of(size_t len)
{
	static const char head[] = "{\"method\":\"io.m2mtoken.A\","
	    "\"parameters\":{\"pad\":\"";
	char *f;

	assert_true(len > sizeof(head) + 4);
	assert_non_null(f = malloc(len + 1));
	memcpy(f, head, sizeof(head) - 1);
	memset(f + sizeof(head) - 1, 'x', len - (sizeof(head) - 1) - 3);
	memcpy(f + len - 3, "\"}}", 3);
	f[len] = '\0';
	return f;
}

/*
 * M2M_IPC_FRAME_MAX bytes of JSON pass; one more fails with
 * FRAME_TOO_LARGE as soon as that byte arrives (no NUL yet), the buffer
 * never larger than the cap, and the reader stays failed.
 */
static void
test_frame_cap(void **state)
{
	struct m2m_ipc_reader *rd = NULL;
	struct m2m_ipc_msg *msg = NULL;
	char *f;
	size_t used;
	int sv[2];

	(void)state;
	/* exactly at the cap, over a socketpair */
	f = frame_of(M2M_IPC_FRAME_MAX);
	pair(sv);
	assert_int_equal(m2m_ipc_reader_new(M2M_IPC_CALLS, &rd), 0);
	put(sv[1], f, M2M_IPC_FRAME_MAX + 1);
	assert_int_equal(m2m_ipc_reader_read_fd(rd, sv[0], &msg), 0);
	assert_non_null(msg);
	assert_string_equal(m2m_ipc_msg_method(msg), "io.m2mtoken.A");
	m2m_ipc_msg_free(msg);
	m2m_ipc_reader_free(rd);
	close(sv[0]);
	close(sv[1]);
	free(f);

	/* one byte over: fails on the byte, before any NUL */
	f = frame_of(M2M_IPC_FRAME_MAX + 1);
	assert_int_equal(m2m_ipc_reader_new(M2M_IPC_CALLS, &rd), 0);
	assert_int_equal(m2m_ipc_reader_feed(rd, f, M2M_IPC_FRAME_MAX, &used,
	    &msg), 0);
	assert_null(msg);
	assert_int_equal(used, M2M_IPC_FRAME_MAX);
	assert_true(m2m_ipc_reader_capacity(rd) <= M2M_IPC_FRAME_MAX);
	assert_int_equal(m2m_ipc_reader_feed(rd, f + M2M_IPC_FRAME_MAX, 1,
	    &used, &msg), M2M_IPC_ERR_FRAME_TOO_LARGE);
	assert_null(msg);
	assert_int_equal(m2m_ipc_reader_capacity(rd), 0);
	/* its end and a valid frame after it: still refused */
	assert_int_equal(m2m_ipc_reader_feed(rd, "", 1, &used, &msg),
	    M2M_IPC_ERR_FRAME_TOO_LARGE);
	assert_int_equal(m2m_ipc_reader_feed(rd, CALL, sizeof(CALL), &used,
	    &msg), M2M_IPC_ERR_FRAME_TOO_LARGE);
	assert_null(msg);
	assert_int_equal(m2m_ipc_reader_eof(rd), M2M_IPC_ERR_TRUNCATED);
	m2m_ipc_reader_free(rd);

	/* the same over a socketpair, the whole frame in one write */
	pair(sv);
	assert_int_equal(m2m_ipc_reader_new(M2M_IPC_CALLS, &rd), 0);
	put(sv[1], f, M2M_IPC_FRAME_MAX + 2);
	assert_int_equal(m2m_ipc_reader_read_fd(rd, sv[0], &msg),
	    M2M_IPC_ERR_FRAME_TOO_LARGE);
	assert_null(msg);
	assert_int_equal(m2m_ipc_reader_capacity(rd), 0);
	m2m_ipc_reader_free(rd);
	close(sv[0]);
	close(sv[1]);

	/* a big first chunk with no NUL: refused before it is copied */
	assert_int_equal(m2m_ipc_reader_new(M2M_IPC_CALLS, &rd), 0);
	assert_int_equal(m2m_ipc_reader_feed(rd, f, M2M_IPC_FRAME_MAX + 1,
	    &used, &msg), M2M_IPC_ERR_FRAME_TOO_LARGE);
	assert_int_equal(m2m_ipc_reader_capacity(rd), 0);
	m2m_ipc_reader_free(rd);
	free(f);
}

/* The writer refuses a frame over the cap and accepts one at it. */
static void
test_writer_cap(void **state)
{
	struct json_object *p;
	struct m2m_ipc_reader *rd = NULL;
	struct m2m_ipc_msg *msg = NULL;
	char *pad, *buf = NULL;
	size_t len = 0, used, plen;
	/* {"parameters":{"pad":"..."}} */
	const size_t over = sizeof("{\"parameters\":{\"pad\":\"\"}}") - 1;

	(void)state;
	plen = M2M_IPC_FRAME_MAX - over;
	assert_non_null(pad = malloc(plen + 2));
	memset(pad, 'y', plen + 1);
	pad[plen] = '\0';
	p = json_object_new_object();
	json_object_object_add(p, "pad", json_object_new_string(pad));
	assert_int_equal(m2m_ipc_encode_reply(p, &buf, &len), 0);
	assert_int_equal(len, M2M_IPC_FRAME_MAX + 1);
	assert_int_equal(buf[len - 1], '\0');
	assert_int_equal(m2m_ipc_reader_new(M2M_IPC_REPLIES, &rd), 0);
	assert_int_equal(m2m_ipc_reader_feed(rd, buf, len, &used, &msg), 0);
	assert_int_equal(used, len);
	assert_non_null(msg);
	assert_null(m2m_ipc_msg_error(msg));
	m2m_ipc_msg_free(msg);
	free(buf);
	buf = NULL;
	len = 0;

	pad[plen] = 'y';
	pad[plen + 1] = '\0';
	json_object_object_add(p, "pad", json_object_new_string(pad));
	assert_int_equal(m2m_ipc_encode_reply(p, &buf, &len),
	    M2M_IPC_ERR_FRAME_TOO_LARGE);
	assert_null(buf);
	assert_int_equal(len, 0);
	assert_int_equal(m2m_ipc_encode_error("io.m2mtoken.X", p, &buf,
	    &len), M2M_IPC_ERR_FRAME_TOO_LARGE);
	assert_int_equal(m2m_ipc_encode_call("io.m2mtoken.X", p, &buf,
	    &len), M2M_IPC_ERR_FRAME_TOO_LARGE);
	assert_null(buf);
	json_object_put(p);
	m2m_ipc_reader_free(rd);
	free(pad);
}

/* The peer closes inside a frame: TRUNCATED; between frames: EOF. */
static void
test_truncated_at_eof(void **state)
{
	struct m2m_ipc_reader *rd = NULL;
	struct m2m_ipc_msg *msg = NULL;
	int sv[2];

	(void)state;
	pair(sv);
	assert_int_equal(m2m_ipc_reader_new(M2M_IPC_CALLS, &rd), 0);
	put(sv[1], CALL, sizeof(CALL));
	put(sv[1], CALL, sizeof(CALL) - 1);	/* no NUL */
	close(sv[1]);
	assert_int_equal(m2m_ipc_reader_read_fd(rd, sv[0], &msg), 0);
	check_call(msg);
	m2m_ipc_msg_free(msg);
	assert_int_equal(m2m_ipc_reader_read_fd(rd, sv[0], &msg),
	    M2M_IPC_ERR_TRUNCATED);
	assert_null(msg);
	m2m_ipc_reader_free(rd);
	close(sv[0]);
}

struct bad {
	enum m2m_ipc_kind	 kind;
	const char		*text;
	int			 r;
};

static const struct bad bads[] = {
	{ M2M_IPC_CALLS, "", M2M_IPC_ERR_INVALID_JSON },
	{ M2M_IPC_CALLS, "   ", M2M_IPC_ERR_INVALID_JSON },
	{ M2M_IPC_CALLS, "{\"method\":", M2M_IPC_ERR_INVALID_JSON },
	{ M2M_IPC_CALLS, "{\"method\":\"io.m2mtoken.A\"} x",
	    M2M_IPC_ERR_INVALID_JSON },
	{ M2M_IPC_CALLS, "{\"method\":\"io.m2mtoken.A\"}{}",
	    M2M_IPC_ERR_INVALID_JSON },
	{ M2M_IPC_CALLS, "{'method':'io.m2mtoken.A'}",
	    M2M_IPC_ERR_INVALID_JSON },
	/* json-c reads a single-quoted name; JSON has none (fuzz_json_names) */
	{ M2M_IPC_CALLS, "{'method':\"io.m2mtoken.A\"}",
	    M2M_IPC_ERR_INVALID_JSON },
	{ M2M_IPC_CALLS, "{\"method\":\"io.m2mtoken.A\",\"parameters\":"
	    "{'\"':1}}", M2M_IPC_ERR_INVALID_JSON },
	{ M2M_IPC_CALLS, "{\"method\":\"io.m2mtoken.A\",}",
	    M2M_IPC_ERR_INVALID_JSON },
	{ M2M_IPC_CALLS, "{\"method\":\"io.m2mtoken.A\",\"parameters\":"
	    "{\"a\":\"\xff\"}}", M2M_IPC_ERR_INVALID_UTF8 },
	{ M2M_IPC_CALLS, "{\"method\":\"io.m2mtoken.A\",\"parameters\":"
	    "{\"a\":\"\xc0\xaf\"}}", M2M_IPC_ERR_INVALID_UTF8 },
	{ M2M_IPC_CALLS, "{\"method\":\"io.m2mtoken.A\",\"parameters\":"
	    "{\"\xed\xa0\x80\":1}}", M2M_IPC_ERR_INVALID_UTF8 },
	{ M2M_IPC_CALLS, "[1]", M2M_IPC_ERR_NOT_OBJECT },
	{ M2M_IPC_CALLS, "\"io.m2mtoken.A\"", M2M_IPC_ERR_NOT_OBJECT },
	{ M2M_IPC_CALLS, "null", M2M_IPC_ERR_NOT_OBJECT },
	{ M2M_IPC_CALLS, "true ", M2M_IPC_ERR_NOT_OBJECT },
	{ M2M_IPC_CALLS, "{}", M2M_IPC_ERR_NO_METHOD },
	{ M2M_IPC_CALLS, "{\"parameters\":{}}", M2M_IPC_ERR_NO_METHOD },
	{ M2M_IPC_CALLS, "{\"method\":1}", M2M_IPC_ERR_METHOD_TYPE },
	{ M2M_IPC_CALLS, "{\"method\":null}", M2M_IPC_ERR_METHOD_TYPE },
	{ M2M_IPC_CALLS, "{\"method\":[\"io.m2mtoken.A\"]}",
	    M2M_IPC_ERR_METHOD_TYPE },
	{ M2M_IPC_CALLS, "{\"method\":\"io.m2mtoken.\"}",
	    M2M_IPC_ERR_METHOD_NAME },
	{ M2M_IPC_CALLS, "{\"method\":\"io.m2mtoken.A1\"}",
	    M2M_IPC_ERR_METHOD_NAME },
	{ M2M_IPC_CALLS, "{\"method\":\"io.m2mtoken.A.B\"}",
	    M2M_IPC_ERR_METHOD_NAME },
	{ M2M_IPC_CALLS, "{\"method\":\"org.varlink.service.A\"}",
	    M2M_IPC_ERR_METHOD_NAME },
	{ M2M_IPC_CALLS, "{\"method\":\"io.m2mtoken.A\\u0000B\"}",
	    M2M_IPC_ERR_NUL_ESCAPE },
	{ M2M_IPC_CALLS, "{\"method\":\"io.m2mtoken.A\",\"method\\u0000x\":"
	    "\"io.m2mtoken.B\"}", M2M_IPC_ERR_NUL_ESCAPE },
	{ M2M_IPC_CALLS, "{\"method\":\"io.m2mtoken.A\",\"parameters\":"
	    "{\"k\":\"a\\u0000\"}}", M2M_IPC_ERR_NUL_ESCAPE },
	{ M2M_IPC_CALLS, "{\"method\":\"io.m2mtoken.\\u00c4\"}",
	    M2M_IPC_ERR_METHOD_NAME },
	{ M2M_IPC_CALLS, "{\"method\":\"io.m2mtoken.A\",\"more\":true}",
	    M2M_IPC_ERR_UNKNOWN_MEMBER },
	{ M2M_IPC_CALLS, "{\"method\":\"io.m2mtoken.A\",\"error\":"
	    "\"io.m2mtoken.B\"}", M2M_IPC_ERR_UNKNOWN_MEMBER },
	{ M2M_IPC_CALLS, "{\"method\":\"io.m2mtoken.A\",\"method\":"
	    "\"io.m2mtoken.B\"}", M2M_IPC_ERR_DUPLICATE_MEMBER },
	{ M2M_IPC_CALLS, "{\"parameters\":{},\"method\":\"io.m2mtoken.A\","
	    "\"parameters\":{\"a\":1}}", M2M_IPC_ERR_DUPLICATE_MEMBER },
	{ M2M_IPC_CALLS, "{\"method\":\"io.m2mtoken.A\",\"\\u006dethod\":"
	    "\"io.m2mtoken.B\"}", M2M_IPC_ERR_DUPLICATE_MEMBER },
	{ M2M_IPC_CALLS, "{\"method\":\"io.m2mtoken.A\",\"parameters\":[]}",
	    M2M_IPC_ERR_PARAMETERS_TYPE },
	{ M2M_IPC_CALLS, "{\"method\":\"io.m2mtoken.A\","
	    "\"parameters\":null}", M2M_IPC_ERR_PARAMETERS_TYPE },
	{ M2M_IPC_REPLIES, "{\"method\":\"io.m2mtoken.A\"}",
	    M2M_IPC_ERR_UNKNOWN_MEMBER },
	{ M2M_IPC_REPLIES, "{\"error\":\"NoSuchKey\"}",
	    M2M_IPC_ERR_ERROR_NAME },
	{ M2M_IPC_REPLIES, "{\"error\":7}", M2M_IPC_ERR_ERROR_NAME },
	{ M2M_IPC_REPLIES, "{\"parameters\":\"x\"}",
	    M2M_IPC_ERR_PARAMETERS_TYPE },
	{ M2M_IPC_REPLIES, "[]", M2M_IPC_ERR_NOT_OBJECT },
};

/*
 * Each malformed frame fails with its own error, takes exactly its bytes,
 * and the frame after it in the same stream is read as usual.
 */
static void
test_malformed(void **state)
{
	struct m2m_ipc_reader *rd = NULL;
	struct m2m_ipc_msg *msg = NULL;
	char buf[512];
	const char *good;
	size_t i, n, glen, used;
	int sv[2];

	(void)state;
	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		good = bads[i].kind == M2M_IPC_CALLS ? CALL :
		    "{\"error\":\"io.m2mtoken.NoSuchKey\"}";
		glen = strlen(good) + 1;
		n = strlen(bads[i].text);
		assert_true(n + 1 + glen <= sizeof(buf));
		memcpy(buf, bads[i].text, n + 1);
		memcpy(buf + n + 1, good, glen);

		assert_int_equal(m2m_ipc_reader_new(bads[i].kind, &rd), 0);
		if (m2m_ipc_reader_feed(rd, buf, n + 1 + glen, &used,
		    &msg) != bads[i].r)
			fail_msg("bad frame %zu (%s): not %s", i,
			    bads[i].text, m2m_ipc_strerror(bads[i].r));
		assert_null(msg);
		assert_int_equal(used, n + 1);
		assert_int_equal(m2m_ipc_reader_feed(rd, buf + used, glen,
		    &used, &msg), 0);
		assert_int_equal(used, glen);
		assert_non_null(msg);
		m2m_ipc_msg_free(msg);
		m2m_ipc_reader_free(rd);

		/* the same over a socketpair */
		pair(sv);
		assert_int_equal(m2m_ipc_reader_new(bads[i].kind, &rd), 0);
		put(sv[1], buf, n + 1 + glen);
		assert_int_equal(m2m_ipc_reader_read_fd(rd, sv[0], &msg),
		    bads[i].r);
		assert_null(msg);
		assert_int_equal(m2m_ipc_reader_read_fd(rd, sv[0], &msg), 0);
		assert_non_null(msg);
		m2m_ipc_msg_free(msg);
		m2m_ipc_reader_free(rd);
		close(sv[0]);
		close(sv[1]);
	}
}

/* Valid frames that look like the malformed ones above. */
static void
test_accepted(void **state)
{
	static const char *goods[] = {
		" \t\r\n{\"method\":\"io.m2mtoken.A\"} \n",
		"{\"method\":\"io.m2mtoken.A\",\"parameters\":{\"a\":"
		    "{\"b\":\":\"},\"c\":\"x:y\\\":z{[\",\"d\":[1,\":\"]}}",
		"{\"parameters\":{\"method\":1,\"parameters\":2},"
		    "\"method\":\"io.m2mtoken.A\"}",
		"{\"method\":\"io.m2mtoken.A\",\"parameters\":"
		    "{\"s\":\"\\\\u0000 \\u00e9 \xc3\xa9 \xf0\x9f\x98\x80\"}}",
		"{\"\\u006dethod\":\"io.m2mtoken.A\"}",
	};
	struct m2m_ipc_reader *rd = NULL;
	struct m2m_ipc_msg *msg = NULL;
	size_t i, used;

	(void)state;
	assert_int_equal(m2m_ipc_reader_new(M2M_IPC_CALLS, &rd), 0);
	for (i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		if (m2m_ipc_reader_feed(rd, goods[i], strlen(goods[i]) + 1,
		    &used, &msg) != 0 || msg == NULL)
			fail_msg("good frame %zu refused: %s", i, goods[i]);
		assert_string_equal(m2m_ipc_msg_method(msg), "io.m2mtoken.A");
		m2m_ipc_msg_free(msg);
	}
	m2m_ipc_reader_free(rd);
}

/* A call whose parameters nest to total depth d (the frame is 1). */
static char *
nested(size_t d)
{
	static const char head[] = "{\"method\":\"io.m2mtoken.A\","
	    "\"parameters\":";
	size_t i, n = sizeof(head) - 1;
	char *s;

	assert_non_null(s = malloc(n + 2 * d + 1));
	memcpy(s, head, n);
	for (i = 1; i < d; i++)
		s[n++] = '[';
	for (i = 1; i < d; i++)
		s[n++] = ']';
	s[n++] = '}';
	s[n] = '\0';
	return s;
}

/* Depth M2M_IPC_DEPTH_MAX passes (as an array parameter), one more not. */
static void
test_depth(void **state)
{
	struct m2m_ipc_reader *rd = NULL;
	struct m2m_ipc_msg *msg = NULL;
	char *s;
	size_t used;

	(void)state;
	assert_int_equal(m2m_ipc_reader_new(M2M_IPC_CALLS, &rd), 0);
	/* parameters must be an object: depth MAX passes json-c */
	s = nested(M2M_IPC_DEPTH_MAX);
	assert_int_equal(m2m_ipc_reader_feed(rd, s, strlen(s) + 1, &used,
	    &msg), M2M_IPC_ERR_PARAMETERS_TYPE);
	free(s);
	s = nested(M2M_IPC_DEPTH_MAX + 1);
	assert_int_equal(m2m_ipc_reader_feed(rd, s, strlen(s) + 1, &used,
	    &msg), M2M_IPC_ERR_TOO_DEEP);
	assert_int_equal(used, strlen(s) + 1);
	free(s);
	m2m_ipc_reader_free(rd);
}

/* A depth bomb as big as a frame may be: TOO_DEEP, not a stack crash. */
static void
test_depth_bomb(void **state)
{
	struct m2m_ipc_reader *rd = NULL;
	struct m2m_ipc_msg *msg = NULL;
	char *s;
	size_t used;
	int sv[2];

	(void)state;
	assert_non_null(s = malloc(M2M_IPC_FRAME_MAX + 1));
	memset(s, '[', M2M_IPC_FRAME_MAX);
	s[M2M_IPC_FRAME_MAX] = '\0';
	pair(sv);
	assert_int_equal(m2m_ipc_reader_new(M2M_IPC_CALLS, &rd), 0);
	put(sv[1], s, M2M_IPC_FRAME_MAX + 1);
	assert_int_equal(m2m_ipc_reader_read_fd(rd, sv[0], &msg),
	    M2M_IPC_ERR_TOO_DEEP);
	memset(s, '{', M2M_IPC_FRAME_MAX);
	assert_int_equal(m2m_ipc_reader_feed(rd, s, M2M_IPC_FRAME_MAX + 1,
	    &used, &msg), M2M_IPC_ERR_INVALID_JSON);
	m2m_ipc_reader_free(rd);
	close(sv[0]);
	close(sv[1]);
	free(s);
}

/*
 * A writer that stalls mid-frame: the reader says "need more" at once,
 * every time, and the blocking helper gives up at its timeout.
 */
static void
test_stalled_writer(void **state)
{
	struct m2m_ipc_reader *rd = NULL;
	struct m2m_ipc_msg *msg = NULL;
	double t0, t;
	int sv[2], i;

	(void)state;
	/* a blocking socket: the reader must not wait on it (or be killed) */
	alarm(20);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(m2m_ipc_reader_new(M2M_IPC_CALLS, &rd), 0);
	put(sv[1], CALL, 20);
	t0 = now_ms();
	for (i = 0; i < 1000; i++) {
		assert_int_equal(m2m_ipc_reader_read_fd(rd, sv[0], &msg), 0);
		assert_null(msg);
	}
	assert_true(now_ms() - t0 < 1000.0);
	t0 = now_ms();
	assert_int_equal(m2m_ipc_recv(rd, sv[0], 100, &msg),
	    M2M_IPC_ERR_TIMEOUT);
	t = now_ms() - t0;
	assert_null(msg);
	assert_true(t >= 95.0 && t < 2000.0);
	/* and the frame still completes */
	put(sv[1], CALL + 20, sizeof(CALL) - 20);
	assert_int_equal(m2m_ipc_recv(rd, sv[0], 1000, &msg), 0);
	check_call(msg);
	m2m_ipc_msg_free(msg);
	m2m_ipc_reader_free(rd);
	close(sv[0]);
	close(sv[1]);
	alarm(0);
}

/*
 * m2m_ipc_call against a peer whose reply is already queued: the call
 * goes out as one frame, the reply comes back, an error reply too.
 */
static void
test_call_and_replies(void **state)
{
	struct json_object *p, *v;
	struct m2m_ipc_reader *rd = NULL;
	struct m2m_ipc_msg *msg = NULL;
	char *buf = NULL;
	size_t len = 0;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	p = json_object_new_object();
	json_object_object_add(p, "mic", json_object_new_string("q1w2"));
	assert_int_equal(m2m_ipc_encode_reply(p, &buf, &len), 0);
	assert_int_equal(len, strlen(buf) + 1);
	assert_string_equal(buf, "{\"parameters\":{\"mic\":\"q1w2\"}}");
	put(sv[1], buf, len);
	free(buf);
	buf = NULL;
	assert_int_equal(m2m_ipc_call(sv[0], "io.m2mtoken.Mic", p, 1000,
	    &msg), 0);
	assert_null(m2m_ipc_msg_method(msg));
	assert_null(m2m_ipc_msg_error(msg));
	assert_true(json_object_object_get_ex(m2m_ipc_msg_parameters(msg),
	    "mic", &v));
	assert_string_equal(json_object_get_string(v), "q1w2");
	m2m_ipc_msg_free(msg);
	/* what the peer got */
	assert_int_equal(m2m_ipc_reader_new(M2M_IPC_CALLS, &rd), 0);
	assert_int_equal(m2m_ipc_recv(rd, sv[1], 1000, &msg), 0);
	assert_string_equal(m2m_ipc_msg_method(msg), "io.m2mtoken.Mic");
	m2m_ipc_msg_free(msg);

	/* an error reply from a code, with the caller's parameters */
	assert_int_equal(m2m_ipc_encode_error_code(
	    M2M_IPC_ERR_PERMISSION_DENIED, p, &buf, &len), 0);
	put(sv[1], buf, len);
	free(buf);
	buf = NULL;
	assert_int_equal(m2m_ipc_call(sv[0], "io.m2mtoken.Seal", NULL, 1000,
	    &msg), 0);
	assert_string_equal(m2m_ipc_msg_error(msg),
	    "io.m2mtoken.PermissionDenied");
	assert_true(json_object_object_get_ex(m2m_ipc_msg_parameters(msg),
	    "reason", &v));
	assert_string_equal(json_object_get_string(v), "permission denied");
	assert_true(json_object_object_get_ex(m2m_ipc_msg_parameters(msg),
	    "mic", &v));
	m2m_ipc_msg_free(msg);
	/* params was copied, not changed */
	assert_false(json_object_object_get_ex(p, "reason", NULL));
	assert_int_equal(m2m_ipc_recv(rd, sv[1], 1000, &msg), 0);
	assert_string_equal(m2m_ipc_msg_method(msg), "io.m2mtoken.Seal");
	assert_int_equal(json_object_object_length(
	    m2m_ipc_msg_parameters(msg)), 0);
	m2m_ipc_msg_free(msg);

	/* no reply before the timeout; a closed peer */
	msg = NULL;
	assert_int_equal(m2m_ipc_call(sv[0], "io.m2mtoken.Status", NULL, 50,
	    &msg), M2M_IPC_ERR_TIMEOUT);
	assert_null(msg);
	close(sv[1]);
	assert_int_equal(m2m_ipc_call(sv[0], "io.m2mtoken.Status", NULL, 50,
	    &msg), M2M_IPC_ERR_IO);
	m2m_ipc_reader_free(rd);
	json_object_put(p);
	close(sv[0]);
}

/* The writers refuse malformed names and parameters that are no object. */
static void
test_encode_refuses(void **state)
{
	struct json_object *a = json_object_new_array();
	char *buf = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(m2m_ipc_encode_call("io.m2mtoken.", NULL, &buf,
	    &len), M2M_IPC_ERR_METHOD_NAME);
	assert_int_equal(m2m_ipc_encode_call("Mic", NULL, &buf, &len),
	    M2M_IPC_ERR_METHOD_NAME);
	assert_int_equal(m2m_ipc_encode_call(NULL, NULL, &buf, &len),
	    M2M_IPC_ERR_METHOD_NAME);
	assert_int_equal(m2m_ipc_encode_error("io.m2mtoken.No Such", NULL,
	    &buf, &len), M2M_IPC_ERR_ERROR_NAME);
	assert_int_equal(m2m_ipc_encode_call("io.m2mtoken.A", a, &buf, &len),
	    M2M_IPC_ERR_PARAMETERS_TYPE);
	assert_int_equal(m2m_ipc_encode_reply(a, &buf, &len),
	    M2M_IPC_ERR_PARAMETERS_TYPE);
	assert_int_equal(m2m_ipc_encode_error_code(M2M_IPC_ERR_TOO_DEEP, a,
	    &buf, &len), M2M_IPC_ERR_PARAMETERS_TYPE);
	assert_null(buf);
	assert_int_equal(len, 0);
	/* a name of M2M_IPC_NAME_MAX bytes is valid, one more is not */
	{
		char name[M2M_IPC_NAME_MAX + 2];

		memcpy(name, M2M_IPC_NAME_PREFIX,
		    sizeof(M2M_IPC_NAME_PREFIX) - 1);
		memset(name + sizeof(M2M_IPC_NAME_PREFIX) - 1, 'a',
		    sizeof(name) - sizeof(M2M_IPC_NAME_PREFIX));
		name[M2M_IPC_NAME_MAX] = '\0';
		assert_true(m2m_ipc_name_valid(name));
		name[M2M_IPC_NAME_MAX] = 'a';
		name[M2M_IPC_NAME_MAX + 1] = '\0';
		assert_false(m2m_ipc_name_valid(name));
	}
	/* a NUL in a string: the reader would refuse it, the writer does */
	json_object_put(a);
	a = json_object_new_object();
	json_object_object_add(a, "s", json_object_new_string_len("a\0b", 3));
	assert_int_equal(m2m_ipc_encode_reply(a, &buf, &len),
	    M2M_IPC_ERR_NUL_ESCAPE);
	assert_null(buf);
	/* other control characters are escaped and read back */
	json_object_object_add(a, "s", json_object_new_string("a\\u0000\x01"));
	assert_int_equal(m2m_ipc_encode_reply(a, &buf, &len), 0);
	assert_int_equal(strlen(buf) + 1, len);
	assert_non_null(strstr(buf, "\\\\u0000\\u0001"));
	{
		struct m2m_ipc_reader *rd = NULL;
		struct m2m_ipc_msg *msg = NULL;
		struct json_object *v;
		size_t used;

		assert_int_equal(m2m_ipc_reader_new(M2M_IPC_REPLIES, &rd), 0);
		assert_int_equal(m2m_ipc_reader_feed(rd, buf, len, &used,
		    &msg), 0);
		assert_true(json_object_object_get_ex(
		    m2m_ipc_msg_parameters(msg), "s", &v));
		assert_string_equal(json_object_get_string(v),
		    "a\\u0000\x01");
		m2m_ipc_msg_free(msg);
		m2m_ipc_reader_free(rd);
	}
	free(buf);
	json_object_put(a);
}

/*
 * m2m_json_text writes what json-c writes (the frames kept their bytes
 * when encode() stopped using json-c's printbuf), escapes included, and
 * m2m_json_put_wiped zeroes a tree's strings.
 */
static void
test_json_text(void **state)
{
	static const int fl[] = { JSON_C_TO_STRING_PLAIN,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE };
	struct json_object *o, *a, *in;
	const char *want;
	char s[40], *buf;
	size_t i, len, wlen;

	(void)state;
	for (i = 0; i < 32; i++)
		s[i] = (char)(i + 1);
	memcpy(s + 31, "/\\\"\x7f\xc3\xa9", 7);
	o = json_object_new_object();
	json_object_object_add(o, "ctl", json_object_new_string_len(s, 38));
	json_object_object_add(o, "k/\"\n", json_object_new_string("v"));
	json_object_object_add(o, "i", json_object_new_int64(-42));
	json_object_object_add(o, "d", json_object_new_double(1.5));
	json_object_object_add(o, "t", json_object_new_boolean(1));
	json_object_object_add(o, "n", NULL);
	a = json_object_new_array();
	json_object_array_add(a, json_object_new_object());
	json_object_array_add(a, json_object_new_array());
	json_object_array_add(a, NULL);
	json_object_array_add(a, json_object_new_string("a/b"));
	json_object_object_add(o, "a", a);
	for (i = 0; i < 2; i++) {
		want = json_object_to_json_string_length(o, fl[i], &wlen);
		assert_int_equal(m2m_json_text(o, fl[i], SIZE_MAX, &buf, &len),
		    0);
		assert_int_equal(len, wlen);
		assert_memory_equal(buf, want, len);
		assert_int_equal(buf[len], '\0');
		free(buf);
	}
	assert_int_equal(m2m_json_text(o, 0, wlen - 1, &buf, &len),
	    M2M_IPC_ERR_FRAME_TOO_LARGE);
	assert_null(buf);

	assert_true(json_object_object_get_ex(o, "a", &a));
	in = json_object_get(json_object_array_get_idx(a, 3));
	m2m_json_put_wiped(o);
	assert_int_equal(json_object_get_string_len(in), 3);
	assert_memory_equal(json_object_get_string(in), "\0\0\0", 3);
	json_object_put(in);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_every_boundary),
		cmocka_unit_test(test_feed_byte_by_byte),
		cmocka_unit_test(test_many_frames_one_read),
		cmocka_unit_test(test_recv_ahead),
		cmocka_unit_test(test_frame_cap),
		cmocka_unit_test(test_writer_cap),
		cmocka_unit_test(test_truncated_at_eof),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_depth_bomb),
		cmocka_unit_test(test_stalled_writer),
		cmocka_unit_test(test_call_and_replies),
		cmocka_unit_test(test_encode_refuses),
		cmocka_unit_test(test_json_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
