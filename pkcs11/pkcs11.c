/* placeholder */
int m2m_p11_placeholder;
