/*
 * fuzz_ipc_frame: the flow IPC frame reader, m2m_ipc_reader_feed()
 * (daemon/common/ipc.c: the cap, the NUL split, strict UTF-8, json-c with
 * its depth limit, the member and name checks).  The first input byte
 * picks the stream kind and the seed of a split; the rest is the stream.
 * Beyond memory and UB errors it checks the contract of ipc.h:
 *   - the results (each error code, each message's method or error name)
 *     are the same whether the stream comes whole or in the random
 *     chunks: no frame depends on how its bytes arrived;
 *   - feed takes at least one byte of a non-empty chunk, never more than
 *     it was given, and never buffers more than M2M_IPC_FRAME_MAX;
 *   - a message has a valid method (calls) or error (replies) name and an
 *     object of parameters, and encodes back into a frame that the reader
 *     reads as the same message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define EVENTS_MAX	64

struct event {
	int		r;
	unsigned long	h;	/* of the method or error name, 0 if none */
};

static unsigned long
hash(const char *s)
{
	unsigned long h = 5381;

	while (s != NULL && *s != '\0')
		h = h * 33 + (unsigned char)*s++;
	return h;
}

/* Re-encodes msg and reads it back: the same name and parameters. */
static void
round_trip(enum m2m_ipc_kind kind, struct m2m_ipc_msg *msg)
{
	struct m2m_ipc_reader *rd = NULL;
	struct m2m_ipc_msg *back = NULL;
	struct json_object *p = m2m_ipc_msg_parameters(msg);
	char *buf = NULL;
	size_t len = 0, used;
	int r;

	if (kind == M2M_IPC_CALLS)
		r = m2m_ipc_encode_call(m2m_ipc_msg_method(msg), p, &buf,
		    &len);
	else if (m2m_ipc_msg_error(msg) != NULL)
		r = m2m_ipc_encode_error(m2m_ipc_msg_error(msg), p, &buf,
		    &len);
	else
		r = m2m_ipc_encode_reply(p, &buf, &len);
	/* escapes may make it longer than the frame it came from */
	if (r == M2M_IPC_ERR_FRAME_TOO_LARGE && buf == NULL)
		return;
	if (r != 0 || len == 0 || buf[len - 1] != '\0' ||
	    strlen(buf) + 1 != len)
		abort();
	if (m2m_ipc_reader_new(kind, &rd) != 0)
		abort();
	if (m2m_ipc_reader_feed(rd, buf, len, &used, &back) != 0 ||
	    back == NULL || used != len)
		abort();
	if (hash(m2m_ipc_msg_method(back)) != hash(m2m_ipc_msg_method(msg)) ||
	    hash(m2m_ipc_msg_error(back)) != hash(m2m_ipc_msg_error(msg)) ||
	    !json_object_equal(m2m_ipc_msg_parameters(back), p))
		abort();
	m2m_ipc_msg_free(back);
	m2m_ipc_reader_free(rd);
	free(buf);
}

/*
 * Feeds the stream in chunks (whole if seed is 0) and records what comes
 * out; returns the number of events.
 */
static size_t
run(enum m2m_ipc_kind kind, const uint8_t *s, size_t n, uint32_t seed,
    struct event *ev)
{
	struct m2m_ipc_reader *rd = NULL;
	struct m2m_ipc_msg *msg = NULL;
	size_t off = 0, nev = 0, chunk, have, used;
	int r;

	if (m2m_ipc_reader_new(kind, &rd) != 0)
		abort();
	while (off < n && nev < EVENTS_MAX) {
		chunk = n - off;
		if (seed != 0) {
			seed = seed * 1103515245u + 12345u;
			chunk = 1 + (seed >> 16) % 97;
			if (chunk > n - off)
				chunk = n - off;
		}
		/* the bytes of one arrival, handed in until taken */
		for (have = 0; have < chunk; have += used) {
			r = m2m_ipc_reader_feed(rd, s + off + have,
			    chunk - have, &used, &msg);
			if (used == 0 || used > chunk - have ||
			    m2m_ipc_reader_capacity(rd) > M2M_IPC_FRAME_MAX)
				abort();
			if (r == 0 && msg == NULL)
				continue;
			if (r != 0 && msg != NULL)
				abort();
			if (msg != NULL) {
				if ((kind == M2M_IPC_CALLS &&
				    !m2m_ipc_name_valid(
				    m2m_ipc_msg_method(msg))) ||
				    (kind == M2M_IPC_REPLIES &&
				    m2m_ipc_msg_method(msg) != NULL) ||
				    !json_object_is_type(
				    m2m_ipc_msg_parameters(msg),
				    json_type_object))
					abort();
				round_trip(kind, msg);
				ev[nev].h = hash(kind == M2M_IPC_CALLS ?
				    m2m_ipc_msg_method(msg) :
				    m2m_ipc_msg_error(msg)) + 1;
				m2m_ipc_msg_free(msg);
				msg = NULL;
			} else
				ev[nev].h = 0;
			ev[nev].r = r;
			if (++nev == EVENTS_MAX)
				break;
			/* the end of the connection */
			if (r == M2M_IPC_ERR_FRAME_TOO_LARGE)
				goto out;
		}
		off += have;
	}
 out:
	m2m_ipc_reader_free(rd);
	return nev;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct event whole[EVENTS_MAX], split[EVENTS_MAX];
	enum m2m_ipc_kind kind;
	size_t nw, ns;

	if (size < 1)
		return 0;
	memset(whole, 0, sizeof(whole));
	memset(split, 0, sizeof(split));
	kind = (data[0] & 1) ? M2M_IPC_REPLIES : M2M_IPC_CALLS;
	nw = run(kind, data + 1, size - 1, 0, whole);
	ns = run(kind, data + 1, size - 1, 1u + data[0], split);
	/* a cut-off run (EVENTS_MAX) may stop at different bytes */
	if (nw < EVENTS_MAX && ns < EVENTS_MAX &&
	    (nw != ns || memcmp(whole, split, nw * sizeof(whole[0])) != 0))
		abort();
	return 0;
}
