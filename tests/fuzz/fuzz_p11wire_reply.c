/*
 * fuzz_p11wire_reply: the module's reply decoder of client mode,
 * p11w_reply_decode() (p11wire/codec.c), over every call, as a hostile or
 * broken daemon could answer.  The first input byte picks the call; the
 * caller's arguments are fixed buffers of small capacities (an info
 * struct: a heap block of exactly its type's size); the rest is the reply
 * body.  ASan sees any write beyond a capacity the caller stated; a guard
 * byte after each buffer checks it too.  Oracle, for a reply that
 * decodes: after CKR_OK every length and count the caller is given is
 * within its capacity (an attribute's may be CK_UNAVAILABLE_INFORMATION);
 * after any other rv no output byte, handle or IV was written (attribute
 * values: only after the rv values that write them); C_GenerateRandom's
 * CKR_OK writes every byte asked for.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CAP	8

struct guarded {
	uint8_t	b[CAP];
	uint8_t	guard;
};

static size_t
info_size(char c)
{
	switch (c) {
	case 'I':	return sizeof(CK_INFO);
	case 'S':	return sizeof(CK_SLOT_INFO);
	case 'T':	return sizeof(CK_TOKEN_INFO);
	case 'E':	return sizeof(CK_SESSION_INFO);
	}
	return sizeof(CK_MECHANISM_INFO);
}

static int
zero(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

/* the oracle (see above) for a reply to sig that decoded as rv */
static void
check(const char *sig, CK_RV rv, const struct guarded *out,
    const struct guarded val[2], const struct guarded *iv,
    const CK_ULONG *list, CK_ULONG outlen, CK_ULONG n, const CK_ATTRIBUTE *t)
{
	int i, j, vw;

	vw = rv == CKR_OK || rv == CKR_ATTRIBUTE_SENSITIVE ||
	    rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_BUFFER_TOO_SMALL;
	for (i = 0; sig[i] != '\0'; i++) {
		switch (sig[i]) {
		case 'o':
			if (rv == CKR_OK ? outlen > CAP : !zero(out->b, CAP))
				abort();
			break;
		case 'r':
			if (rv != CKR_OK && !zero(out->b, CAP))
				abort();
			break;
		case 'l':
		case 'f':
			if (rv == CKR_OK ? n > CAP :
			    !zero((const uint8_t *)list, CAP * sizeof(*list)))
				abort();
			break;
		case 'q':
			for (j = 0; j < 2; j++) {
				if (rv == CKR_OK && t[j].ulValueLen > CAP &&
				    t[j].ulValueLen != CK_UNAVAILABLE_INFORMATION)
					abort();
				if (!vw && !zero(val[j].b, CAP))
					abort();
			}
			break;
		case 'm':
			if (rv != CKR_OK && !zero(iv->b, CAP))
				abort();
			break;
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct guarded out, val[2], iv;
	CK_ULONG outlen, list[CAP + 1], n, ul;
	uint8_t in[4] = "data", label[32], first[CAP];
	CK_GCM_PARAMS gcm;
	CK_MECHANISM mech;
	CK_ATTRIBUTE t[2];
	struct p11w_arg a[P11W_MAX_ARGS];
	struct p11w_rd r;
	const char *sig;
	void *info = NULL;
	CK_RV rv;
	uint32_t call;
	int i;

	if (size < 1)
		return 0;
	call = data[0] % P11W_CALL_COUNT;
	if ((sig = p11w_call_sig(call)) == NULL)
		return 0;
	memset(&out, 0, sizeof(out));
	memset(val, 0, sizeof(val));
	memset(&iv, 0, sizeof(iv));
	memset(list, 0, sizeof(list));
	memset(label, ' ', sizeof(label));
	outlen = CAP;
	n = CAP;
	gcm = (CK_GCM_PARAMS){ iv.b, CAP, 0, NULL, 0, 128 };
	mech = (CK_MECHANISM){ CKM_AES_GCM, &gcm, sizeof(gcm) };
	t[0] = (CK_ATTRIBUTE){ CKA_VALUE, val[0].b, CAP };
	t[1] = (CK_ATTRIBUTE){ CKA_LABEL, val[1].b, CAP };
	memset(a, 0, sizeof(a));
	for (i = 0; sig[i] != '\0'; i++) {
		switch (sig[i]) {
		case 'u':
		case 'B':
			a[i].v = 1;
			break;
		case 'b':
			a[i].p = in;
			a[i].v = sizeof(in);
			break;
		case 'L':
			a[i].p = label;
			break;
		case 'o':
			a[i].p = out.b;
			a[i].lp = &outlen;
			break;
		case 'r':
			a[i].p = out.b;
			a[i].v = CAP;
			break;
		case 't':
		case 'q':
			a[i].p = t;
			a[i].v = 2;
			break;
		case 'm':
			a[i].p = &mech;
			break;
		case 'l':
			a[i].p = list;
			a[i].lp = &n;
			break;
		case 'f':
			a[i].p = list;
			a[i].v = CAP;
			a[i].lp = &n;
			break;
		case 'p':
			a[i].p = &ul;
			break;
		default:
			/* its own size: a write of a larger struct is seen */
			if ((info = malloc(info_size(sig[i]))) == NULL)
				return 0;
			a[i].p = info;
			break;
		}
	}
	p11w_rd_init(&r, data + 1, size - 1);
	if (p11w_reply_decode(&r, call, a, &rv) == 0) {
		check(sig, rv, &out, val, &iv, list, outlen, n, t);
		/*
		 * C_GenerateRandom's CKR_OK: all CAP bytes written.  Again
		 * over 0xff bytes: a byte left alone differs.
		 */
		if (rv == CKR_OK && strchr(sig, 'r') != NULL) {
			memcpy(first, out.b, CAP);
			memset(out.b, 0xff, CAP);
			p11w_rd_init(&r, data + 1, size - 1);
			if (p11w_reply_decode(&r, call, a, &rv) != 0 ||
			    memcmp(first, out.b, CAP) != 0)
				abort();
		}
	}
	free(info);
	if (out.guard != 0 || val[0].guard != 0 || val[1].guard != 0 ||
	    iv.guard != 0 || list[CAP] != 0)
		abort();
	return 0;
}
