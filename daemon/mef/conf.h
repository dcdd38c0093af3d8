/*
 * m2m-mef: the configuration file (INI, libinih), default
 * /etc/m2mtoken/mef.conf:
 *
 *   [mef]       fqdn = mef.example.com      the MEF-FQDN of every KeId, SNI
 *   [listen]    address = 127.0.0.1         port = 8443 (0: any free port)
 *               timeout = 10                seconds a connection may idle,
 *                                           and to bring its first request
 *               max_connections = 512       open at once; more wait
 *   [token]     module = PATH               libm2mtoken.so
 *               config = PATH               its M2MTOKEN_CONF
 *               label = mef                 the token's label
 *               pin_file = PATH             the user PIN, owner-only file
 *   [registry]  path = /var/lib/m2m-mef/registry.db
 *   [bootstrap] kes_per_enrolee = 2         KeIds kept per enrolee: a
 *                                           bootstrap deletes the oldest
 *                                           past it, row and Ke
 *   [cert]      port = 8444                 the certificate listener
 *               key = pkcs11:...            the MEF's key in its token
 *               cert = PATH                 its certificate (PEM)
 *               ca = PATH                   the CAs of the enrolees (PEM)
 *               crl = PATH                  optional CRLs (PEM)
 *               crl_check = leaf|chain      which certificates: the
 *                                           enrolee's (the default) or
 *                                           every one of its chain
 *               map = cn|san-uri|san-dns    the field naming the enrolee
 *
 * [cert] is optional; when any of port, key, cert, ca is set, all are.
 * crl_check needs crl.  SIGHUP reads ca and crl again (server.c).
 *
 * Unknown sections or keys are errors.  The PIN is never in this file's
 * structure: mef_conf_read_pin() reads it when needed.
 */
#ifndef M2M_MEF_CONF_H
#define M2M_MEF_CONF_H

#include <stddef.h>

#include "mef.h"

#define MEF_CONF_DEFAULT	"/etc/m2mtoken/mef.conf"
#define MEF_PIN_MAX		128
#define MEF_KES_PER_ENROLEE_MAX	1000

enum mef_cert_map {
	MEF_MAP_CN = 0,		/* the subject's commonName */
	MEF_MAP_SAN_URI,	/* the one subjectAltName URI */
	MEF_MAP_SAN_DNS		/* the one subjectAltName dNSName */
};

enum mef_crl_check {
	MEF_CRL_LEAF = 0,	/* the enrolee's own certificate */
	MEF_CRL_CHAIN		/* every certificate of its chain */
};

struct mef_conf {
	char		fqdn[MEF_FQDN_MAX + 1];	/* lower case */
	char		*address;
	unsigned int	port;
	unsigned int	timeout;
	unsigned int	max_connections;
	char		*module;
	char		*token_conf;	/* NULL: the module's default */
	char		*token_label;
	char		*pin_file;
	char		*registry;
	unsigned int	kes_per_enrolee; /* 1..MEF_KES_PER_ENROLEE_MAX */
	int		cert_on;	/* 0: no certificate listener */
	unsigned int	cert_port;
	char		*cert_key;	/* pkcs11: URI */
	char		*cert_file;
	char		*cert_ca;
	char		*cert_crl;	/* NULL: none */
	enum mef_crl_check cert_crl_check;
	int		cert_crl_check_set; /* crl_check was given */
	enum mef_cert_map cert_map;
};

/*
 * Read the file at path into *ret (freed with mef_conf_free).  On error
 * one line names the file, the line and the problem; MEF_ERR_CONF.
 */
int	mef_conf_load(const char *path, struct mef_conf **ret);

/* Free; NULL ok. */
void	mef_conf_free(struct mef_conf *c);

/*
 * Read the PIN from path: a regular file owned by root or by this
 * process's user, no permission for group or others, 1..MEF_PIN_MAX bytes,
 * one final newline cut.  out (MEF_PIN_MAX + 1 bytes) gets it NUL-ended;
 * *ret_len its length.  out is secret: the caller wipes it.  MEF_ERR_IO
 * or MEF_ERR_CONF with a line saying why.
 */
int	mef_conf_read_pin(const char *path, char out[MEF_PIN_MAX + 1],
	    size_t *ret_len);

#endif /* M2M_MEF_CONF_H */
