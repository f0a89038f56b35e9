/* backoff: when to retry something that keeps failing, and when to log it
 * again: capped exponential delays and a log rate limit, pure (time is an argument). */
#ifndef FLOWOFFLOAD_BACKOFF_H
#define FLOWOFFLOAD_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

/*
 * A failing operation is retried after min_ms, then twice as long after
 * each further failure, up to max_ms; a success starts over.  Its log
 * lines follow the failures' powers of two (1st, 2nd, 4th, 8th, ...), so a
 * failure that lasts a day writes a few dozen lines, each saying how many
 * came before.
 */
struct backoff {
	uint32_t min_ms, max_ms;
	uint32_t delay_ms;	/* the last delay given; 0 after a success */
	uint64_t failures;	/* in a row */
};

void backoff_init(struct backoff *b, uint32_t min_ms, uint32_t max_ms);
/* Count a failure; the delay before the next try. */
uint32_t backoff_failed(struct backoff *b);
void backoff_succeeded(struct backoff *b);
/* Should the failure just counted be logged?  And the next one, before it
 * is counted (for a caller that logs where the failure happens)? */
bool backoff_log_due(const struct backoff *b);
bool backoff_next_log_due(const struct backoff *b);

/*
 * At most burst log lines per interval_ms; the first line after a quiet
 * spell says how many were held back.
 */
struct ratelimit {
	uint32_t interval_ms, burst;
	uint64_t window_ms;	/* start of the current interval */
	uint32_t used;		/* lines in it */
	uint64_t held;		/* lines held back since the last one let through */
};

void ratelimit_init(struct ratelimit *r, uint32_t interval_ms, uint32_t burst);
/* true: log this one (*held, if not NULL, gets the lines held back before
 * it, and the count starts over); false: hold it back. */
bool ratelimit_ok(struct ratelimit *r, uint64_t now_ms, uint64_t *held);

#endif
