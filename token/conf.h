/*
 * The module's INI configuration (contract section 1): file $M2MTOKEN_CONF,
 * else /etc/m2mtoken/m2mtoken.conf.  Every section and key, with its
 * default and range, is in docs/operations.md, "Configuration".  Unknown
 * sections or keys are errors (a typo must not silently change behaviour).
 */
#ifndef M2M_CONF_H
#define M2M_CONF_H

#include <stddef.h>
#include <stdint.h>
#include "log.h"

struct m2m_secret;

enum m2m_backend_type {
	M2M_BACKEND_HSM = 1,
	M2M_BACKEND_TPM = 2
};

/* [tpm] mode: how the TPM backend shares the TPM (see tpm/tpm.c). */
enum m2m_tpm_mode {
	M2M_TPM_MODE_AUTO = 0,		/* chosen by the TCTI */
	M2M_TPM_MODE_SHARED = 1,	/* nothing stays loaded between calls */
	M2M_TPM_MODE_EXCLUSIVE = 2	/* primary, session, keys stay loaded */
};

#define M2M_BACKEND_ANCHOR_MAX	64

struct m2m_conf {
	char			*path;		/* the file that was read */
	char			*store_path;
	enum m2m_backend_type	 backend;
	size_t			 cache_size;
	char			*hsm_module;
	char			*hsm_token_label;
	struct m2m_secret	*hsm_pin;	/* resolved PIN bytes (secret) */
	char			*tpm_tcti;
	unsigned long		 tpm_primary_handle;	/* 0: transient */
	enum m2m_tpm_mode	 tpm_mode;
	size_t			 pin_min;
	size_t			 pin_max;
	unsigned int		 max_pin_tries;
	int			 deliver_derived; /* a MEF's module: Kpsa/Kuc
						     may be derived to be
						     read once, on every
						     token of the store */
	int			 ec_import;	/* C_CreateObject may import
						   an EC private key */
	unsigned long		 max_objects;	/* token objects one token
						   may hold; 0: no limit
						   (the default of a MEF) */
	uint64_t		 max_bytes;	/* bytes one token's object
						   rows may take; 0: none
						   (the default of a MEF) */
	int			 log_level_set;
	enum m2m_log_level	 log_level;
	char			*daemon_socket;	/* [daemon] socket: client
						   mode; NULL otherwise */
	unsigned int		 daemon_timeout; /* seconds, 0: forever */
	/*
	 * Not from the file: the backend's anchor as the store keeps it
	 * (backend.h, anchor), set by the core before the backend opens;
	 * length 0 at the first open.
	 */
	uint8_t			 backend_anchor[M2M_BACKEND_ANCHOR_MAX];
	size_t			 backend_anchor_len;
};

/*
 * The path to read: $M2MTOKEN_CONF if set and non-empty, else the default.
 * Returns a static or environment string; do not free.
 */
const char *m2m_conf_default_path(void);

/*
 * Read and validate the file at path.  On success *ret is a new conf owned by
 * the caller.  On failure returns M2M_ERR_CONFIG (or NO_MEMORY) and writes a
 * one-line, secret-free reason naming the file, section, key and problem into
 * errbuf (e.g. "/etc/x.conf: [hsm] pin: environment variable FOO is not
 * set").  Logs by itself only one line, at error level so that it shows
 * by default, when the file is writable by group or others (the load still
 * succeeds, as OpenSSH does for its config).  A "file:" PIN must be a
 * regular file owned by this process's user or root, with no access for
 * group or others (mode 0600 or 0400), else M2M_ERR_CONFIG.
 */
int	m2m_conf_load(const char *path, struct m2m_conf **ret, char *errbuf,
	    size_t errlen);
/*
 * Client mode: 1 when the file at path has "[daemon] socket" (the module
 * then forwards its calls to m2mtokend), 0 when it has not or cannot be
 * read (local mode; C_Initialize reports the problem).  Reads only the
 * file, no PIN; validates nothing else (m2m_conf_load does).
 */
int	m2m_conf_names_daemon(const char *path);
/* Free (wiping the HSM PIN); NULL accepted. */
void	m2m_conf_free(struct m2m_conf *c);

#endif /* M2M_CONF_H */
