/* class_clients: per service class, the heaviest few clients' decayed flow
 * weights, and the class's weight as a verdict counts it (each capped). */
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "class_clients.h"
#include "hash.h"

/*
 * Why: a class's verdict turns on its share of mice.  One LAN host opening
 * thousands of short connections to a server port would otherwise make the
 * class "mice" for everyone, and every large flow to that port would lose
 * the fast path.  Two rules stop it:
 *
 *  - a verdict needs min-clients distinct clients (class_count.clients);
 *  - no client counts for more than 1/min-clients of the counted weight.
 *    Its excess is left out, mice and non-mice alike, so the heaviest client
 *    weighs no more than min-clients clients of equal weight would together.
 *
 * The cap is the largest c with c = (R + sum(min(w_i, c))) / min_clients,
 * R the weight of the clients not tracked.  Above every tracked client's
 * weight nothing is capped; below, the right side grows with slope
 * k / min_clients, k the clients above c, so with the weights sorted the
 * fixed point is found in one pass.  With R = 0 and fewer than min_clients
 * clients it is 0: nothing counts, which is the first rule again.
 *
 * Tracking: CLASS_CLIENTS_MAX entries, the lightest replaced by a newcomer.
 * The noisy client is the heaviest, so it is never the one replaced; many
 * light clients churn through the last entries and their weight moves to R,
 * counted uncapped, as it should be (they are many).
 */

uint32_t class_clients_id(const struct ct_info *ct, uint32_t seed)
{
	size_t len = ct->family == AF_INET6 ? 8 : 4, i;
	uint32_t h = seed ^ 0x811c9dc5u ^ ct->family;

	for (i = 0; i < len; i++)
		h = (h ^ ct->orig.src[i]) * 0x01000193u;
	return hash_mix32(h);
}

void class_clients_add(struct class_clients *cc, uint32_t id, double inc, bool mouse)
{
	unsigned int i, min = 0;

	for (i = 0; i < cc->n; i++)
		if (cc->id[i] == id)
			break;
	if (i == cc->n) {
		if (cc->n < CLASS_CLIENTS_MAX) {
			i = cc->n++;
		} else {
			for (i = 1; i < cc->n; i++)
				if (cc->w[i] < cc->w[min])
					min = i;
			i = min;
		}
		cc->id[i] = id;
		cc->w[i] = 0;
		cc->mice[i] = 0;
	}
	cc->w[i] += inc;
	if (mouse)
		cc->mice[i] += inc;
}

void class_clients_scale(struct class_clients *cc, double f)
{
	unsigned int i;

	for (i = 0; i < cc->n; i++) {
		cc->w[i] *= f;
		cc->mice[i] *= f;
	}
}

/* The tracked weights, heaviest first (insertion sort of at most 8). */
static unsigned int sorted(const struct class_clients *cc, double *s)
{
	unsigned int i, j;

	for (i = 0; i < cc->n; i++) {
		double v = cc->w[i];

		for (j = i; j > 0 && s[j - 1] < v; j--)
			s[j] = s[j - 1];
		s[j] = v;
	}
	return cc->n;
}

/* The cap c (see above); a negative value: nothing is capped. */
static double cap_of(const double *s, unsigned int n, double rest, unsigned int k_min)
{
	double tail = rest, c;
	unsigned int k, i;

	for (i = 0; i < n; i++)
		tail += s[i];
	if (!n || s[0] * k_min <= tail)
		return -1;
	/* k clients above the cap: c = (tail_k + k c) / k_min, where tail_k
	 * is R and the weights below the k heaviest.  At k = k_min - 1 the
	 * solution, tail_k, is at least the next weight: the loop ends there
	 * at the latest, or runs out of clients (with R = 0, c = 0). */
	for (k = 1; k <= n && k < k_min; k++) {
		double floor = k < n ? s[k] : 0;

		tail -= s[k - 1];
		c = tail / (double)(k_min - k);
		if (c >= floor)
			return c;
	}
	return 0;
}

void class_clients_count(const struct class_clients *cc, double w, double mice,
			 unsigned int min_clients, struct class_count *out)
{
	double s[CLASS_CLIENTS_MAX], rest = w, rest_mice = mice, c;
	unsigned int i, n;

	out->w = w;
	out->mice = mice;
	out->clients = cc->n;
	if (min_clients <= 1)
		return;
	for (i = 0; i < cc->n; i++) {
		rest -= cc->w[i];
		rest_mice -= cc->mice[i];
	}
	/* The subtractions leave rounding slivers (either sign) where every
	 * client is tracked. */
	if (rest < w * 1e-9)
		rest = 0;
	if (rest_mice < 0)
		rest_mice = 0;
	if (rest_mice > rest)
		rest_mice = rest;
	n = sorted(cc, s);
	c = cap_of(s, n, rest, min_clients);
	if (c < 0)
		return;
	out->w = rest;
	out->mice = rest_mice;
	for (i = 0; i < cc->n; i++) {
		if (cc->w[i] <= c) {
			out->w += cc->w[i];
			out->mice += cc->mice[i];
		} else {
			out->w += c;
			out->mice += cc->mice[i] * (c / cc->w[i]);
		}
	}
}
