/*
 * Test helper: a man in the middle between a TCTI and swtpm.  It listens on
 * a free 127.0.0.1 port pair (P for TPM commands, P+1 for swtpm's control
 * channel), relays everything to a running swtpm and, when armed, flips one
 * bit of one TPM command or response on the way, or slips in a command of
 * its own: what an attacker on the TPM bus could do.  Its thread is always stopped by m2m_tamper_free().
 */
#ifndef M2M_SUPPORT_TAMPER_H
#define M2M_SUPPORT_TAMPER_H

#include <stddef.h>
#include <stdint.h>

struct m2m_tamper;

/* Start relaying to the swtpm whose TCTI is "swtpm:host=..,port=N".  0/-1. */
int	m2m_tamper_start(const char *swtpm_tcti, struct m2m_tamper **ret);
/* "swtpm:host=127.0.0.1,port=P" of the proxy. */
const char *m2m_tamper_tcti(const struct m2m_tamper *t);
/*
 * Flip bit 0 of byte off (from the start of the message, header included)
 * of the next command with code cc (response = 0) or of the response to it
 * (response = 1).  Once.
 */
void	m2m_tamper_arm(struct m2m_tamper *t, uint32_t cc, int response,
	    size_t off);
/*
 * Once: when the next HMAC_Start succeeds, send swtpm a SequenceComplete
 * of the proxy's own on that sequence, with an empty password session and
 * the message "evil", before the response goes on: what an attacker on the
 * bus would do to use the key.  Its response code: m2m_tamper_inject_rc()
 * (-1 until then).  Counted as fired.
 */
void	m2m_tamper_arm_inject(struct m2m_tamper *t);
long	m2m_tamper_inject_rc(struct m2m_tamper *t);
/* How many messages were changed (or injected) so far. */
unsigned m2m_tamper_fired(struct m2m_tamper *t);
/* Stop the thread, close everything, free; NULL accepted. */
void	m2m_tamper_free(struct m2m_tamper *t);

#endif /* M2M_SUPPORT_TAMPER_H */
