/*
 * m2m-mef: the registry of enrolees, enrolment targets and issued KeIds.
 * Nothing secret is in it: the keys live in the MEF's token, found by
 * CKA_LABEL (KpmId, target ID, KeId).
 *
 * A small interface so that the store can change (SQLite today,
 * registry_sqlite.c; a shared database for several MEF nodes later).
 * Every write is one transaction: a crash at any point leaves the rows as
 * they were before it or as they are after it, never half.
 * Every function returns 0 or a negative MEF_ERR_* (mef.h); errors of the
 * store are logged once, where they happen.  Not thread-safe: one handle
 * per thread.
 */
#ifndef M2M_MEF_REGISTRY_H
#define M2M_MEF_REGISTRY_H

#include <stdint.h>
#include <time.h>

#include "mef.h"

#define MEF_HASH_SHA256	256
#define MEF_HASH_SHA512	512

struct mef_registry;

struct mef_enrolee {
	char			kpm_id[MEF_ID_MAX + 1];
	char			enrolee_id[MEF_ID_MAX + 1];
	struct mef_targets	targets;	/* allowed targets */
	long			lifetime;	/* seconds */
	int			e2e_hash;	/* MEF_HASH_SHA* */
	uint8_t			salt[MEF_SALT_MAX]; /* not secret */
	size_t			salt_len;	/* 0: no salt */
	int			cert;		/* 1: kpm_id is the ID its
						   certificate carries, and
						   it bootstraps only with
						   it (no Kpm) */
};

struct mef_ke {
	char			ke_id[MEF_KEID_MAX + 1];
	char			kpm_id[MEF_ID_MAX + 1];
	char			enrolee_id[MEF_ID_MAX + 1];
	struct mef_targets	targets;	/* granted targets */
	time_t			expires;
};

/*
 * Open (creating when absent) the registry at path: WAL journal, a busy
 * timeout, the schema version checked.  A version this program does not
 * know fails with MEF_ERR_VERSION and changes nothing.
 */
int	mef_reg_open(const char *path, struct mef_registry **ret);

/* Close; NULL ok. */
void	mef_reg_close(struct mef_registry *reg);

/* The schema version this program writes. */
int	mef_reg_schema_version(void);

/*
 * Add an enrolee.  MEF_ERR_EXISTS when its KpmId is already an enrolee or
 * a target; MEF_ERR_INVALID when a field is out of range.
 */
int	mef_reg_enrolee_add(struct mef_registry *reg,
	    const struct mef_enrolee *e);

/* Look an enrolee up by KpmId into *ret.  MEF_ERR_NOTFOUND if none. */
int	mef_reg_enrolee_get(struct mef_registry *reg, const char *kpm_id,
	    struct mef_enrolee *ret);

/*
 * Remove an enrolee and every KeId issued to it, in one transaction, and
 * call cb (NULL: none) for each KeId it removes, read in that transaction:
 * a bootstrap's row committed before it is among them, one after it is
 * refused (no enrolee).  A non-zero return of cb stops the removal, which
 * then removes nothing, and is returned.  MEF_ERR_NOTFOUND when no row
 * names kpm_id (neither an enrolee nor a target); MEF_ERR_KIND, nothing
 * removed, when kpm_id is a target.  When the result is not 0, no row was
 * removed, whatever cb was told.
 */
int	mef_reg_enrolee_remove(struct mef_registry *reg, const char *kpm_id,
	    int (*cb)(const char *ke_id, void *), void *arg);

/*
 * Call cb for every enrolee, in KpmId order; a non-zero return of cb
 * stops the walk and is returned.
 */
int	mef_reg_enrolee_list(struct mef_registry *reg,
	    int (*cb)(const struct mef_enrolee *, void *), void *arg);

/* Add a target ID.  MEF_ERR_EXISTS when it is already a target or a KpmId. */
int	mef_reg_target_add(struct mef_registry *reg, const char *id);

/* 0 when id is a target, MEF_ERR_NOTFOUND when not. */
int	mef_reg_target_get(struct mef_registry *reg, const char *id);

/*
 * Remove a target.  MEF_ERR_NOTFOUND when no row names id (neither a
 * target nor an enrolee); MEF_ERR_KIND, nothing removed, when id is an
 * enrolee's: decided in the transaction that deletes.
 */
int	mef_reg_target_remove(struct mef_registry *reg, const char *id);

/* Call cb for every target ID, in order; as mef_reg_enrolee_list. */
int	mef_reg_target_list(struct mef_registry *reg,
	    int (*cb)(const char *, void *), void *arg);

/*
 * Record an issued KeId.  MEF_ERR_EXISTS when the KeId is known already;
 * MEF_ERR_NOTFOUND when its enrolee is not (removed meanwhile).
 */
int	mef_reg_ke_add(struct mef_registry *reg, const struct mef_ke *ke);

/*
 * As mef_reg_ke_add, and in the same transaction delete the KeIds of the
 * same KpmId past the keep newest (the new one counted and always kept;
 * keep 0: none deleted), calling cb (NULL: none) for each KeId deleted,
 * so that the caller destroys its Ke once this returns 0.  A non-zero
 * return of cb stops it, nothing is written, and it is returned.  When
 * the result is not 0 no row changed, whatever cb was told.
 */
int	mef_reg_ke_add_keep(struct mef_registry *reg, const struct mef_ke *ke,
	    unsigned int keep, int (*cb)(const char *ke_id, void *),
	    void *arg);

/* Look a KeId up (ke_id as stored: lower case).  MEF_ERR_NOTFOUND if none. */
int	mef_reg_ke_get(struct mef_registry *reg, const char *ke_id,
	    struct mef_ke *ret);

/*
 * A fetchCredentials' two lookups in one statement (one read transaction):
 * *is_target tells whether target is a target ID; then as mef_reg_ke_get
 * for ke_id (0, MEF_ERR_NOTFOUND, or another error, *is_target unset).
 */
int	mef_reg_fetch_get(struct mef_registry *reg, const char *target,
	    const char *ke_id, int *is_target, struct mef_ke *ret);

/* Forget a KeId.  MEF_ERR_NOTFOUND if none. */
int	mef_reg_ke_remove(struct mef_registry *reg, const char *ke_id);

/* Call cb for every KeId (of kpm_id, or all when NULL); as above. */
int	mef_reg_ke_list(struct mef_registry *reg, const char *kpm_id,
	    int (*cb)(const struct mef_ke *, void *), void *arg);

#endif /* M2M_MEF_REGISTRY_H */
