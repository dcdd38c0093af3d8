/*
 * Test helper: a throw-away SoftHSM2 for one test.
 *
 * m2m_softhsm_new() makes a mktemp directory holding a softhsm2.conf whose
 * token directory lies inside it, points SOFTHSM2_CONF at that file and
 * initialises one token with softhsm2-util (--init-token --free).
 * m2m_softhsm_free() removes the whole directory and restores
 * SOFTHSM2_CONF.  SoftHSM2 reads SOFTHSM2_CONF in C_Initialize, so every
 * module user in the process must have finalised it (closed every HSM
 * backend) before the next m2m_softhsm_new().
 *
 * The module path is $M2M_SOFTHSM_MODULE, else the Debian path.
 */
#ifndef M2M_SUPPORT_SOFTHSM_H
#define M2M_SUPPORT_SOFTHSM_H

struct m2m_softhsm;

/* The PKCS#11 module to load; never NULL. */
const char *m2m_softhsm_module(void);

/*
 * A new SoftHSM2 with one initialised token (label up to 32 bytes, user
 * PIN pin, SO PIN so_pin).  0 and *ret, or -1 with the reason on stderr;
 * nothing is left behind on failure.
 */
int	m2m_softhsm_new(const char *label, const char *pin, const char *so_pin,
	    struct m2m_softhsm **ret);
/* Initialise one more token in the same SoftHSM2.  0 or -1. */
int	m2m_softhsm_add_token(struct m2m_softhsm *sh, const char *label,
	    const char *pin, const char *so_pin);
/* The temporary directory, its softhsm2.conf and its token directory. */
const char *m2m_softhsm_dir(const struct m2m_softhsm *sh);
const char *m2m_softhsm_conf_path(const struct m2m_softhsm *sh);
const char *m2m_softhsm_token_dir(const struct m2m_softhsm *sh);
/* Remove the directory tree and restore SOFTHSM2_CONF; NULL accepted. */
void	m2m_softhsm_free(struct m2m_softhsm *sh);

#endif /* M2M_SUPPORT_SOFTHSM_H */
