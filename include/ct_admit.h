/* ct_admit: writes admission decisions onto conntrack entries as bits of the
 * conntrack mark (CTA_MARK with CTA_MARK_MASK: other bits stay untouched). */
#ifndef FLOWOFFLOAD_CT_ADMIT_H
#define FLOWOFFLOAD_CT_ADMIT_H

#include <stddef.h>
#include <stdint.h>

#include "flows.h"

/* The admission values written under the configured mark mask: the mask's
 * lowest set bit is the unit, so with mask 0x0c000000 ADMIT_SW is
 * 0x04000000.  The ruleset's rules match the same values. */
enum admit_value {
	ADMIT_NONE = 0,
	ADMIT_SW = 1,
	ADMIT_HW = 2,
	ADMIT_SKIP = 3,
};
uint32_t ct_admit_value(uint32_t mask, enum admit_value v);

struct ct_admit_stats {
	uint64_t updates;	/* mark updates the kernel accepted */
	uint64_t gone;		/* ENOENT: the conntrack died meanwhile */
	uint64_t errors;	/* any other refusal */
	uint64_t no_ack;	/* of errors: no ACK queued when send returned */
};

struct ct_admit;

int ct_admit_open(struct ct_admit **out);
/* Set (mark & ~mask) | value on the conntrack identified by ct's original
 * tuple, id and zone.  0, -ENOENT (gone; counted, not logged), or another
 * negative errno with the kernel's message in err. */
int ct_admit_set_mark(struct ct_admit *a, const struct ct_info *ct, uint32_t value, uint32_t mask,
		      char *err, size_t errlen);
const struct ct_admit_stats *ct_admit_stats(const struct ct_admit *a);
void ct_admit_close(struct ct_admit *a);

#endif
