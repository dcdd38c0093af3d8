/*
 * daemon/common: caller ACLs (see acl.h).
 */
#include <sys/types.h>

#include <errno.h>
#include <fnmatch.h>
#include <grp.h>
#include <ini.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "errors.h"
#include "ipc.h"

#define NSSBUF_MAX	(1024 * 1024)

enum subject { SUBJ_NONE = 0, SUBJ_UID, SUBJ_GID };

struct rule {
	char		*name;
	char		*section;	/* as inih gave it */
	enum subject	 subj;
	unsigned long	 id;		/* uid or gid */
	char		*methods[M2M_ACL_ITEMS_MAX];	/* "*" or a name */
	size_t		 nmethods;
	char		*keys[M2M_ACL_ITEMS_MAX];	/* globs */
	size_t		 nkeys;
	char		*tokens[M2M_ACL_ITEMS_MAX];	/* label globs */
	size_t		 ntokens;
};

struct m2m_acl {
	struct rule	*rules;
	size_t		 nrules;
};

struct parse {
	struct m2m_acl	*acl;
	int		 r;		/* first failure */
	char		 why[160];	/* its reason */
};

static void
rule_clear(struct rule *ru)
{
	size_t i;

	free(ru->name);
	free(ru->section);
	for (i = 0; i < ru->nmethods; i++)
		free(ru->methods[i]);
	for (i = 0; i < ru->nkeys; i++)
		free(ru->keys[i]);
	for (i = 0; i < ru->ntokens; i++)
		free(ru->tokens[i]);
}

/* see acl.h */
void
m2m_acl_free(struct m2m_acl *acl)
{
	size_t i;

	if (acl == NULL)
		return;
	for (i = 0; i < acl->nrules; i++)
		rule_clear(&acl->rules[i]);
	free(acl->rules);
	free(acl);
}

/* see acl.h */
size_t
m2m_acl_rules(const struct m2m_acl *acl)
{
	return acl == NULL ? 0 : acl->nrules;
}

static int __attribute__((format(printf, 3, 4)))
fail(struct parse *p, int r, const char *fmt, ...)
{
	va_list ap;

	if (p->r == 0) {
		p->r = r;
		va_start(ap, fmt);
		vsnprintf(p->why, sizeof(p->why), fmt, ap);
		va_end(ap);
	}
	return 0;	/* inih: an error on this line */
}

static int
name_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

/* A decimal id below (uid_t)-1, or -1. */
static int
parse_id(const char *s, unsigned long *ret)
{
	unsigned long v = 0;
	size_t i;

	if (s[0] == '\0' || strlen(s) > 10)
		return -1;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v >= (unsigned long)(uid_t)-1)
		return -1;
	*ret = v;
	return 0;
}

/* The uid of user name, or the gid of group name (grp != 0). */
static int
resolve(const char *name, int grp, unsigned long *ret)
{
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp_p = NULL;
	size_t len = 1024;
	char *buf = NULL, *nb;
	int e, r = M2M_IPC_ERR_NO_MEMORY;

	for (;;) {
		if ((nb = realloc(buf, len)) == NULL)
			goto out;
		buf = nb;
		if (grp)
			e = getgrnam_r(name, &gr, buf, len, &grp_p);
		else
			e = getpwnam_r(name, &pw, buf, len, &pwp);
		if (e != ERANGE)
			break;
		if (len >= NSSBUF_MAX)
			goto out;
		len *= 2;
	}
	if (grp && grp_p != NULL)
		*ret = (unsigned long)grp_p->gr_gid;
	else if (!grp && pwp != NULL)
		*ret = (unsigned long)pwp->pw_uid;
	else {
		r = M2M_IPC_ERR_ACL_SYNTAX;
		goto out;
	}
	r = 0;
 out:
	free(buf);
	return r;
}

/* The rule of section, a new one at the end if it is not the last one. */
static struct rule *
rule_for(struct parse *p, const char *section)
{
	struct m2m_acl *acl = p->acl;
	const char *name = section + sizeof(M2M_ACL_SECTION_PREFIX) - 1;
	struct rule *nr, *ru;
	size_t i, n;

	if (acl->nrules > 0 &&
	    strcmp(acl->rules[acl->nrules - 1].section, section) == 0)
		return &acl->rules[acl->nrules - 1];
	n = strlen(name);
	if (n == 0 || n > M2M_ACL_RULE_NAME_MAX) {
		fail(p, M2M_IPC_ERR_ACL_SYNTAX,
		    "a rule name has 1 to %d characters",
		    M2M_ACL_RULE_NAME_MAX);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		if (!name_char(name[i])) {
			fail(p, M2M_IPC_ERR_ACL_SYNTAX,
			    "a rule name is made of A-Z a-z 0-9 _ . -");
			return NULL;
		}
	}
	for (i = 0; i < acl->nrules; i++) {
		if (strcmp(acl->rules[i].name, name) == 0) {
			fail(p, M2M_IPC_ERR_ACL_SYNTAX,
			    "rule %s defined twice", name);
			return NULL;
		}
	}
	if (acl->nrules >= M2M_ACL_RULES_MAX) {
		fail(p, M2M_IPC_ERR_ACL_SYNTAX, "more than %d rules",
		    M2M_ACL_RULES_MAX);
		return NULL;
	}
	if ((nr = reallocarray(acl->rules, acl->nrules + 1,
	    sizeof(*nr))) == NULL) {
		fail(p, M2M_IPC_ERR_NO_MEMORY, "out of memory");
		return NULL;
	}
	acl->rules = nr;
	ru = &acl->rules[acl->nrules];
	memset(ru, 0, sizeof(*ru));
	if ((ru->name = strdup(name)) == NULL ||
	    (ru->section = strdup(section)) == NULL) {
		rule_clear(ru);
		fail(p, M2M_IPC_ERR_NO_MEMORY, "out of memory");
		return NULL;
	}
	acl->nrules++;
	return ru;
}

/* Appends the blank- or comma-separated items of value to a list. */
static int
add_items(struct parse *p, const char *what, const char *value,
    char **list, size_t *n, int methods)
{
	const char *s = value, *e;
	size_t len;
	char *item;

	for (;;) {
		while (*s == ' ' || *s == '\t' || *s == ',')
			s++;
		if (*s == '\0')
			return 1;
		for (e = s; *e != '\0' && *e != ' ' && *e != '\t' &&
		    *e != ','; e++)
			;
		len = (size_t)(e - s);
		if (*n >= M2M_ACL_ITEMS_MAX)
			return fail(p, M2M_IPC_ERR_ACL_SYNTAX,
			    "more than %d %s", M2M_ACL_ITEMS_MAX, what);
		if (len > M2M_ACL_PATTERN_MAX)
			return fail(p, M2M_IPC_ERR_ACL_SYNTAX,
			    "a %s entry has at most %d bytes", what,
			    M2M_ACL_PATTERN_MAX);
		if ((item = strndup(s, len)) == NULL)
			return fail(p, M2M_IPC_ERR_NO_MEMORY,
			    "out of memory");
		if (methods && strcmp(item, "*") != 0 &&
		    !m2m_ipc_name_valid(item)) {
			free(item);
			return fail(p, M2M_IPC_ERR_ACL_SYNTAX,
			    "a method is * or io.m2mtoken.[A-Za-z]+");
		}
		list[(*n)++] = item;
		s = e;
	}
}

/* The ini_handler: one "name = value" of section. */
static int
handler(void *user, const char *section, const char *name,
    const char *value)
{
	struct parse *p = user;
	struct rule *ru;
	size_t i;
	int grp;

	if (p->r != 0)
		return 0;
	if (strncmp(section, M2M_ACL_SECTION_PREFIX,
	    sizeof(M2M_ACL_SECTION_PREFIX) - 1) != 0)
		return 1;	/* not ours */
	if ((ru = rule_for(p, section)) == NULL)
		return 0;
	/* a known name before it goes into a message */
	if (strcmp(name, "uid") != 0 && strcmp(name, "gid") != 0 &&
	    strcmp(name, "user") != 0 && strcmp(name, "group") != 0 &&
	    strcmp(name, "methods") != 0 && strcmp(name, "keys") != 0 &&
	    strcmp(name, "tokens") != 0)
		return fail(p, M2M_IPC_ERR_ACL_SYNTAX,
		    "unknown setting in rule %s (uid, user, gid, group, "
		    "methods, keys, tokens)", ru->name);
	for (i = 0; value[i] != '\0'; i++)
		if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
			return fail(p, M2M_IPC_ERR_ACL_SYNTAX,
			    "control character in %s", name);
	if (strcmp(name, "methods") == 0)
		return add_items(p, "methods", value, ru->methods,
		    &ru->nmethods, 1);
	if (strcmp(name, "keys") == 0)
		return add_items(p, "keys", value, ru->keys, &ru->nkeys, 0);
	if (strcmp(name, "tokens") == 0)
		return add_items(p, "tokens", value, ru->tokens,
		    &ru->ntokens, 0);
	if (ru->subj != SUBJ_NONE)
		return fail(p, M2M_IPC_ERR_ACL_SYNTAX,
		    "rule %s names its caller twice (one of uid, user, gid, "
		    "group)", ru->name);
	grp = name[0] == 'g';
	ru->subj = grp ? SUBJ_GID : SUBJ_UID;
	if (strcmp(name, "uid") == 0 || strcmp(name, "gid") == 0) {
		if (parse_id(value, &ru->id) != 0)
			return fail(p, M2M_IPC_ERR_ACL_SYNTAX,
			    "%s is a decimal number", name);
		return 1;
	}
	switch (resolve(value, grp, &ru->id)) {
	case 0:
		return 1;
	case M2M_IPC_ERR_ACL_SYNTAX:
		return fail(p, M2M_IPC_ERR_ACL_SYNTAX, "unknown %s",
		    grp ? "group" : "user");
	default:
		return fail(p, M2M_IPC_ERR_NO_MEMORY, "out of memory");
	}
}

/*
 * The end of a parse: a rule without caller, or with neither methods nor
 * tokens, is an error.
 */
static int
finish(struct parse *p, int rv, struct m2m_acl **ret_acl, char *err,
    size_t errlen)
{
	struct rule *ru;
	size_t i;

	if (p->r == 0 && rv == -2)
		fail(p, M2M_IPC_ERR_NO_MEMORY, "out of memory");
	else if (p->r == 0 && rv != 0)
		fail(p, M2M_IPC_ERR_ACL_SYNTAX, "syntax error");
	if (p->r != 0 && rv > 0) {
		char line[sizeof(p->why)];
		int n;

		memcpy(line, p->why, sizeof(line));
		n = snprintf(p->why, sizeof(p->why), "line %d: ", rv);
		if (n > 0 && (size_t)n < sizeof(p->why)) {
			/*
			 * The reason after the prefix, cut to fit: a bounded
			 * copy (snprintf("%s") here fails -Wformat-truncation
			 * in a -O0 build).
			 */
			size_t room = sizeof(p->why) - (size_t)n - 1;
			size_t l = strnlen(line, sizeof(line));

			if (l > room)
				l = room;
			memcpy(p->why + n, line, l);
			p->why[(size_t)n + l] = '\0';
		}
	}
	for (i = 0; p->r == 0 && i < p->acl->nrules; i++) {
		ru = &p->acl->rules[i];
		if (ru->subj == SUBJ_NONE)
			fail(p, M2M_IPC_ERR_ACL_SYNTAX,
			    "rule %s: no uid, user, gid or group", ru->name);
		else if (ru->nmethods == 0 && ru->ntokens == 0)
			fail(p, M2M_IPC_ERR_ACL_SYNTAX,
			    "rule %s: no methods and no tokens", ru->name);
	}
	if (p->r != 0) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s", p->why);
		m2m_acl_free(p->acl);
		p->acl = NULL;
		return p->r;
	}
	*ret_acl = p->acl;
	p->acl = NULL;	/* transferred */
	return 0;
}

/* The text being parsed, handed to inih one line at a time. */
struct src {
	const char	*buf;
	size_t		 len;
	size_t		 off;
	int		 lineno;
	int		 toolong;	/* the line number of one, or 0 */
	int		 maxline;	/* the most inih takes */
};

/*
 * The ini_reader: one line of src into str (num bytes), or NULL at the end
 * or at a line longer than inih's buffer, which inih would otherwise cut
 * and read the rest of as a line of its own.
 */
static char *
reader(char *str, int num, void *stream)
{
	struct src *src = stream;
	const char *line, *nl;
	size_t len;

	if (num < 4 || src->toolong || src->off >= src->len)
		return NULL;
	line = src->buf + src->off;
	nl = memchr(line, '\n', src->len - src->off);
	len = nl != NULL ? (size_t)(nl - line) : src->len - src->off;
	src->lineno++;
	/* room for the newline and the NUL */
	if (len > (size_t)num - 2) {
		src->toolong = src->lineno;
		src->maxline = num - 2;
		return NULL;
	}
	src->off += len + (nl != NULL);
	memcpy(str, line, len);
	str[len] = '\n';
	str[len + 1] = '\0';
	return str;
}

static int
parse_buf(const char *buf, size_t len, struct m2m_acl **ret_acl, char *err,
    size_t errlen)
{
	struct parse p;
	struct src src;
	int rv;

	memset(&p, 0, sizeof(p));
	memset(&src, 0, sizeof(src));
	src.buf = buf;
	src.len = len;
	if (memchr(buf, '\0', len) != NULL) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "NUL byte in the text");
		return M2M_IPC_ERR_ACL_SYNTAX;
	}
	if ((p.acl = calloc(1, sizeof(*p.acl))) == NULL)
		return M2M_IPC_ERR_NO_MEMORY;
	rv = ini_parse_stream(reader, &src, handler, &p);
	if (rv == 0 && src.toolong) {
		fail(&p, M2M_IPC_ERR_ACL_SYNTAX,
		    "line too long (at most %d bytes)", src.maxline);
		rv = src.toolong;
	}
	return finish(&p, rv, ret_acl, err, errlen);
}

/* see acl.h */
int
m2m_acl_parse_string(const char *text, struct m2m_acl **ret_acl,
    char *err, size_t errlen)
{
	size_t len;

	if (text == NULL || ret_acl == NULL)
		return M2M_IPC_ERR_INVALID_ARGUMENT;
	if ((len = strnlen(text, M2M_ACL_TEXT_MAX + 1)) > M2M_ACL_TEXT_MAX) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "more than %d bytes",
			    M2M_ACL_TEXT_MAX);
		return M2M_IPC_ERR_ACL_SYNTAX;
	}
	return parse_buf(text, len, ret_acl, err, errlen);
}

/* see acl.h */
int
m2m_acl_parse_file(FILE *f, struct m2m_acl **ret_acl, char *err,
    size_t errlen)
{
	char *buf = NULL, *nb;
	size_t len = 0, cap = 0, n;
	int r = M2M_IPC_ERR_INTERNAL;

	if (f == NULL || ret_acl == NULL)
		return M2M_IPC_ERR_INVALID_ARGUMENT;
	/* up to one byte more than the limit, which tells an over-long file */
	for (;;) {
		if (len == cap) {
			if (cap > M2M_ACL_TEXT_MAX)
				break;
			cap = cap == 0 ? 4096 : cap * 2;
			if (cap > M2M_ACL_TEXT_MAX + 1)
				cap = M2M_ACL_TEXT_MAX + 1;
			if ((nb = realloc(buf, cap)) == NULL) {
				r = M2M_IPC_ERR_NO_MEMORY;
				goto out;
			}
			buf = nb;
		}
		if ((n = fread(buf + len, 1, cap - len, f)) == 0)
			break;
		len += n;
	}
	if (ferror(f)) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "read error");
		r = M2M_IPC_ERR_IO;
		goto out;
	}
	if (len > M2M_ACL_TEXT_MAX) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "more than %d bytes",
			    M2M_ACL_TEXT_MAX);
		r = M2M_IPC_ERR_ACL_SYNTAX;
		goto out;
	}
	r = parse_buf(buf, len, ret_acl, err, errlen);
 out:
	free(buf);
	return r;
}

/* Does rule ru name the caller? */
static int
names_caller(const struct rule *ru, uid_t uid, const gid_t *gids,
    size_t ngids)
{
	size_t i;

	if (ru->subj == SUBJ_UID)
		return (unsigned long)uid == ru->id;
	for (i = 0; i < ngids; i++)
		if ((unsigned long)gids[i] == ru->id)
			return 1;
	return 0;
}

static int
lists_method(const struct rule *ru, const char *method)
{
	size_t i;

	for (i = 0; i < ru->nmethods; i++)
		if (strcmp(ru->methods[i], "*") == 0 ||
		    strcmp(ru->methods[i], method) == 0)
			return 1;
	return 0;
}

static int
matches_key(const struct rule *ru, const char *keyid)
{
	size_t i;

	if (keyid == NULL)
		return 1;
	for (i = 0; i < ru->nkeys; i++)
		if (fnmatch(ru->keys[i], keyid, 0) == 0)
			return 1;
	return 0;
}

/* see acl.h */
int
m2m_acl_check(const struct m2m_acl *acl, uid_t uid, const gid_t *gids,
    size_t ngids, const char *method, const char *keyid,
    struct m2m_acl_verdict *ret)
{
	const struct rule *ru;
	const char *first = NULL;
	enum m2m_acl_why why = M2M_ACL_NO_RULE;
	size_t i;

	if (ret == NULL)
		return M2M_IPC_ERR_INVALID_ARGUMENT;
	ret->allow = 0;
	ret->why = M2M_ACL_NO_RULE;
	ret->rule = NULL;
	if (acl == NULL || method == NULL || (gids == NULL && ngids > 0))
		return M2M_IPC_ERR_INVALID_ARGUMENT;
	for (i = 0; i < acl->nrules; i++) {
		ru = &acl->rules[i];
		if (!names_caller(ru, uid, gids, ngids))
			continue;
		if (first == NULL)
			first = ru->name;
		if (!lists_method(ru, method))
			continue;
		if (!matches_key(ru, keyid)) {
			why = M2M_ACL_KEY;
			continue;
		}
		ret->allow = 1;
		ret->why = M2M_ACL_ALLOWED;
		ret->rule = ru->name;
		return 0;
	}
	if (first != NULL && why == M2M_ACL_NO_RULE)
		why = M2M_ACL_METHOD;
	ret->why = why;
	ret->rule = first;
	return 0;
}

/* see acl.h */
int
m2m_acl_label_match(const char *const *patterns, size_t n,
    const char *label, size_t len)
{
	char lab[M2M_ACL_LABEL_MAX + 1];
	size_t i;

	if (label == NULL || (patterns == NULL && n > 0))
		return 0;
	len = strnlen(label, len);
	while (len > 0 && label[len - 1] == ' ')
		len--;
	if (len > M2M_ACL_LABEL_MAX)
		return 0;
	memcpy(lab, label, len);
	lab[len] = '\0';
	for (i = 0; i < n; i++) {
		if (strcmp(patterns[i], "*") == 0)
			return 1;
		if (len > 0 && fnmatch(patterns[i], lab, 0) == 0)
			return 1;
	}
	return 0;
}

/* see acl.h */
int
m2m_acl_token_patterns(const struct m2m_acl *acl, uid_t uid,
    const gid_t *gids, size_t ngids, const char **ret, size_t max,
    size_t *ret_n, const char **ret_rule)
{
	const struct rule *ru;
	size_t i, j, k, n = 0;

	if (ret_n == NULL || ret_rule == NULL)
		return M2M_IPC_ERR_INVALID_ARGUMENT;
	*ret_n = 0;
	*ret_rule = NULL;
	if (acl == NULL || (ret == NULL && max > 0) ||
	    (gids == NULL && ngids > 0))
		return M2M_IPC_ERR_INVALID_ARGUMENT;
	for (i = 0; i < acl->nrules; i++) {
		ru = &acl->rules[i];
		if (ru->ntokens == 0 || !names_caller(ru, uid, gids, ngids))
			continue;
		if (*ret_rule == NULL)
			*ret_rule = ru->name;
		for (j = 0; j < ru->ntokens; j++) {
			for (k = 0; k < n; k++)
				if (strcmp(ret[k], ru->tokens[j]) == 0)
					break;
			if (k < n)
				continue;	/* given already */
			if (n == max) {
				*ret_n = 0;
				return M2M_IPC_ERR_INVALID_ARGUMENT;
			}
			ret[n++] = ru->tokens[j];
		}
	}
	*ret_n = n;
	return 0;
}

/* see acl.h */
int
m2m_acl_token_check(const struct m2m_acl *acl, uid_t uid, const gid_t *gids,
    size_t ngids, const char *label, size_t len,
    struct m2m_acl_verdict *ret)
{
	const struct rule *ru;
	const char *first = NULL;
	size_t i;

	if (ret == NULL)
		return M2M_IPC_ERR_INVALID_ARGUMENT;
	ret->allow = 0;
	ret->why = M2M_ACL_NO_RULE;
	ret->rule = NULL;
	if (acl == NULL || label == NULL || (gids == NULL && ngids > 0))
		return M2M_IPC_ERR_INVALID_ARGUMENT;
	for (i = 0; i < acl->nrules; i++) {
		ru = &acl->rules[i];
		if (!names_caller(ru, uid, gids, ngids))
			continue;
		if (first == NULL)
			first = ru->name;
		if (m2m_acl_label_match((const char *const *)ru->tokens,
		    ru->ntokens, label, len)) {
			ret->allow = 1;
			ret->why = M2M_ACL_ALLOWED;
			ret->rule = ru->name;
			return 0;
		}
	}
	if (first != NULL)
		ret->why = M2M_ACL_TOKEN;
	ret->rule = first;
	return 0;
}
