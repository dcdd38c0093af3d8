/*
 * mef_tokinit: initialise the token labelled LABEL of $M2MTOKEN_MODULE
 * (C_InitToken with $M2M_SO_PIN, C_InitPIN with the PIN read from
 * PIN_FILE) unless it exists.  A helper of tests/mef/test_mef.sh, so that
 * the test needs no external PKCS#11 tool.  With KE_LABEL, also import a
 * Ke object (role KE, a fixed value) labelled KE_LABEL, as a bootstrap cut
 * short between its two writes would leave it.
 *   mef_tokinit LABEL PIN_FILE [KE_LABEL]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls_p11.h"

int
main(int argc, char **argv)
{
	CK_FUNCTION_LIST_PTR f;
	CK_SLOT_ID slot;
	char pin[130];
	const char *so = getenv("M2M_SO_PIN");
	FILE *fp;
	CK_SESSION_HANDLE s;
	uint8_t ke[32];
	CK_RV rv;

	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: mef_tokinit LABEL PIN_FILE "
		    "[KE_LABEL]\n");
		return 2;
	}
	if ((fp = fopen(argv[2], "r")) == NULL ||
	    fgets(pin, sizeof(pin), fp) == NULL) {
		fprintf(stderr, "mef_tokinit: cannot read %s\n", argv[2]);
		return 1;
	}
	fclose(fp);
	pin[strcspn(pin, "\n")] = '\0';
	if ((f = m2m_p11_load(NULL)) == NULL)
		return 1;
	rv = m2m_p11_find_token(f, argv[1], 1, so ? so : "5678", pin, &slot);
	if (rv == CKR_OK && argc == 4 && (rv = f->C_OpenSession(slot,
	    CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s)) == CKR_OK) {
		rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
		memset(ke, 0x42, sizeof(ke));
		if (rv == CKR_OK)
			rv = m2m_p11_import_psk(f, s, argv[3], CK_M2M_ROLE_KE,
			    ke, sizeof(ke), NULL);
		f->C_CloseSession(s);
	}
	m2m_p11_unload();
	if (rv != CKR_OK) {
		fprintf(stderr, "mef_tokinit: %s\n", m2m_p11_rv_name(rv));
		return 1;
	}
	return 0;
}
