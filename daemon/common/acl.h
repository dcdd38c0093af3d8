/*
 * daemon/common: caller ACLs of the flow IPC (docs/protocol.md, "Caller
 * ACLs").  Rules come from "[caller NAME]" sections of an INI text:
 *
 *   [caller gateway]
 *   user = cse                  ; exactly one of uid, user, gid, group
 *   methods = io.m2mtoken.Mic io.m2mtoken.VerifyMic    ; or *
 *   keys = e2e-* kpsa-*         ; fnmatch(3) globs of key identifiers
 *   tokens = device gw-*        ; globs of token labels (client mode)
 *
 * Other sections are left to their owners.  A call is allowed only if a
 * rule names the caller (its uid, or one of its groups), lists the method
 * and, when the call names a key identifier, has a pattern matching it;
 * anything else is denied (default deny).  A rule needs methods, tokens
 * or both.  A client-mode connection sees a token only if a rule naming
 * the caller has a tokens pattern matching its label.
 */
#ifndef M2M_DCOMMON_ACL_H
#define M2M_DCOMMON_ACL_H

#include <sys/types.h>

#include <stddef.h>
#include <stdio.h>

#include <ini.h>

#define M2M_ACL_RULES_MAX	256	/* [caller] sections */
#define M2M_ACL_ITEMS_MAX	64	/* methods, or keys, of one rule */
#define M2M_ACL_PATTERN_MAX	128	/* bytes of one key pattern */
#define M2M_ACL_RULE_NAME_MAX	64	/* bytes of NAME, [A-Za-z0-9_.-] */
#define M2M_ACL_SECTION_PREFIX	"caller "
#define M2M_ACL_TEXT_MAX	(1024 * 1024)	/* bytes of INI text */
#define M2M_ACL_LINE_MAX	(INI_MAX_LINE - 2)	/* bytes of a line */
#define M2M_ACL_LABEL_MAX	32	/* bytes of a token label */

struct m2m_acl;

/* Why a decision fell as it did. */
enum m2m_acl_why {
	M2M_ACL_ALLOWED = 0,		/* rule allows it */
	M2M_ACL_NO_RULE = 1,		/* no rule names the caller */
	M2M_ACL_METHOD = 2,		/* none of its rules lists method */
	M2M_ACL_KEY = 3,		/* method listed, keyid matches none */
	M2M_ACL_TOKEN = 4		/* no tokens pattern matches the label */
};

struct m2m_acl_verdict {
	int			 allow;	/* 1 allow, 0 deny */
	enum m2m_acl_why	 why;
	/*
	 * The rule that decided: the one that allowed, or for a deny the
	 * first rule that names the caller (NULL if none).  Owned by acl.
	 */
	const char		*rule;
};

/*
 * Parse the [caller ...] sections of the NUL-terminated INI text (or of
 * the stream f).  Users and groups are resolved to ids now: an unknown
 * name is an error.  *ret_acl on success (an ACL without rules denies
 * everything); free with m2m_acl_free().  On M2M_IPC_ERR_ACL_SYNTAX a
 * one-line reason ("line N: ...", or "rule NAME: ...") goes into err
 * (errlen bytes, may be 0): also for a text over M2M_ACL_TEXT_MAX
 * bytes, a line over M2M_ACL_LINE_MAX bytes (refused whole, never cut) or
 * a NUL byte in a file.  M2M_IPC_ERR_INVALID_ARGUMENT, _NO_MEMORY,
 * M2M_IPC_ERR_IO (read error of f).
 */
int m2m_acl_parse_string(const char *text, struct m2m_acl **ret_acl,
    char *err, size_t errlen);
int m2m_acl_parse_file(FILE *f, struct m2m_acl **ret_acl, char *err,
    size_t errlen);

/* Frees acl; NULL is fine. */
void m2m_acl_free(struct m2m_acl *acl);

/* Number of rules in acl. */
size_t m2m_acl_rules(const struct m2m_acl *acl);

/*
 * May the caller (uid and its ngids groups, e.g. struct m2m_peer) call
 * method, naming the key identifier keyid (NULL for a method that names no
 * key)?  Rules are tried in file order; the first that allows decides.
 * Fills *ret; 0, or M2M_IPC_ERR_INVALID_ARGUMENT (then *ret is a deny).
 */
int m2m_acl_check(const struct m2m_acl *acl, uid_t uid, const gid_t *gids,
    size_t ngids, const char *method, const char *keyid,
    struct m2m_acl_verdict *ret);

/*
 * Does a token label match one of the n patterns?  label: len bytes at
 * most (a CK_TOKEN_INFO label: 32, blank padded; or a C string), cut at
 * a NUL, trailing blanks removed.  A blank label (a token not yet
 * initialised) matches only the pattern "*"; others are fnmatch(3)ed
 * (flags 0).  1 or 0.
 */
int m2m_acl_label_match(const char *const *patterns, size_t n,
    const char *label, size_t len);

/*
 * May the caller (uid and its ngids groups) see the token labelled label
 * (as m2m_acl_label_match())?  The first rule naming the caller whose
 * tokens match decides.  Fills *ret (why: ALLOWED, NO_RULE, or TOKEN with
 * the first rule naming the caller); 0, or M2M_IPC_ERR_INVALID_ARGUMENT
 * (then *ret is a deny).
 */
int m2m_acl_token_check(const struct m2m_acl *acl, uid_t uid,
    const gid_t *gids, size_t ngids, const char *label, size_t len,
    struct m2m_acl_verdict *ret);

/*
 * The tokens patterns of every rule naming the caller, in file order,
 * each once: up to max pointers (owned by acl) into ret, their number in
 * *ret_n, the first such rule's name in *ret_rule (NULL: the caller may
 * see no token).  0; M2M_IPC_ERR_INVALID_ARGUMENT for bad arguments or
 * more than max patterns (then *ret_n is 0: the caller sees nothing).
 */
int m2m_acl_token_patterns(const struct m2m_acl *acl, uid_t uid,
    const gid_t *gids, size_t ngids, const char **ret, size_t max,
    size_t *ret_n, const char **ret_rule);

#endif /* M2M_DCOMMON_ACL_H */
