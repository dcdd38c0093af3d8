/*
 * fuzz_p11wire: the worker's request decoder of client mode,
 * p11w_req_decode() (p11wire/codec.c), over every call.  The first input
 * byte picks the call; the rest is the request body.  Beyond memory and UB
 * errors it checks the contract of codec.h: a body that decodes yields
 * buffers of the capacities it states (each is filled whole here, so ASan
 * sees one that is shorter), counts within P11W_TEMPLATE_MAX, and a reply
 * that always fits frame_max.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FRAME_MAX	P11W_FRAME_MIN

static void
fill(struct p11w_arg *a, const char *sig)
{
	CK_ATTRIBUTE *t;
	CK_MECHANISM *m;
	CK_GCM_PARAMS *g;
	CK_ULONG j;
	int i;

	for (i = 0; sig[i] != '\0'; i++, a++) {
		switch (sig[i]) {
		case 'o':
			if (a->p != NULL && a->lp != NULL)
				memset(a->p, 0x41, *a->lp);
			break;
		case 'r':
			if (a->p != NULL)
				memset(a->p, 0x42, a->v);
			break;
		case 'l':
		case 'f':
			if (a->p != NULL)
				memset(a->p, 0x43, a->v * sizeof(CK_ULONG));
			if (a->lp != NULL)
				*a->lp = a->v;
			break;
		case 'q':
			if (a->v > P11W_TEMPLATE_MAX)
				abort();
			for (t = a->p, j = 0; t != NULL && j < a->v; j++)
				if (t[j].pValue != NULL)
					memset(t[j].pValue, 0x44,
					    t[j].ulValueLen);
			break;
		case 't':
			if (a->v > P11W_TEMPLATE_MAX)
				abort();
			break;
		case 'm':
			m = a->p;
			if (m == NULL || m->mechanism != CKM_AES_GCM ||
			    m->ulParameterLen != sizeof(*g) ||
			    m->pParameter != &a->mp.gcm)
				break;
			g = m->pParameter;
			if (g->pIv != NULL)
				memset(g->pIv, 0x45, g->ulIvLen);
			break;
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct p11w_arena ar;
	struct p11w_arg a[P11W_MAX_ARGS];
	struct p11w_rd r;
	struct p11w_buf reply;
	const char *sig;
	uint32_t call;

	if (size < 1)
		return 0;
	if (ar.base == NULL && p11w_arena_init(&ar, FRAME_MAX) != 0)
		abort();
	call = data[0] % P11W_CALL_COUNT;
	p11w_arena_reset(&ar);
	p11w_rd_init(&r, data + 1, size - 1);
	if (p11w_req_decode(&r, call, a, &ar) != 0)
		return 0;
	if ((sig = p11w_call_sig(call)) == NULL)
		abort();	/* decoded a call without a signature */
	fill(a, sig);
	p11w_buf_init(&reply, FRAME_MAX);
	p11w_reply_encode(&reply, call, a, CKR_OK);
	if (reply.failed)
		abort();	/* the room promised a reply that fits */
	p11w_buf_free(&reply);
	return 0;
}
