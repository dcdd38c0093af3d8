/*
 * fuzz_assoc_msg: the frame reader of m2m-assoc (demo/assoc_msg.c), what a
 * peer of the secure association sends over the TLS-PSK channel.
 *
 * Input: byte 0 picks the expected kind (even: request, odd: response),
 * the rest is the frame.  Checks beyond memory and UB errors: the header
 * check and the whole-frame parse agree; a parsed frame lies inside the
 * input, its payload is 1..ASSOC_PAYLOAD_MAX bytes, its MIC ends exactly
 * at the input's end; writing the parsed frame's header back gives the
 * input's header; its MIC input is built within ASSOC_MIC_INPUT_MAX.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "assoc_msg.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t in[ASSOC_MIC_INPUT_MAX];
	struct assoc_frame fr;
	uint8_t *buf, hdr[ASSOC_HDR_LEN];
	long total, n;
	int kind, r;

	if (size < 1)
		return 0;
	kind = (data[0] & 1) ? ASSOC_KIND_RESPONSE : ASSOC_KIND_REQUEST;
	size--;
	/* an exact-size heap copy: ASan sees any read past its end */
	if ((buf = malloc(size ? size : 1)) == NULL)
		abort();
	memcpy(buf, data + 1, size);
	total = assoc_frame_len(buf, size, kind);
	r = assoc_frame_parse(buf, size, kind, &fr);
	if (r == 0) {
		if (total != (long)size || fr.payload != buf + ASSOC_HDR_LEN ||
		    fr.payload_len == 0 || fr.payload_len > ASSOC_PAYLOAD_MAX ||
		    fr.mic + ASSOC_MIC_LEN != buf + size || fr.kind != kind)
			abort();
		if (assoc_frame_header(kind, fr.payload_len, hdr) != 0 ||
		    memcmp(hdr, buf, ASSOC_HDR_LEN) != 0)
			abort();
		n = assoc_mic_input(kind, fr.payload, fr.payload_len,
		    kind == ASSOC_KIND_RESPONSE ? fr.mic : NULL, in);
		if (n <= 0 || n > ASSOC_MIC_INPUT_MAX)
			abort();
	} else if (total > 0 && (size_t)total == size)
		abort();	/* the header was fine and the length exact */
	free(buf);
	return 0;
}
