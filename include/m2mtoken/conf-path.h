/*
 * m2mtoken: which configuration file the module reads, for the module
 * (token/conf.c) and for m2mtokend, which checks that file's rights before
 * it loads the module (docs/operations.md, "Files and rights").  One
 * definition: the daemon may not include token/ headers.
 */
#ifndef M2MTOKEN_CONF_PATH_H
#define M2MTOKEN_CONF_PATH_H

#ifdef __cplusplus
extern "C" {
#endif

/* the environment variable naming the module's configuration file */
#define M2MTOKEN_CONF_ENV	"M2MTOKEN_CONF"
/* the file read when it is unset or empty */
#define M2MTOKEN_CONF_DEFAULT	"/etc/m2mtoken/m2mtoken.conf"

/*
 * The module's configuration file, given env: the value of
 * $M2MTOKEN_CONF_ENV as the module reads it (secure_getenv(): NULL in a
 * set-id program).  env if set and not empty, else M2MTOKEN_CONF_DEFAULT.
 */
static inline const char *
m2mtoken_conf_path(const char *env)
{
	return (env != NULL && *env != '\0') ? env : M2MTOKEN_CONF_DEFAULT;
}

#ifdef __cplusplus
}
#endif
#endif /* M2MTOKEN_CONF_PATH_H */
