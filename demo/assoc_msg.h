/*
 * demo/: the one message format of m2m-assoc, the request and the response
 * that cross the device <-> gateway TLS-PSK channel, each protected by an
 * E2E MIC (HMAC-SHA-256 with Ke2e_msg_auth, made and checked in the
 * token).
 *
 * A frame on the channel:
 *   magic "M2MA" (4) || kind (1: 'Q' request, 'R' response)
 *   || payload length (2, big endian, 1..ASSOC_PAYLOAD_MAX) || payload
 *   || MIC (32)
 * The MIC is computed over the MIC input of assoc_mic_input(): a label
 * naming the direction, the length-prefixed payload and, for a response,
 * the MIC of the request it answers; so a request's MIC never verifies as
 * a response, and a response answers exactly one request.
 */
#ifndef M2M_ASSOC_MSG_H
#define M2M_ASSOC_MSG_H

#include <stddef.h>
#include <stdint.h>

#define ASSOC_MAGIC		"M2MA"
#define ASSOC_HDR_LEN		7
#define ASSOC_MIC_LEN		32
#define ASSOC_PAYLOAD_MAX	4096
#define ASSOC_FRAME_MAX		(ASSOC_HDR_LEN + ASSOC_PAYLOAD_MAX + \
				    ASSOC_MIC_LEN)
#define ASSOC_KIND_REQUEST	'Q'
#define ASSOC_KIND_RESPONSE	'R'
/* longest MIC input: label, length, payload, request MIC */
#define ASSOC_MIC_INPUT_MAX	(32 + 2 + ASSOC_PAYLOAD_MAX + ASSOC_MIC_LEN)

#define ASSOC_ERR_SHORT		(-1)	/* fewer bytes than the frame says */
#define ASSOC_ERR_MAGIC		(-2)	/* not "M2MA" */
#define ASSOC_ERR_KIND		(-3)	/* not the expected kind */
#define ASSOC_ERR_LENGTH	(-4)	/* payload length 0 or over the max */
#define ASSOC_ERR_TRAILING	(-5)	/* bytes after the MIC */
#define ASSOC_ERR_ARG		(-6)

struct assoc_frame {
	int		kind;
	size_t		payload_len;
	const uint8_t	*payload;		/* into the parsed buffer */
	const uint8_t	*mic;			/* ASSOC_MIC_LEN bytes, idem */
};

/*
 * The total length of the frame whose first ASSOC_HDR_LEN bytes are hdr,
 * once its header is checked (magic, kind = want, length); or an
 * ASSOC_ERR_*.  A reader calls it after the header, then reads the rest.
 */
long	assoc_frame_len(const uint8_t *hdr, size_t len, int want);

/*
 * Parse exactly one frame of kind want from buf (len bytes): 0 and *ret
 * (pointing into buf), or an ASSOC_ERR_*.  Never reads past len.
 */
int	assoc_frame_parse(const uint8_t *buf, size_t len, int want,
	    struct assoc_frame *ret);

/*
 * Write the header of a frame of kind with payload_len bytes into out
 * (ASSOC_HDR_LEN bytes).  0 or ASSOC_ERR_LENGTH / ASSOC_ERR_ARG.
 */
int	assoc_frame_header(int kind, size_t payload_len,
	    uint8_t out[ASSOC_HDR_LEN]);

/*
 * The bytes a MIC covers, into out (ASSOC_MIC_INPUT_MAX bytes): the
 * label "oneM2M assoc request" or "oneM2M assoc response", the payload
 * length (2, big endian), the payload and, for a response, req_mic
 * (ASSOC_MIC_LEN bytes; NULL for a request).  Returns the length, or an
 * ASSOC_ERR_* (bad kind, payload over the max, response without req_mic).
 */
long	assoc_mic_input(int kind, const uint8_t *payload, size_t payload_len,
	    const uint8_t *req_mic, uint8_t *out);

#endif /* M2M_ASSOC_MSG_H */
