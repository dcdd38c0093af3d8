/*
 * m2mtokend: its configuration file (docs/operations.md, "m2mtokend").
 *
 *   [daemon]   socket, socket_mode, socket_group, max_connections,
 *              max_connections_per_uid, idle_timeout, log_level
 *   [token]    module, config, label, pin_file, pin_credential
 *   [pkcs11]   socket, socket_mode, socket_group, max_clients,
 *              max_clients_per_uid, frame_max, stall_timeout,
 *              hello_timeout, idle_timeout
 *                                   (client mode, docs/protocol.md)
 *   [mef]      host, port, fqdn, timeout, cert_port
 *   [enrolee]  kpm_id                   (device role: Bootstrap, PSK)
 *              cert_key, cert, ca       (Bootstrap, certificate)
 *   [target]   id                       (gateway role: FetchCredentials)
 *   [caller NAME] ...                   (daemon/common/acl.h)
 *
 * Unknown sections and keys are errors.  Nothing in this file is secret:
 * the PIN is only named (a file, or a systemd credential).
 */
#ifndef M2MTOKEND_CONF_H
#define M2MTOKEND_CONF_H

#include <sys/types.h>

#include <stddef.h>

#include "acl.h"

#define MTD_CONF_DEFAULT	"/etc/m2mtoken/m2mtokend.conf"
#define MTD_SOCKET_DEFAULT	"/run/m2mtoken/m2mtokend.sock"
#define MTD_PIN_MAX		256	/* bytes of a PIN */
#define MTD_CONF_TEXT_MAX	(1024 * 1024)
#define MTD_P11_SOCKET_DEFAULT	"/run/m2mtoken/pkcs11.sock"	/* docs only */

struct mtd_conf {
	/* [daemon] */
	char		*socket_path;
	mode_t		 socket_mode;		/* default 0660 */
	char		*socket_group;		/* NULL: the daemon's gid */
	unsigned int	 max_connections;	/* default 64, 1..4096 */
	unsigned int	 max_conn_per_uid;	/* default max_connections / 4
						   (at least 1),
						   1..max_connections */
	unsigned int	 idle_timeout;		/* s, default 30, 1..3600 */
	int		 log_level;		/* MTD_LOG_*, default info */
	/* [token] */
	char		*module;		/* libm2mtoken.so path */
	char		*module_config;		/* M2MTOKEN_CONF for it */
	char		*token_label;
	char		*pin_file;		/* absolute path */
	char		*pin_credential;	/* in $CREDENTIALS_DIRECTORY */
	/* [pkcs11]: client mode; p11_socket NULL = not served */
	char		*p11_socket;
	mode_t		 p11_socket_mode;	/* default 0660 */
	char		*p11_socket_group;	/* NULL: the daemon's gid */
	unsigned int	 p11_max_clients;	/* default 64, 1..4096 */
	unsigned int	 p11_max_per_uid;	/* default max_clients / 4
						   (at least 1),
						   1..max_clients */
	unsigned int	 p11_frame_max;		/* default 1 MiB */
	unsigned int	 p11_stall_timeout;	/* s, default 10, 1..3600 */
	unsigned int	 p11_hello_timeout;	/* s, default 5, 1..60 */
	unsigned int	 p11_idle_timeout;	/* s, default 0 (none),
						   0..86400 */
	/* [mef] */
	char		*mef_host;		/* an IP address or host name */
	unsigned int	 mef_port;		/* default 443 */
	char		*mef_fqdn;		/* SNI and KeId suffix */
	unsigned int	 mef_timeout;		/* s, default 10, 1..300 */
	unsigned int	 mef_cert_port;		/* default 8444 */
	/* [enrolee] */
	char		*kpm_id;
	char		*cert_key;		/* pkcs11: URI or a label */
	char		*cert;			/* PEM path or pkcs11: URI;
						   NULL: the token's
						   certificate of cert_key */
	char		*enrolee_ca;		/* PEM: the MEF's CA */
	/* [target] */
	char		*target_id;
	/* [caller NAME] sections */
	struct m2m_acl	*acl;
};

/*
 * Parse the NUL-terminated INI text (all sections, the [caller] rules
 * too).  *ret_conf on success, freed with mtd_conf_free().  On failure a
 * one-line reason ("line N: [sec] key: ...") goes into err and -1 is
 * returned; -2 when out of memory.  Checks: [token] module is required;
 * label and one of pin_file / pin_credential too unless [pkcs11] socket
 * is set (a daemon serving client mode only: then both or neither);
 * paths are absolute; numbers are decimal in their range (socket modes
 * octal, frame_max P11W_FRAME_MIN..P11W_FRAME_HARD_MAX, a per-uid cap
 * at most its total); [mef] needs host and fqdn together, and a token;
 * no [daemon] section is fine.
 */
int mtd_conf_parse_string(const char *text, struct mtd_conf **ret_conf,
    char *err, size_t errlen);

/* As mtd_conf_parse_string() on the file at path (at most 1 MiB). */
int mtd_conf_load(const char *path, struct mtd_conf **ret_conf, char *err,
    size_t errlen);

/*
 * The files at start (docs/operations.md, "Files and rights"): the
 * daemon's configuration conf_path and the module's ([token] config, else
 * the file the module reads by itself: <m2mtoken/conf-path.h>) must give
 * others no access, nor its group if it holds the HSM PIN itself, and the
 * module's must not be a client-mode configuration itself (a [daemon]
 * section: the daemon would call itself).  0, or -1 with a one-line
 * reason in err.  A store directory ([store] path's) that others may read
 * gets a warning line (logged).
 */
int mtd_conf_check_files(const struct mtd_conf *conf, const char *conf_path,
    char *err, size_t errlen);

/* Frees conf; NULL is fine. */
void mtd_conf_free(struct mtd_conf *conf);

/*
 * Reads the token PIN into pin (MTD_PIN_MAX + 1 bytes, caller wipes): from
 * $CREDENTIALS_DIRECTORY/<pin_credential> when that variable is set and
 * the conf names a credential, else from pin_file.  The file must be a
 * regular file owned by this process's user or root with no group or
 * other access (as the module checks its file: PINs); one trailing
 * newline is cut; an empty PIN is refused.  0 and *ret_len, or -1 with a
 * reason (never the PIN) in err.
 */
int mtd_conf_read_pin(const struct mtd_conf *conf, char *pin,
    size_t *ret_len, char *err, size_t errlen);

#endif /* M2MTOKEND_CONF_H */
