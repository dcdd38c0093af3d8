/*
 * fuzz_p11wire_reply: the module's reply decoder of client mode,
 * p11w_reply_decode() (p11wire/codec.c), over every call, as a hostile or
 * broken daemon could answer.  The first input byte picks the call; the
 * caller's arguments are fixed buffers of small capacities; the rest is
 * the reply body.  ASan sees any write beyond a capacity the caller
 * stated; a guard byte after each buffer checks it too.
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct guarded out, val[2], iv;
	CK_ULONG outlen, list[CAP + 1], n, ul;
	CK_TOKEN_INFO info;
	uint8_t in[4] = "data", label[32];
	CK_GCM_PARAMS gcm;
	CK_MECHANISM mech;
	CK_ATTRIBUTE t[2];
	struct p11w_arg a[P11W_MAX_ARGS];
	struct p11w_rd r;
	const char *sig;
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
	memset(label, ' ', sizeof(label));
	outlen = CAP;
	n = CAP;
	list[CAP] = 0;
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
			a[i].p = &info;
			break;
		}
	}
	p11w_rd_init(&r, data + 1, size - 1);
	(void)p11w_reply_decode(&r, call, a, &rv);
	if (out.guard != 0 || val[0].guard != 0 || val[1].guard != 0 ||
	    iv.guard != 0 || list[CAP] != 0)
		abort();
	return 0;
}
