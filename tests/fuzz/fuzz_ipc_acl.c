/*
 * fuzz_ipc_acl: the caller ACL parser and decision (daemon/common/acl.c:
 * the line reader, inih, [caller NAME] sections, ids, user and group
 * names, lists and their limits), from the INI text of the input.
 * Beyond memory and UB errors it checks the contract of acl.h:
 *   - the string and the FILE parser agree (result and message);
 *   - a failure gives M2M_IPC_ERR_ACL_SYNTAX (or _NO_MEMORY) and one
 *     non-empty line without control bytes, and no ACL;
 *   - on success, every decision is consistent: an allow names its rule
 *     and M2M_ACL_ALLOWED, a deny never says M2M_ACL_ALLOWED, and
 *     M2M_ACL_NO_RULE comes without a rule;
 *   - the token decision of a caller (m2m_acl_token_check) is the match
 *     of the patterns its worker gets (m2m_acl_token_patterns), and a
 *     blank label is seen only through "*".
 */
#define _GNU_SOURCE	/* fmemopen */
#include <sys/types.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "errors.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_err(int r, const char *err)
{
	size_t i;

	if (r != M2M_IPC_ERR_ACL_SYNTAX && r != M2M_IPC_ERR_NO_MEMORY)
		abort();
	if (err[0] == '\0')
		abort();
	for (i = 0; err[i] != '\0'; i++)
		if ((uint8_t)err[i] < 0x20 || err[i] == 0x7f)
			abort();
}

static void
check_decisions(const struct m2m_acl *acl)
{
	static const char *methods[] = { "io.m2mtoken.Mic",
	    "io.m2mtoken.Status", "io.m2mtoken.Seal" };
	static const char *keys[] = { NULL, "", "e2e-1", "kpsa-gw1", "*",
	    "a/b" };
	static const uid_t uids[] = { 0, 1, 1001, 65534 };
	static const gid_t gids[] = { 0, 2000, 65534 };
	struct m2m_acl_verdict v;
	size_t u, m, k, g;

	for (u = 0; u < sizeof(uids) / sizeof(uids[0]); u++)
	for (g = 0; g <= sizeof(gids) / sizeof(gids[0]); g++)
	for (m = 0; m < sizeof(methods) / sizeof(methods[0]); m++)
	for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		if (m2m_acl_check(acl, uids[u], gids, g, methods[m], keys[k],
		    &v) != 0)
			abort();
		if (v.allow && (v.why != M2M_ACL_ALLOWED || v.rule == NULL))
			abort();
		if (!v.allow && v.why == M2M_ACL_ALLOWED)
			abort();
		if (v.why == M2M_ACL_NO_RULE && v.rule != NULL)
			abort();
	}
}

static void
check_tokens(const struct m2m_acl *acl)
{
	static const char *labels[] = { "                                ",
	    "gw                              ", "gw-1", "device", "a/b", "*",
	    "[x]" };
	static const uid_t uids[] = { 0, 1001, 65534 };
	static const gid_t gids[] = { 0, 2000, 65534 };
	const char *pat[64], *rule;
	struct m2m_acl_verdict v;
	size_t u, g, l, n, i;
	int star;

	for (u = 0; u < sizeof(uids) / sizeof(uids[0]); u++)
	for (g = 0; g <= sizeof(gids) / sizeof(gids[0]); g++) {
		if (m2m_acl_token_patterns(acl, uids[u], gids, g, pat, 64, &n,
		    &rule) != 0)
			continue;	/* more than 64: nothing seen */
		if ((n == 0) != (rule == NULL))
			abort();
		for (i = 0, star = 0; i < n; i++)
			star |= strcmp(pat[i], "*") == 0;
		for (l = 0; l < sizeof(labels) / sizeof(labels[0]); l++) {
			if (m2m_acl_token_check(acl, uids[u], gids, g,
			    labels[l], strlen(labels[l]), &v) != 0)
				abort();
			if (v.allow != m2m_acl_label_match(pat, n, labels[l],
			    strlen(labels[l])))
				abort();
			if (v.allow && (v.why != M2M_ACL_ALLOWED ||
			    v.rule == NULL))
				abort();
			if (l == 0 && v.allow != star)
				abort();
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct m2m_acl *acl = NULL, *acl2 = NULL;
	char err[256], err2[256], *text;
	FILE *f;
	int r, r2;

	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	err[0] = err2[0] = '\0';
	r = m2m_acl_parse_string(text, &acl, err, sizeof(err));
	if (r != 0) {
		check_err(r, err);
		if (acl != NULL)
			abort();
	} else {
		if (acl == NULL)
			abort();
		check_decisions(acl);
		check_tokens(acl);
	}
	/* the same bytes through a FILE (a NUL is an error there) */
	if (size > 0 && (f = fmemopen((void *)(uintptr_t)data, size,
	    "r")) != NULL) {
		r2 = m2m_acl_parse_file(f, &acl2, err2, sizeof(err2));
		fclose(f);
		if (memchr(data, '\0', size) == NULL) {
			if (r2 != r || (r != 0 && strcmp(err, err2) != 0) ||
			    m2m_acl_rules(acl) != m2m_acl_rules(acl2))
				abort();
		} else if (r2 != M2M_IPC_ERR_ACL_SYNTAX)
			abort();
		m2m_acl_free(acl2);
	}
	m2m_acl_free(acl);
	free(text);
	return 0;
}
