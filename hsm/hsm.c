/* placeholder: replaced by the HSM backend */
#include "backend.h"
