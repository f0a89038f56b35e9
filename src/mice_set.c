/* mice_set: the learned mice classes as nft set elements: a walk of the
 * class table, a diff against what the kernel holds, one transaction. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "backoff.h"
#include "classes.h"
#include "log.h"
#include "loop.h"
#include "mice_set.h"
#include "nft_plan.h"
#include "tracker.h"

/*
 * Why a set: a mice class used to cost one conntrack mark write per new
 * flow (a DNS resolver's queries, each a netlink round trip).  The kernel
 * looks the server port up in the set on the window's packets instead, so
 * the agent writes once per class, when it becomes mice or stops being.
 *
 * The sets hold ports per family and protocol: a class key (classes.c) is
 * family, protocol, server port and a server prefix whose length the agent
 * leaves at 0, so every class the agent learns has a port-only key.  A
 * class with a prefix (none today) is counted and left to the mark.
 *
 * What the kernel holds is a bitmap per set (65536 ports, 8 KiB each),
 * what the classes want another; a walk fills the second, the difference
 * is the transaction.  A class changes verdict when a flow of it ends
 * (observed counts) or, slowly, as its weight decays: a walk runs when
 * anything was observed since the last one, and at least every
 * IDLE_WALK_MS.
 */
#define SYNC_MS 2000
#define IDLE_WALK_MS 30000
#define RETRY_MS 2000
#define RETRY_MAX_MS 60000

#define PORT_WORDS (65536 / 64)

struct mice_set {
	struct loop *loop;
	const struct fo_config *cfg;
	const struct ruleset_plan *plan;
	struct nft_ruleset *nft;
	const struct tracker *trk;
	struct loop_timer *timer;
	struct backoff retry;
	bool full;		/* the next apply replaces the sets whole */
	uint64_t next_try_ms;	/* after a failure */
	uint64_t walked_observed; /* classes' observed count at the last walk */
	uint64_t walked_ms;
	uint64_t want[NFT_MICE_KINDS][PORT_WORDS];
	uint64_t applied[NFT_MICE_KINDS][PORT_WORDS];
	struct mice_set_stats st;
};

static bool bit_get(const uint64_t *map, uint16_t port)
{
	return map[port / 64] >> (port % 64) & 1;
}

static void bit_set(uint64_t *map, uint16_t port)
{
	map[port / 64] |= 1ull << (port % 64);
}

/* Do the sets exist?  The same test the plan makes, per set. */
static bool set_exists(const struct mice_set *m, int kind)
{
	struct nft_skip_set sets[NFT_SKIP_KINDS];

	if (!m->cfg->manage_ruleset)
		return false;
	nft_plan_skip_sets(m->cfg, sets);
	return sets[NFT_MICE_TCP4 + kind].dynamic;
}

static bool enabled(const struct mice_set *m)
{
	int k;

	for (k = 0; k < NFT_MICE_KINDS; k++)
		if (set_exists(m, k))
			return true;
	return false;
}

static void want_class(const struct class_stats *s, void *arg)
{
	struct mice_set *m = arg;
	int k;

	if (s->prefix_len) {
		m->st.prefix_classes++;
		return;
	}
	k = nft_plan_mice_set(s->family, s->proto);
	if (k >= 0)
		bit_set(m->want[k - NFT_MICE_TCP4], s->port);
}

/* The ports of one set that are in a and not in b, as one-port intervals
 * (*out malloc'd, NULL when none). */
static int ports_minus(const uint64_t *a, const uint64_t *b, struct nft_interval **out, size_t *n)
{
	struct nft_interval *iv;
	size_t count = 0, i;
	unsigned int w, bit;

	*out = NULL;
	*n = 0;
	for (w = 0; w < PORT_WORDS; w++)
		count += (size_t)__builtin_popcountll(a[w] & ~b[w]);
	if (!count)
		return 0;
	iv = calloc(count, sizeof(*iv));
	if (!iv)
		return -ENOMEM;
	for (w = 0, i = 0; w < PORT_WORDS; w++) {
		uint64_t x = a[w] & ~b[w];

		while (x) {
			bit = (unsigned int)__builtin_ctzll(x);
			x &= x - 1;
			iv[i].lo[0] = iv[i].hi[0] = (uint8_t)((w * 64 + bit) >> 8);
			iv[i].lo[1] = iv[i].hi[1] = (uint8_t)((w * 64 + bit) & 0xff);
			i++;
		}
	}
	*out = iv;
	*n = count;
	return 0;
}

static uint64_t count_entries(const struct mice_set *m)
{
	uint64_t n = 0;
	int k;
	unsigned int w;

	for (k = 0; k < NFT_MICE_KINDS; k++)
		for (w = 0; w < PORT_WORDS; w++)
			n += (uint64_t)__builtin_popcountll(m->applied[k][w]);
	return n;
}

/* The transaction from applied to want: 0, or -errno logged when due. */
static int apply(struct mice_set *m)
{
	static const uint64_t none[PORT_WORDS];
	struct nft_interval *del[NFT_MICE_KINDS] = { 0 }, *add[NFT_MICE_KINDS] = { 0 };
	struct nft_set_update u[NFT_MICE_KINDS];
	size_t n_u = 0, i;
	char err[512] = "";
	bool full = m->full;
	int k, ret = 0;

	for (k = 0; k < NFT_MICE_KINDS && !ret; k++) {
		if (!set_exists(m, k)) {
			memset(m->want[k], 0, sizeof(m->want[k]));
			continue;
		}
		u[n_u] = (struct nft_set_update){ .kind = NFT_MICE_TCP4 + k, .flush = full };
		ret = ports_minus(m->want[k], full ? none : m->applied[k], &add[k], &u[n_u].n_add);
		if (!ret && !full)
			ret = ports_minus(m->applied[k], m->want[k], &del[k], &u[n_u].n_del);
		u[n_u].add = add[k];
		u[n_u].del = del[k];
		n_u++;
	}
	if (!ret && n_u)
		ret = nft_ruleset_update_sets(m->nft, m->cfg, m->plan, u, n_u, err, sizeof(err));
	if (ret < 0) {
		m->st.failures++;
		if (backoff_next_log_due(&m->retry))
			log_err("cannot update the mice sets: %s (%llu failures in a row); replacing them whole at the next try",
				err[0] ? err : strerror(-ret),
				(unsigned long long)m->retry.failures + 1);
		m->full = true;
	} else {
		if (ret > 0) {
			m->st.applies++;
			m->st.full_replaces += full;
			m->st.last_apply_ms = loop_now_ms();
		}
		for (i = 0; i < n_u; i++) {
			m->st.added += u[i].n_add;
			m->st.removed += full ? 0 : u[i].n_del;
		}
		memcpy(m->applied, m->want, sizeof(m->applied));
		m->st.entries = count_entries(m);
		m->full = false;
		ret = 0;
	}
	for (k = 0; k < NFT_MICE_KINDS; k++) {
		free(add[k]);
		free(del[k]);
	}
	return ret;
}

static void sync_now(struct mice_set *m, uint64_t now)
{
	struct classes *c = tracker_classes(m->trk);
	uint64_t observed = classes_counters(c)->observed;

	if (now < m->next_try_ms)
		return;
	if (!m->full && observed == m->walked_observed && now - m->walked_ms < IDLE_WALK_MS)
		return;
	memset(m->want, 0, sizeof(m->want));
	m->st.prefix_classes = 0;
	classes_foreach_mice(c, now, want_class, m);
	m->st.walks++;
	m->walked_observed = observed;
	m->walked_ms = now;
	if (!m->full && !memcmp(m->want, m->applied, sizeof(m->want)))
		return;
	if (apply(m)) {
		m->next_try_ms = now + backoff_failed(&m->retry);
		return;
	}
	backoff_succeeded(&m->retry);
	m->next_try_ms = 0;
}

static void on_timer(struct loop *l, struct loop_timer *t, void *arg)
{
	struct mice_set *m = arg;

	(void)l;
	(void)t;
	if (enabled(m) || m->st.entries)
		sync_now(m, loop_now_ms());
}

int mice_set_open(struct mice_set **out, struct loop *l, const struct fo_config *cfg,
		  const struct ruleset_plan *plan, struct nft_ruleset *nft,
		  const struct tracker *trk)
{
	struct mice_set *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->loop = l;
	m->cfg = cfg;
	m->plan = plan;
	m->nft = nft;
	m->trk = trk;
	m->full = true;
	backoff_init(&m->retry, RETRY_MS, RETRY_MAX_MS);
	*out = m;
	return 0;
}

/* The timer runs even while learning is off: a reload may switch it on,
 * and its tick costs one comparison then. */
int mice_set_start(struct mice_set *m)
{
	if (!m)
		return 0;
	return loop_timer_add(m->loop, SYNC_MS, SYNC_MS, on_timer, m, &m->timer);
}

void mice_set_close(struct mice_set *m)
{
	free(m);
}

void mice_set_tables_installed(struct mice_set *m)
{
	if (!m)
		return;
	/* The new tables' sets are empty: no flow is skipped by them until
	 * the next apply, so the tracker writes marks meanwhile. */
	memset(m->applied, 0, sizeof(m->applied));
	m->st.entries = 0;
	m->full = true;
	m->next_try_ms = 0;
	if (m->timer && enabled(m))
		loop_timer_set(m->timer, 1, SYNC_MS);
}

void mice_set_reload(struct mice_set *m)
{
	int k;

	if (!m)
		return;
	/* A set the new config drops is gone with its elements. */
	for (k = 0; k < NFT_MICE_KINDS; k++)
		if (!set_exists(m, k))
			memset(m->applied[k], 0, sizeof(m->applied[k]));
	m->st.entries = count_entries(m);
	m->full = true;
	m->next_try_ms = 0;
	if (m->timer)
		loop_timer_set(m->timer, 1, SYNC_MS);
}

bool mice_set_contains(const struct mice_set *m, const struct ct_info *ct)
{
	int k;

	if (!m || !m->st.entries)
		return false;
	k = nft_plan_mice_set(ct->family, ct->proto);
	return k >= 0 && bit_get(m->applied[k - NFT_MICE_TCP4], ct->orig.dport);
}

const struct mice_set_stats *mice_set_stats(const struct mice_set *m)
{
	static const struct mice_set_stats none;

	return m ? &m->st : &none;
}
