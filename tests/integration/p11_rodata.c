/*
 * p11_rodata: the module's function lists and interface table are
 * read-only, so code in the process cannot redirect an entry point for
 * every other caller (issue 10, item 8).  Each pointer the module hands out
 * must lie in a mapping without write permission, and a write through the
 * v2.40 list must fault (tried in a child).
 */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "p11client.h"

/* 1 if addr lies in a mapping of this process with 'w' in its rights. */
static int
writable(const void *addr, int *found)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512], perms[8];
	unsigned long lo, hi, a = (unsigned long)addr;
	int w = 0;

	*found = 0;
	if (f == NULL)
		p11c_bail("open /proc/self/maps");
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3)
			continue;
		if (a >= lo && a < hi) {
			*found = 1;
			w = perms[1] == 'w';
			break;
		}
	}
	fclose(f);
	return w;
}

static void
check_ro(const void *p, size_t len, const char *what)
{
	int found, found2, w, w2;

	w = writable(p, &found);
	w2 = writable((const char *)p + len - 1, &found2);
	p11c_check(found && found2 && !w && !w2,
	    "%s (%p) is in read-only memory", what, p);
}

int
main(int argc, char **argv)
{
	CK_C_GetInterfaceList gil;
	CK_C_GetInterface gi;
	CK_INTERFACE list[4];
	CK_INTERFACE_PTR ifc = NULL;
	CK_ULONG n = 4, i;
	pid_t pid;
	int st;

	p11c_load(argc, argv);
	check_ro(F, sizeof(*F), "C_GetFunctionList's v2.40 list");

	*(void **)&gil = dlsym(p11c_dl, "C_GetInterfaceList");
	*(void **)&gi = dlsym(p11c_dl, "C_GetInterface");
	if (gil == NULL || gi == NULL)
		p11c_bail("no C_GetInterfaceList / C_GetInterface");
	P11C_MUST(gil(list, &n));
	p11c_check(n == 2, "two interfaces (got %lu)", (unsigned long)n);
	for (i = 0; i < n; i++) {
		CK_VERSION *v = list[i].pFunctionList;

		check_ro(list[i].pFunctionList, v->major == 3 ?
		    sizeof(CK_FUNCTION_LIST_3_0) : sizeof(CK_FUNCTION_LIST),
		    v->major == 3 ? "the v3.0 list" : "the v2.40 list");
	}
	P11C_MUST(gi((CK_UTF8CHAR_PTR)"PKCS 11", NULL, &ifc, 0));
	check_ro(ifc, sizeof(*ifc), "the interface table entry");

	/* A write through the list faults (in a child, which may die). */
	fflush(stdout);
	if ((pid = fork()) < 0)
		p11c_bail("fork");
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL);
		F->C_Finalize = NULL;
		_exit(0);
	}
	if (waitpid(pid, &st, 0) != pid)
		p11c_bail("waitpid");
	p11c_check(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV,
	    "a write through the v2.40 list faults (status 0x%x)", st);
	return p11c_finish();
}
