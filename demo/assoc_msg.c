/*
 * The frame format of m2m-assoc (assoc_msg.h).  Lengths are checked
 * before any byte past them is read.
 */
#include <string.h>

#include "assoc_msg.h"

#define LABEL_REQ	"oneM2M assoc request"
#define LABEL_RSP	"oneM2M assoc response"

/* see assoc_msg.h */
long
assoc_frame_len(const uint8_t *hdr, size_t len, int want)
{
	size_t pl;

	if (hdr == NULL)
		return ASSOC_ERR_ARG;
	if (len < ASSOC_HDR_LEN)
		return ASSOC_ERR_SHORT;
	if (memcmp(hdr, ASSOC_MAGIC, 4) != 0)
		return ASSOC_ERR_MAGIC;
	if (hdr[4] != want)
		return ASSOC_ERR_KIND;
	pl = ((size_t)hdr[5] << 8) | hdr[6];
	if (pl == 0 || pl > ASSOC_PAYLOAD_MAX)
		return ASSOC_ERR_LENGTH;
	return (long)(ASSOC_HDR_LEN + pl + ASSOC_MIC_LEN);
}

/* see assoc_msg.h */
int
assoc_frame_parse(const uint8_t *buf, size_t len, int want,
    struct assoc_frame *ret)
{
	long total;

	if (ret == NULL)
		return ASSOC_ERR_ARG;
	if ((total = assoc_frame_len(buf, len, want)) < 0)
		return (int)total;
	if (len < (size_t)total)
		return ASSOC_ERR_SHORT;
	if (len > (size_t)total)
		return ASSOC_ERR_TRAILING;
	ret->kind = want;
	ret->payload_len = (size_t)total - ASSOC_HDR_LEN - ASSOC_MIC_LEN;
	ret->payload = buf + ASSOC_HDR_LEN;
	ret->mic = buf + ASSOC_HDR_LEN + ret->payload_len;
	return 0;
}

/* see assoc_msg.h */
int
assoc_frame_header(int kind, size_t payload_len, uint8_t out[ASSOC_HDR_LEN])
{
	if (out == NULL || (kind != ASSOC_KIND_REQUEST &&
	    kind != ASSOC_KIND_RESPONSE))
		return ASSOC_ERR_ARG;
	if (payload_len == 0 || payload_len > ASSOC_PAYLOAD_MAX)
		return ASSOC_ERR_LENGTH;
	memcpy(out, ASSOC_MAGIC, 4);
	out[4] = (uint8_t)kind;
	out[5] = (uint8_t)(payload_len >> 8);
	out[6] = (uint8_t)payload_len;
	return 0;
}

/* see assoc_msg.h */
long
assoc_mic_input(int kind, const uint8_t *payload, size_t payload_len,
    const uint8_t *req_mic, uint8_t *out)
{
	const char *label;
	size_t n, ll;

	if (out == NULL || (payload == NULL && payload_len != 0))
		return ASSOC_ERR_ARG;
	if (payload_len == 0 || payload_len > ASSOC_PAYLOAD_MAX)
		return ASSOC_ERR_LENGTH;
	if (kind == ASSOC_KIND_REQUEST && req_mic == NULL)
		label = LABEL_REQ;
	else if (kind == ASSOC_KIND_RESPONSE && req_mic != NULL)
		label = LABEL_RSP;
	else
		return ASSOC_ERR_ARG;
	ll = strlen(label);
	memcpy(out, label, ll);
	n = ll;
	out[n++] = (uint8_t)(payload_len >> 8);
	out[n++] = (uint8_t)payload_len;
	memcpy(out + n, payload, payload_len);
	n += payload_len;
	if (req_mic != NULL) {
		memcpy(out + n, req_mic, ASSOC_MIC_LEN);
		n += ASSOC_MIC_LEN;
	}
	return (long)n;
}
