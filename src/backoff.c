/* backoff: capped exponential retry delays and log rate limits for the
 * failure paths (event socket, dumps, ruleset restores, mark writes). */
#include "backoff.h"

void backoff_init(struct backoff *b, uint32_t min_ms, uint32_t max_ms)
{
	b->min_ms = min_ms ? min_ms : 1;
	b->max_ms = max_ms < b->min_ms ? b->min_ms : max_ms;
	b->delay_ms = 0;
	b->failures = 0;
}

uint32_t backoff_failed(struct backoff *b)
{
	b->failures++;
	if (!b->delay_ms)
		b->delay_ms = b->min_ms;
	else if (b->delay_ms > b->max_ms / 2)
		b->delay_ms = b->max_ms;
	else
		b->delay_ms *= 2;
	return b->delay_ms;
}

void backoff_succeeded(struct backoff *b)
{
	b->delay_ms = 0;
	b->failures = 0;
}

bool backoff_log_due(const struct backoff *b)
{
	return b->failures && !(b->failures & (b->failures - 1));
}

bool backoff_next_log_due(const struct backoff *b)
{
	uint64_t n = b->failures + 1;

	return n && !(n & (n - 1));
}

void ratelimit_init(struct ratelimit *r, uint32_t interval_ms, uint32_t burst)
{
	r->interval_ms = interval_ms;
	r->burst = burst ? burst : 1;
	r->window_ms = 0;
	r->used = 0;
	r->held = 0;
}

bool ratelimit_ok(struct ratelimit *r, uint64_t now_ms, uint64_t *held)
{
	if (!r->used || now_ms - r->window_ms >= r->interval_ms || now_ms < r->window_ms) {
		r->window_ms = now_ms;
		r->used = 0;
	}
	if (r->used >= r->burst) {
		r->held++;
		return false;
	}
	r->used++;
	if (held)
		*held = r->held;
	r->held = 0;
	return true;
}
