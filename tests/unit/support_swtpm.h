/*
 * Test helper: a private swtpm (TPM 2.0 simulator) for tests that need a real
 * TPM.  It listens on 127.0.0.1 only, on a free port pair (P for commands,
 * P+1 for control), with a fresh temporary state directory, flags
 * not-need-init,startup-clear, and no resource manager in front.
 *
 * It is always stopped: by m2m_swtpm_stop()/m2m_swtpm_free(), by an atexit
 * handler for every instance still running, and, should the test process
 * die without running atexit handlers (crash, SIGKILL), by the kernel: the
 * child asks for SIGTERM on its parent's death (PR_SET_PDEATHSIG) before it
 * execs swtpm.  swtpm's own --terminate is not used: it would end the
 * simulator when the first client disconnects, and tests reconnect.
 */
#ifndef M2M_SUPPORT_SWTPM_H
#define M2M_SUPPORT_SWTPM_H

struct m2m_swtpm;

/*
 * Start a new simulator and wait (up to 10 s) until it accepts connections.
 * 0 and *ret, or -1 with a reason on stderr (swtpm missing, no free port).
 */
int	m2m_swtpm_start(struct m2m_swtpm **ret);
/* "swtpm:host=127.0.0.1,port=P" of the running instance (valid until stop). */
const char *m2m_swtpm_tcti(const struct m2m_swtpm *s);
/* The state directory. */
const char *m2m_swtpm_dir(const struct m2m_swtpm *s);
/* Stop the simulator (SIGTERM, then SIGKILL after 5 s); state is kept. */
void	m2m_swtpm_stop(struct m2m_swtpm *s);
/*
 * Stop if running, then start again on the same state directory (so its
 * seeds, persistent objects and DA state survive), possibly on a new port
 * pair: read m2m_swtpm_tcti() again.  0 or -1.
 */
int	m2m_swtpm_restart(struct m2m_swtpm *s);
/*
 * A port P such that P and P+1 can both be bound on 127.0.0.1 right now,
 * below the kernel's ephemeral range (which tcti-swtpm's connection per
 * command fills); -1 if none was found.
 */
int	m2m_free_port_pair(void);
/* Stop, remove the state directory, free; NULL accepted. */
void	m2m_swtpm_free(struct m2m_swtpm *s);

#endif /* M2M_SUPPORT_SWTPM_H */
