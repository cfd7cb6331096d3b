/* SPDX-License-Identifier: MIT */
/* Version queries. */
#include "core/internal.h"

const char *gm_version(void) { return GM_VERSION_STRING; }

uint32_t gm_version_number(void) { return GM_VERSION_NUMBER; }
