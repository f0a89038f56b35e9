/* mixgen: a seeded, reproducible router traffic mix (TCP elephants, medium
 * flows, request/response mice, DNS-like UDP) with payload verification. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "units.h"

/*
 * Every flow is a sequence of exchanges.  The client sends a request: a
 * 24-byte header and a payload; the server checks the payload and answers
 * with as many bytes as the header asked for.  Both payloads are a keyed
 * pseudo-random stream (seed, flow, exchange, direction), so each receiver
 * regenerates what it must have received and compares every byte: a lost,
 * duplicated or corrupted byte anywhere is an error, not a silent miscount.
 *
 * The flow plan (classes, sizes, families, source ports, start times) is a
 * function of the seed and the counts only; the router tells the classes
 * apart by the client's source port alone (--sport-base), so all classes
 * may share one server port (--ports one).
 */

#define MAGIC 0x4d495831u /* "MIX1" */
#define HDR_LEN 24
#define MAX_EXCH 8
#define MAX_REQ (64u << 20)
#define MAX_DGRAM 1400u
#define CHUNK 16384
/* Per wakeup a socket gets at most this many send or recv calls, so one
 * elephant on a fast path cannot starve the mice and DNS exchanges of the
 * same process (their latency would add delayed-ACK timeouts and resends,
 * changing the packets the router counts). */
#define WAKE_CAP 4
#define MAX_LISTEN 16

enum cls { ELEPHANT, MEDIUM, MOUSE, DNS, NCLS };
static const char *const cls_name[NCLS] = { "elephant", "medium", "mice", "dns" };

/* ---- the keyed payload stream ------------------------------------------ */

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

struct stream {
	uint64_t ctr;
	uint64_t key;
	uint8_t word[8];
	unsigned avail;
};

static void stream_init(struct stream *s, uint32_t seed, uint32_t flow, uint32_t seq, int dir)
{
	s->key = mix64(((uint64_t)seed << 32 | flow) ^ mix64((uint64_t)seq << 1 | (unsigned)dir));
	s->ctr = 0;
	s->avail = 0;
}

static void stream_fill(struct stream *s, uint8_t *buf, size_t n)
{
	while (n) {
		if (!s->avail) {
			uint64_t w = mix64(s->key + 0x9e3779b97f4a7c15ULL * ++s->ctr);

			memcpy(s->word, &w, 8);
			s->avail = 8;
		}
		unsigned take = s->avail < n ? s->avail : (unsigned)n;

		memcpy(buf, s->word + 8 - s->avail, take);
		s->avail -= take;
		buf += take;
		n -= take;
	}
}

/* Compare received bytes with the stream; false on the first difference. */
static bool stream_check(struct stream *s, const uint8_t *buf, size_t n)
{
	uint8_t exp[CHUNK];

	while (n) {
		size_t k = n < sizeof(exp) ? n : sizeof(exp);

		stream_fill(s, exp, k);
		if (memcmp(exp, buf, k))
			return false;
		buf += k;
		n -= k;
	}
	return true;
}

/* ---- helpers ------------------------------------------------------------ */

static volatile sig_atomic_t stop_sig;

static void on_signal(int sig)
{
	stop_sig = sig;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("mixgen: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return ntohl(v);
}

struct hdr {
	uint32_t seed, flow, seq, req_len, resp_len;
};

static void hdr_pack(uint8_t *p, const struct hdr *h)
{
	put32(p, MAGIC);
	put32(p + 4, h->seed);
	put32(p + 8, h->flow);
	put32(p + 12, h->seq);
	put32(p + 16, h->req_len);
	put32(p + 20, h->resp_len);
}

static bool hdr_unpack(const uint8_t *p, struct hdr *h)
{
	if (get32(p) != MAGIC)
		return false;
	h->seed = get32(p + 4);
	h->flow = get32(p + 8);
	h->seq = get32(p + 12);
	h->req_len = get32(p + 16);
	h->resp_len = get32(p + 20);
	return h->req_len >= HDR_LEN && h->req_len <= MAX_REQ && h->resp_len <= MAX_REQ;
}

static void epoll_set(int ep, int op, int fd, uint32_t events, void *ptr)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };

	if (epoll_ctl(ep, op, fd, &ev) < 0)
		die("epoll_ctl: %s", strerror(errno));
}

static void parse_or_die(int err, const char *opt, const char *val)
{
	if (err)
		die("option %s: invalid value '%s' (%s)", opt, val, strerror(-err));
}

/* "A,B,C,D" -> four numbers in [lo, hi]. */
static void parse_list4(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint32_t out[4])
{
	char buf[128], *save = NULL, *tok;
	int i = 0;

	if (strlen(s) >= sizeof(buf))
		die("option %s: too long", opt);
	strcpy(buf, s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		uint64_t v;

		if (i == 4)
			die("option %s: four values expected (elephant,medium,mice,dns)", opt);
		parse_or_die(units_parse_uint(tok, lo, hi, &v), opt, tok);
		out[i++] = (uint32_t)v;
	}
	if (i != 4)
		die("option %s: four values expected (elephant,medium,mice,dns)", opt);
}

/* ---- the plan ----------------------------------------------------------- */

struct exch {
	uint32_t req, resp; /* request bytes incl. header; response bytes */
	uint32_t think_ms; /* pause after the response before the next request */
};

struct flow {
	enum cls cls;
	uint32_t idx;
	uint16_t sport, dport;
	bool v6, udp;
	uint64_t start_us; /* offset from the mix start */
	int nx;
	struct exch x[MAX_EXCH];

	/* run state */
	int fd;
	int state;
	int cur; /* current exchange */
	uint64_t off; /* bytes of the current request sent / response received */
	uint8_t *buf; /* pending request bytes not yet accepted by send() */
	size_t blen, boff;
	uint64_t gen; /* request bytes generated so far */
	struct stream st;
	uint64_t timer_us; /* absolute: think end, or UDP retry */
	uint64_t t0, t1;
	int retries;
	bool err;
	char why[96];
};

struct plan_opts {
	uint32_t seed;
	uint32_t count[NCLS];
	uint32_t sport_base[NCLS];
	uint32_t dport[NCLS];
	uint64_t eleph_min, eleph_max, med_min, med_max;
	uint64_t spread_ms;
};

struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
	r->s += 0x9e3779b97f4a7c15ULL;
	return mix64(r->s);
}

static uint64_t rng_range(struct rng *r, uint64_t lo, uint64_t hi)
{
	return lo + rng_next(r) % (hi - lo + 1);
}

static bool rng_chance(struct rng *r, unsigned percent)
{
	return rng_next(r) % 100 < percent;
}

/*
 * Class shapes:
 *  elephants: one bulk transfer, 3 of 8 over IPv6, every 4th an upload;
 *             they start together at the beginning (50 ms apart).
 *  medium:    one 64-256 KiB transfer, 30% uploads, 25% IPv6.
 *  mice:      request/response: 3 exchanges of a 100-300 byte request and
 *             a 200-1200 byte answer with 0-20 ms of think time: handshake
 *             3 packets, each exchange 3 (request, answer, ACK; the first
 *             request may get a lone ACK too), FINs 3: 15 or 16 in all, 12
 *             or 13 before the FIN, so a packet-count window of N = 5..12
 *             alone admits every one.
 *  dns:       one 40-80 byte datagram, one 60-500 byte answer.
 * Medium, mice and dns flows start at uniform random times over the spread.
 */
static struct flow *plan_build(const struct plan_opts *po, size_t *nflows)
{
	size_t n = 0, total = 0;
	struct flow *fl;
	struct rng r = { .s = mix64(po->seed ^ 0x6d697867656eULL) };
	int c;

	for (c = 0; c < NCLS; c++)
		total += po->count[c];
	fl = calloc(total ? total : 1, sizeof(*fl));
	if (!fl)
		die("out of memory");
	for (c = 0; c < NCLS; c++) {
		uint32_t i;

		for (i = 0; i < po->count[c]; i++) {
			struct flow *f = &fl[n++];
			uint64_t size;
			bool up;
			int k;

			f->cls = (enum cls)c;
			f->idx = i;
			f->sport = (uint16_t)(po->sport_base[c] + i);
			f->dport = (uint16_t)po->dport[c];
			f->udp = c == DNS;
			f->fd = -1;
			switch (c) {
			case ELEPHANT:
				f->v6 = i % 3 == 1;
				up = i % 4 == 3;
				size = rng_range(&r, po->eleph_min, po->eleph_max);
				f->nx = 1;
				f->x[0].req = up ? (uint32_t)size : 64;
				f->x[0].resp = up ? 64 : (uint32_t)size;
				f->start_us = (uint64_t)i * 50000;
				break;
			case MEDIUM:
				f->v6 = rng_chance(&r, 25);
				up = rng_chance(&r, 30);
				size = rng_range(&r, po->med_min, po->med_max);
				f->nx = 1;
				f->x[0].req = up ? (uint32_t)size : 64;
				f->x[0].resp = up ? 64 : (uint32_t)size;
				f->start_us = rng_range(&r, 0, po->spread_ms) * 1000;
				break;
			case MOUSE:
				f->v6 = rng_chance(&r, 20);
				f->nx = 3;
				for (k = 0; k < f->nx; k++) {
					f->x[k].req = (uint32_t)rng_range(&r, 100, 300);
					f->x[k].resp = (uint32_t)rng_range(&r, 200, 1200);
					f->x[k].think_ms = (uint32_t)rng_range(&r, 0, 20);
				}
				f->start_us = rng_range(&r, 0, po->spread_ms) * 1000;
				break;
			default:
				f->v6 = rng_chance(&r, 20);
				f->nx = 1;
				f->x[0].req = (uint32_t)rng_range(&r, 40, 80);
				f->x[0].resp = (uint32_t)rng_range(&r, 60, 500);
				f->start_us = rng_range(&r, 0, po->spread_ms) * 1000;
				break;
			}
		}
	}
	*nflows = n;
	return fl;
}

static uint32_t flow_id(const struct flow *f)
{
	return (uint32_t)f->cls << 24 | f->idx;
}

static void plan_print(FILE *out, const struct flow *fl, size_t n)
{
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		const struct flow *f = &fl[i];

		fprintf(out, "%s %u %s %s sport=%u dport=%u start_ms=%llu", cls_name[f->cls],
			f->idx, f->udp ? "udp" : "tcp", f->v6 ? "ipv6" : "ipv4", f->sport, f->dport,
			(unsigned long long)(f->start_us / 1000));
		for (k = 0; k < f->nx; k++)
			fprintf(out, " x%d=%u/%u/%u", k, f->x[k].req, f->x[k].resp,
				f->x[k].think_ms);
		fputc('\n', out);
	}
}

/* ---- client ------------------------------------------------------------- */

enum fstate { F_WAIT, F_CONNECT, F_SEND, F_RECV, F_THINK, F_DRAIN, F_DONE };

struct client {
	const char *addr4, *addr6;
	struct sockaddr_in sa4;
	struct sockaddr_in6 sa6;
	uint32_t seed;
	int ep;
	size_t nflows, done;
	uint64_t t_start;
	FILE *log;
};

/* The flow is over (done or failed): its socket and buffer go. */
static void flow_finish(struct client *c, struct flow *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	free(f->buf);
	f->buf = NULL;
	f->state = F_DONE;
	f->t1 = now_us();
	c->done++;
}

static void flow_fail(struct client *c, struct flow *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->why, sizeof(f->why), fmt, ap);
	va_end(ap);
	f->err = true;
	fprintf(stderr, "mixgen: %s %u (sport %u): %s\n", cls_name[f->cls], f->idx, f->sport,
		f->why);
	flow_finish(c, f);
}

/* Put the request of exchange f->cur in the send pipeline: the header and
 * the first payload bytes go out in one send(), so a small request is one
 * segment (one datagram for UDP). */
static void request_begin(struct flow *f, uint32_t seed)
{
	struct hdr h = { .seed = seed,
			 .flow = flow_id(f),
			 .seq = (uint32_t)f->cur,
			 .req_len = f->x[f->cur].req,
			 .resp_len = f->x[f->cur].resp };
	size_t k = h.req_len - HDR_LEN < CHUNK - HDR_LEN ? h.req_len - HDR_LEN : CHUNK - HDR_LEN;

	hdr_pack(f->buf, &h);
	stream_init(&f->st, seed, h.flow, h.seq, 0);
	stream_fill(&f->st, f->buf + HDR_LEN, k);
	f->blen = HDR_LEN + k;
	f->gen = f->blen;
	f->boff = 0;
	f->off = 0;
}

static void flow_start(struct client *c, struct flow *f)
{
	int fam = f->v6 ? AF_INET6 : AF_INET, one = 1, r;
	struct sockaddr_storage b = { 0 };
	socklen_t blen;

	f->t0 = now_us();
	f->buf = malloc(CHUNK);
	if (!f->buf)
		die("out of memory");
	f->fd = socket(fam, (f->udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK, 0);
	if (f->fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(f->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (!f->udp)
		setsockopt(f->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	b.ss_family = (sa_family_t)fam;
	if (f->v6) {
		((struct sockaddr_in6 *)&b)->sin6_port = htons(f->sport);
		blen = sizeof(struct sockaddr_in6);
	} else {
		((struct sockaddr_in *)&b)->sin_port = htons(f->sport);
		blen = sizeof(struct sockaddr_in);
	}
	if (bind(f->fd, (struct sockaddr *)&b, blen)) {
		flow_fail(c, f, "bind source port %u: %s", f->sport, strerror(errno));
		return;
	}
	if (f->v6) {
		c->sa6.sin6_port = htons(f->dport);
		r = connect(f->fd, (struct sockaddr *)&c->sa6, sizeof(c->sa6));
	} else {
		c->sa4.sin_port = htons(f->dport);
		r = connect(f->fd, (struct sockaddr *)&c->sa4, sizeof(c->sa4));
	}
	if (r && errno != EINPROGRESS) {
		flow_fail(c, f, "connect: %s", strerror(errno));
		return;
	}
	f->cur = 0;
	request_begin(f, c->seed);
	if (f->udp) {
		f->state = F_SEND;
		epoll_set(c->ep, EPOLL_CTL_ADD, f->fd, EPOLLIN, f);
		/* The datagram is whole in buf; one resend after 1 s covers a
		 * drop without letting a lost exchange pass. */
		if (send(f->fd, f->buf, f->blen, 0) != (ssize_t)f->blen) {
			flow_fail(c, f, "send: %s", strerror(errno));
			return;
		}
		f->state = F_RECV;
		f->off = 0;
		stream_init(&f->st, c->seed, flow_id(f), 0, 1);
		f->timer_us = now_us() + 1000000;
		return;
	}
	f->state = F_CONNECT;
	epoll_set(c->ep, EPOLL_CTL_ADD, f->fd, EPOLLOUT, f);
}

static void tcp_send_more(struct client *c, struct flow *f)
{
	uint32_t req = f->x[f->cur].req;
	int calls;

	for (calls = 0;; calls++) {
		ssize_t w;

		if (calls == WAKE_CAP) {
			epoll_set(c->ep, EPOLL_CTL_MOD, f->fd, EPOLLOUT, f);
			return;
		}
		if (f->boff == f->blen) {
			size_t k;

			if (f->gen >= req)
				break;
			k = req - f->gen < CHUNK ? (size_t)(req - f->gen) : CHUNK;
			stream_fill(&f->st, f->buf, k);
			f->gen += k;
			f->blen = k;
			f->boff = 0;
		}
		w = send(f->fd, f->buf + f->boff, f->blen - f->boff, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				epoll_set(c->ep, EPOLL_CTL_MOD, f->fd, EPOLLOUT, f);
				return;
			}
			flow_fail(c, f, "send: %s", strerror(errno));
			return;
		}
		f->boff += (size_t)w;
		f->off += (uint64_t)w;
	}
	/* Whole request sent: read the answer. */
	f->state = F_RECV;
	f->off = 0;
	stream_init(&f->st, c->seed, flow_id(f), (uint32_t)f->cur, 1);
	epoll_set(c->ep, EPOLL_CTL_MOD, f->fd, EPOLLIN, f);
}

static void tcp_recv(struct client *c, struct flow *f)
{
	uint8_t buf[CHUNK];
	int calls;

	/* Level-triggered: what is left is reported again. */
	for (calls = 0; calls < WAKE_CAP; calls++) {
		ssize_t rd = recv(f->fd, buf, sizeof(buf), 0);

		if (rd < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			flow_fail(c, f, "recv: %s", strerror(errno));
			return;
		}
		if (f->state == F_DRAIN) {
			if (rd == 0) {
				flow_finish(c, f);
				return;
			}
			flow_fail(c, f, "%zd bytes after the last answer", rd);
			return;
		}
		if (rd == 0) {
			flow_fail(c, f,
				  "exchange %d: connection closed after %llu of %u answer bytes",
				  f->cur, (unsigned long long)f->off, f->x[f->cur].resp);
			return;
		}
		if (f->off + (uint64_t)rd > f->x[f->cur].resp) {
			flow_fail(c, f, "exchange %d: more answer bytes than asked for", f->cur);
			return;
		}
		if (!stream_check(&f->st, buf, (size_t)rd)) {
			flow_fail(c, f, "exchange %d: answer payload differs near byte %llu",
				  f->cur, (unsigned long long)f->off);
			return;
		}
		f->off += (uint64_t)rd;
		if (f->off < f->x[f->cur].resp)
			continue;
		if (f->cls == MOUSE) {
			/* Acknowledge the answer now rather than with the next
			 * request: one lone ACK per exchange whatever the think
			 * time and the delayed-ACK timer. */
			int one = 1;

			setsockopt(f->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
		}
		if (f->cur + 1 < f->nx) {
			f->state = F_THINK;
			f->timer_us = now_us() + (uint64_t)f->x[f->cur].think_ms * 1000;
			epoll_set(c->ep, EPOLL_CTL_MOD, f->fd, 0, f);
			return;
		}
		/* Last answer in: close our side, wait for the server's. */
		shutdown(f->fd, SHUT_WR);
		f->state = F_DRAIN;
	}
}

static void udp_recv(struct client *c, struct flow *f)
{
	uint8_t buf[2048];
	ssize_t rd = recv(f->fd, buf, sizeof(buf), 0);

	if (rd < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		flow_fail(c, f, "recv: %s", strerror(errno));
		return;
	}
	if ((uint64_t)rd != f->x[0].resp) {
		flow_fail(c, f, "answer of %zd bytes, %u expected", rd, f->x[0].resp);
		return;
	}
	if (!stream_check(&f->st, buf, (size_t)rd)) {
		flow_fail(c, f, "answer payload differs");
		return;
	}
	f->off = (uint64_t)rd;
	flow_finish(c, f);
}

static void flow_event(struct client *c, struct flow *f, uint32_t ev)
{
	if (f->state == F_DONE)
		return;
	if (f->state == F_CONNECT) {
		int err = 0;
		socklen_t l = sizeof(err);

		getsockopt(f->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err) {
			flow_fail(c, f, "connect: %s", strerror(err));
			return;
		}
		f->state = F_SEND;
		tcp_send_more(c, f);
		return;
	}
	if (f->udp) {
		udp_recv(c, f);
		return;
	}
	if (f->state == F_SEND && (ev & EPOLLOUT))
		tcp_send_more(c, f);
	else if (f->state == F_RECV || f->state == F_DRAIN)
		tcp_recv(c, f);
	else if (ev & (EPOLLERR | EPOLLHUP))
		flow_fail(c, f, "socket error in state %d", f->state);
}

/* Timers: scheduled starts, think times, UDP resends.  Returns the time of
 * the next one (0: none). */
static uint64_t run_timers(struct client *c, struct flow *fl, uint64_t now)
{
	uint64_t next = 0;
	size_t i;

	for (i = 0; i < c->nflows; i++) {
		struct flow *f = &fl[i];
		uint64_t due = 0;

		if (f->state == F_WAIT) {
			due = c->t_start + f->start_us;
			if (due <= now) {
				flow_start(c, f);
				due = f->state == F_RECV && f->udp ? f->timer_us : 0;
			}
		} else if (f->state == F_THINK) {
			due = f->timer_us;
			if (due <= now) {
				f->cur++;
				request_begin(f, c->seed);
				f->state = F_SEND;
				tcp_send_more(c, f);
				due = 0;
			}
		} else if (f->state == F_RECV && f->udp) {
			due = f->timer_us;
			if (due <= now) {
				if (f->retries >= 1) {
					flow_fail(c, f, "no answer to the request or its resend");
					due = 0;
				} else {
					f->retries++;
					if (send(f->fd, f->buf, f->blen, 0) != (ssize_t)f->blen)
						flow_fail(c, f, "resend: %s", strerror(errno));
					due = f->timer_us = now + 1000000;
				}
			}
		}
		if (due && (!next || due < next))
			next = due;
	}
	return next;
}

static int run_client(struct client *c, struct flow *fl, uint64_t timeout_ms)
{
	uint64_t deadline, bytes[NCLS][2] = { { 0 } }, cls_end[NCLS] = { 0 };
	unsigned ok[NCLS] = { 0 }, cnt[NCLS] = { 0 }, failed = 0, retries = 0;
	bool timed_out = false;
	uint64_t t_end;
	size_t i;
	int k;

	c->ep = epoll_create1(EPOLL_CLOEXEC);
	if (c->ep < 0)
		die("epoll_create1: %s", strerror(errno));
	c->t_start = now_us();
	deadline = c->t_start + timeout_ms * 1000;
	while (c->done < c->nflows && !stop_sig) {
		struct epoll_event ev[64];
		uint64_t now = now_us(), next = run_timers(c, fl, now);
		int tmo, n, j;

		if (c->done == c->nflows)
			break;
		now = now_us();
		if (now >= deadline)
			break;
		if (!next || next > deadline)
			next = deadline;
		tmo = next > now ? (int)((next - now + 999) / 1000) : 0;
		n = epoll_wait(c->ep, ev, 64, tmo);
		if (n < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (j = 0; j < n; j++)
			flow_event(c, ev[j].data.ptr, ev[j].events);
	}
	t_end = now_us();
	for (i = 0; i < c->nflows; i++) {
		struct flow *f = &fl[i];

		if (f->state != F_DONE) {
			timed_out = true;
			flow_fail(c, f, "unfinished (state %d, exchange %d) at the time limit",
				  f->state, f->cur);
		}
		cnt[f->cls]++;
		retries += (unsigned)f->retries;
		if (f->err) {
			failed++;
		} else {
			ok[f->cls]++;
			for (k = 0; k < f->nx; k++) {
				bytes[f->cls][0] += f->x[k].req;
				bytes[f->cls][1] += f->x[k].resp;
			}
			if (f->t1 - c->t_start > cls_end[f->cls])
				cls_end[f->cls] = f->t1 - c->t_start;
		}
		if (c->log)
			fprintf(c->log,
				"%s %u %s %s sport=%u dport=%u start_ms=%.1f ms=%.1f retries=%d %s%s\n",
				cls_name[f->cls], f->idx, f->udp ? "udp" : "tcp",
				f->v6 ? "ipv6" : "ipv4", f->sport, f->dport,
				(double)(f->t0 - c->t_start) / 1000.0,
				(double)(f->t1 - f->t0) / 1000.0, f->retries,
				f->err ? "FAIL " : "ok", f->err ? f->why : "");
	}
	printf("mixgen: seed %u:", c->seed);
	for (k = 0; k < NCLS; k++)
		printf(" %s %u/%u", cls_name[k], ok[k], cnt[k]);
	printf("; dns resends %u; %s\n", retries, failed ? "ERRORS" : "all payloads verified");
	/* One machine-readable line for scripts. */
	printf("mix: errors=%u wall_ms=%llu elephants_ms=%llu bulk_bytes=%llu dns_resends=%u",
	       failed, (unsigned long long)((t_end - c->t_start) / 1000),
	       (unsigned long long)(cls_end[ELEPHANT] / 1000),
	       (unsigned long long)(bytes[ELEPHANT][0] + bytes[ELEPHANT][1]), retries);
	for (k = 0; k < NCLS; k++)
		printf(" %s_ok=%u %s_bytes=%llu", cls_name[k], ok[k], cls_name[k],
		       (unsigned long long)(bytes[k][0] + bytes[k][1]));
	printf("\n");
	fflush(stdout);
	if (stop_sig || timed_out)
		return 2;
	return failed ? 1 : 0;
}

/* ---- server ------------------------------------------------------------- */

enum cstate { C_HDR, C_BODY, C_ANSWER };

struct conn {
	int fd;
	int state;
	uint8_t hdr[HDR_LEN];
	size_t hlen;
	struct hdr h;
	uint64_t off;
	struct stream st;
	uint8_t *buf;
	size_t blen, boff;
	unsigned exchanges;
	char peer[64];
};

struct listener {
	int fd;
	bool udp;
	uint16_t port;
};

struct server {
	int ep;
	unsigned conns, conns_ok, open, errors, udp_reqs;
	unsigned per_cls[NCLS];
	uint64_t bytes_in, bytes_out;
};

static void peer_name(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	uint16_t port = 0;

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		port = ntohs(s6->sin6_port);
	} else if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		port = ntohs(s4->sin_port);
	}
	snprintf(buf, len, "[%s]:%u", host, port);
}

static void conn_close(struct server *s, struct conn *cn, bool ok, const char *why)
{
	if (!ok) {
		s->errors++;
		fprintf(stderr, "mixgen server: %s: %s\n", cn->peer, why);
	} else {
		s->conns_ok++;
	}
	s->open--;
	close(cn->fd);
	free(cn->buf);
	free(cn);
}

/* Send as much of the answer as the socket takes. */
static bool conn_answer(struct server *s, struct conn *cn)
{
	int calls;

	for (calls = 0;; calls++) {
		ssize_t w;

		if (calls == WAKE_CAP) {
			epoll_set(s->ep, EPOLL_CTL_MOD, cn->fd, EPOLLOUT, cn);
			return true;
		}
		if (cn->boff == cn->blen) {
			uint64_t left = cn->h.resp_len - cn->off;
			size_t k = left < CHUNK ? (size_t)left : CHUNK;

			if (!left)
				break;
			stream_fill(&cn->st, cn->buf, k);
			cn->blen = k;
			cn->boff = 0;
		}
		w = send(cn->fd, cn->buf + cn->boff, cn->blen - cn->boff, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				epoll_set(s->ep, EPOLL_CTL_MOD, cn->fd, EPOLLOUT, cn);
				return true;
			}
			conn_close(s, cn, false, strerror(errno));
			return false;
		}
		cn->boff += (size_t)w;
		cn->off += (uint64_t)w;
		s->bytes_out += (uint64_t)w;
	}
	cn->exchanges++;
	cn->state = C_HDR;
	cn->hlen = 0;
	epoll_set(s->ep, EPOLL_CTL_MOD, cn->fd, EPOLLIN, cn);
	return true;
}

static void conn_event(struct server *s, struct conn *cn)
{
	uint8_t buf[CHUNK];
	char why[128];

	int calls;

	if (cn->state == C_ANSWER) {
		conn_answer(s, cn);
		return;
	}
	for (calls = 0; calls < WAKE_CAP; calls++) {
		ssize_t rd = recv(cn->fd, buf, sizeof(buf), 0), used = 0;

		if (rd < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			conn_close(s, cn, false, strerror(errno));
			return;
		}
		if (rd == 0) {
			/* The client closes after its last answer: a clean end is
			 * one at a request boundary after at least one exchange. */
			if (cn->state == C_HDR && cn->hlen == 0 && cn->exchanges) {
				conn_close(s, cn, true, NULL);
			} else {
				snprintf(why, sizeof(why), "closed inside a request (exchange %u)",
					 cn->exchanges);
				conn_close(s, cn, false, why);
			}
			return;
		}
		s->bytes_in += (uint64_t)rd;
		while (used < rd) {
			if (cn->state == C_HDR) {
				size_t k = HDR_LEN - cn->hlen;

				if ((size_t)(rd - used) < k)
					k = (size_t)(rd - used);
				memcpy(cn->hdr + cn->hlen, buf + used, k);
				cn->hlen += k;
				used += (ssize_t)k;
				if (cn->hlen < HDR_LEN)
					break;
				if (!hdr_unpack(cn->hdr, &cn->h)) {
					conn_close(s, cn, false, "bad request header");
					return;
				}
				if (cn->exchanges == 0 && (cn->h.flow >> 24) < NCLS)
					s->per_cls[cn->h.flow >> 24]++;
				stream_init(&cn->st, cn->h.seed, cn->h.flow, cn->h.seq, 0);
				cn->off = HDR_LEN;
				cn->state = C_BODY;
			}
			if (cn->state == C_BODY) {
				uint64_t left = cn->h.req_len - cn->off;
				size_t k = (size_t)(rd - used) < left ? (size_t)(rd - used) :
									(size_t)left;

				if (!stream_check(&cn->st, buf + used, k)) {
					snprintf(
						why, sizeof(why),
						"flow %#x exchange %u: request payload differs near byte %llu",
						cn->h.flow, cn->h.seq, (unsigned long long)cn->off);
					conn_close(s, cn, false, why);
					return;
				}
				used += (ssize_t)k;
				cn->off += k;
				if (cn->off < cn->h.req_len)
					continue;
				if (used < rd) {
					/* The client waits for the answer before its next
					 * request: anything more is a protocol error. */
					conn_close(s, cn, false,
						   "request data beyond the announced length");
					return;
				}
				cn->state = C_ANSWER;
				cn->off = 0;
				cn->blen = cn->boff = 0;
				stream_init(&cn->st, cn->h.seed, cn->h.flow, cn->h.seq, 1);
				if (!conn_answer(s, cn))
					return;
				if (cn->state == C_ANSWER)
					return;
			}
		}
	}
}

static void udp_event(struct server *s, struct listener *l)
{
	uint8_t buf[2048], out[MAX_DGRAM];
	struct sockaddr_storage peer;
	char pn[64];
	int n;

	for (n = 0; n < 64; n++) {
		socklen_t plen = sizeof(peer);
		ssize_t rd = recvfrom(l->fd, buf, sizeof(buf), 0, (struct sockaddr *)&peer, &plen);
		struct stream st;
		struct hdr h;

		if (rd < 0)
			return;
		s->bytes_in += (uint64_t)rd;
		peer_name(&peer, pn, sizeof(pn));
		if (rd < HDR_LEN || !hdr_unpack(buf, &h) || h.req_len != (uint32_t)rd ||
		    h.resp_len > MAX_DGRAM) {
			s->errors++;
			fprintf(stderr, "mixgen server: udp %s: bad request (%zd bytes)\n", pn, rd);
			continue;
		}
		stream_init(&st, h.seed, h.flow, h.seq, 0);
		if (!stream_check(&st, buf + HDR_LEN, (size_t)rd - HDR_LEN)) {
			s->errors++;
			fprintf(stderr, "mixgen server: udp %s: request payload differs\n", pn);
			continue;
		}
		s->udp_reqs++;
		if ((h.flow >> 24) < NCLS)
			s->per_cls[h.flow >> 24]++;
		stream_init(&st, h.seed, h.flow, h.seq, 1);
		stream_fill(&st, out, h.resp_len);
		if (sendto(l->fd, out, h.resp_len, 0, (struct sockaddr *)&peer, plen) ==
		    (ssize_t)h.resp_len)
			s->bytes_out += h.resp_len;
	}
}

static int listen_on(struct server *s, struct listener *l, const char *addr)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons(l->port) };
	int one = 1, zero = 0;

	/* One dual-stack socket per port serves the IPv4 and IPv6 flows. */
	if (addr && inet_pton(AF_INET6, addr, &sa.sin6_addr) != 1)
		die("server address %s: not an IPv6 address (use :: for all)", addr);
	l->fd = socket(AF_INET6, (l->udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK, 0);
	if (l->fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(l->fd, (struct sockaddr *)&sa, sizeof(sa)) || (!l->udp && listen(l->fd, 512)))
		die("%s port %u: %s", l->udp ? "udp" : "tcp", l->port, strerror(errno));
	epoll_set(s->ep, EPOLL_CTL_ADD, l->fd, EPOLLIN, l);
	return 0;
}

static void parse_ports(const char *opt, const char *arg, bool udp, struct listener *ls, int *n)
{
	char buf[256], *save = NULL, *tok;

	if (strlen(arg) >= sizeof(buf))
		die("option %s: too long", opt);
	strcpy(buf, arg);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		uint64_t v;

		if (*n == MAX_LISTEN)
			die("at most %d ports", MAX_LISTEN);
		parse_or_die(units_parse_uint(tok, 1, 65535, &v), opt, tok);
		ls[*n] = (struct listener){ .fd = -1, .udp = udp, .port = (uint16_t)v };
		(*n)++;
	}
}

static int run_server(struct listener *ls, int nl, const char *addr, uint64_t timeout_ms)
{
	struct server s = { 0 };
	uint64_t deadline = now_us() + timeout_ms * 1000;
	int i, rc;

	s.ep = epoll_create1(EPOLL_CLOEXEC);
	if (s.ep < 0)
		die("epoll_create1: %s", strerror(errno));
	for (i = 0; i < nl; i++)
		listen_on(&s, &ls[i], addr);
	printf("mixgen server: listening on");
	for (i = 0; i < nl; i++)
		printf(" %s/%u", ls[i].udp ? "udp" : "tcp", ls[i].port);
	printf("\n");
	fflush(stdout);
	while (!stop_sig) {
		struct epoll_event ev[64];
		uint64_t now = now_us();
		int n, j;

		if (now >= deadline)
			break;
		n = epoll_wait(s.ep, ev, 64, (int)((deadline - now + 999) / 1000));
		if (n < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (j = 0; j < n; j++) {
			void *p = ev[j].data.ptr;
			struct listener *l = NULL;

			for (i = 0; i < nl; i++)
				if (p == &ls[i])
					l = &ls[i];
			if (l && l->udp) {
				udp_event(&s, l);
			} else if (l) {
				struct sockaddr_storage ss;
				socklen_t sl = sizeof(ss);
				int fd, one = 1, zero = 0;

				while ((fd = accept4(l->fd, (struct sockaddr *)&ss, &sl,
						     SOCK_NONBLOCK)) >= 0) {
					struct conn *cn = calloc(1, sizeof(*cn));

					if (!cn || !(cn->buf = malloc(CHUNK)))
						die("out of memory");
					cn->fd = fd;
					peer_name(&ss, cn->peer, sizeof(cn->peer));
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					/* Interactive (pingpong) mode: the ACK of a request
					 * rides on its answer.  Otherwise kernels differ
					 * (6.1 sends a lone ACK for every request, later ones
					 * for the first only), and so would the mice.  A
					 * first request that arrives before this line still
					 * gets its lone ACK: a mouse is 15 or 16 packets. */
					setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &zero,
						   sizeof(zero));
					epoll_set(s.ep, EPOLL_CTL_ADD, fd, EPOLLIN, cn);
					s.conns++;
					s.open++;
					sl = sizeof(ss);
				}
			} else {
				conn_event(&s, p);
			}
		}
	}
	printf("mixgen server: tcp connections %u (%u clean, %u open), udp requests %u; per class:",
	       s.conns, s.conns_ok, s.open, s.udp_reqs);
	for (i = 0; i < NCLS; i++)
		printf(" %s %u", cls_name[i], s.per_cls[i]);
	printf("; bytes in %llu out %llu; errors %u\n", (unsigned long long)s.bytes_in,
	       (unsigned long long)s.bytes_out, s.errors);
	rc = s.errors || s.open ? 1 : 0;
	if (!stop_sig) {
		fputs("mixgen server: time limit reached\n", stderr);
		rc = 2;
	}
	return rc;
}

/* ---- main --------------------------------------------------------------- */

static void usage(void)
{
	fputs("usage: mixgen server [-a ADDR6] [--tcp P,P...] [--udp P,P...] [-t TIMEOUT]\n"
	      "       mixgen client -4 ADDR4 -6 ADDR6 [--seed S] [--ports separate|one] [options] [-t TIMEOUT]\n"
	      "       mixgen plan [--seed S] [options]\n"
	      "server: serves the mix on the given ports (default: every port of both layouts) until\n"
	      "        SIGTERM or TIMEOUT; exit 0 when every request was verified and every\n"
	      "        connection ended cleanly, 1 on any error, 2 at the time limit\n"
	      "client: runs the mix; exit 0 when every flow's answers were verified, 1 on an error,\n"
	      "        2 at the time limit.  Prints a summary and one 'mix: key=value...' line\n"
	      "plan:   prints the flows the seed and counts give, one per line\n"
	      "options (each list is elephant,medium,mice,dns):\n"
	      "  --seed S              plan seed (default 1)\n"
	      "  --counts E,M,m,D      flows per class (default 8,40,150,100)\n"
	      "  --sport-base E,M,m,D  first client source port per class (default 20000,21000,22000,24000)\n"
	      "  --ports separate|one  server ports: separate 5001,5002,80,53/udp (default);\n"
	      "                        one: 443 for every TCP class and 443/udp for dns\n"
	      "  --server-ports E,M,m,D  explicit server ports instead\n"
	      "  --elephant-size MIN-MAX  default 2M-4M;  --medium-size MIN-MAX  default 64k-256k\n"
	      "  --spread DURATION     start window of medium, mice and dns flows (default 4s; mix_lib.sh uses 1500ms)\n"
	      "  --log FILE            client: one line per flow (times, result)\n"
	      "  -t TIMEOUT            hard bound on the run time (default 120s)\n",
	      stderr);
	exit(1);
}

static void parse_size_range(const char *opt, const char *arg, uint64_t *lo, uint64_t *hi)
{
	char buf[64], *dash;

	if (strlen(arg) >= sizeof(buf))
		die("option %s: too long", opt);
	strcpy(buf, arg);
	dash = strchr(buf, '-');
	if (!dash)
		die("option %s: MIN-MAX expected", opt);
	*dash = '\0';
	parse_or_die(units_parse_size(buf, lo), opt, arg);
	parse_or_die(units_parse_size(dash + 1, hi), opt, arg);
	if (*lo < HDR_LEN + 64 || *hi < *lo || *hi > MAX_REQ)
		die("option %s: sizes must satisfy %d <= MIN <= MAX <= 64M", opt, HDR_LEN + 64);
}

enum {
	O_SEED = 256,
	O_COUNTS,
	O_SPORT,
	O_PORTS,
	O_SPORTS,
	O_ESIZE,
	O_MSIZE,
	O_SPREAD,
	O_LOG,
	O_TCP,
	O_UDP
};

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "seed", required_argument, NULL, O_SEED },
		{ "counts", required_argument, NULL, O_COUNTS },
		{ "sport-base", required_argument, NULL, O_SPORT },
		{ "ports", required_argument, NULL, O_PORTS },
		{ "server-ports", required_argument, NULL, O_SPORTS },
		{ "elephant-size", required_argument, NULL, O_ESIZE },
		{ "medium-size", required_argument, NULL, O_MSIZE },
		{ "spread", required_argument, NULL, O_SPREAD },
		{ "log", required_argument, NULL, O_LOG },
		{ "tcp", required_argument, NULL, O_TCP },
		{ "udp", required_argument, NULL, O_UDP },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const uint32_t range[NCLS] = { 100, 1000, 2000, 2000 };
	struct plan_opts po = {
		.seed = 1,
		.count = { 8, 40, 150, 100 },
		.sport_base = { 20000, 21000, 22000, 24000 },
		.dport = { 5001, 5002, 80, 53 },
		.eleph_min = 2 << 20,
		.eleph_max = 4 << 20,
		.med_min = 64 << 10,
		.med_max = 256 << 10,
		.spread_ms = 4000,
	};
	struct listener ls[MAX_LISTEN];
	struct client cl = { 0 };
	const char *mode, *server_addr = NULL, *log_path = NULL;
	uint64_t timeout_ms = 120000, v;
	int c, nl = 0, k, rc;
	struct flow *fl;
	size_t nflows;

	if (argc < 2)
		usage();
	mode = argv[1];
	if (strcmp(mode, "server") && strcmp(mode, "client") && strcmp(mode, "plan"))
		usage();
	argv++;
	argc--;
	while ((c = getopt_long(argc, argv, "a:4:6:t:h", lo, NULL)) != -1) {
		switch (c) {
		case 'a':
			server_addr = optarg;
			break;
		case '4':
			cl.addr4 = optarg;
			break;
		case '6':
			cl.addr6 = optarg;
			break;
		case 't':
			parse_or_die(units_parse_duration_ms(optarg, &timeout_ms), "-t", optarg);
			break;
		case O_SEED:
			parse_or_die(units_parse_uint(optarg, 0, UINT32_MAX, &v), "--seed", optarg);
			po.seed = (uint32_t)v;
			break;
		case O_COUNTS:
			parse_list4("--counts", optarg, 0, 2000, po.count);
			break;
		case O_SPORT:
			parse_list4("--sport-base", optarg, 1024, 65535, po.sport_base);
			break;
		case O_PORTS:
			if (!strcmp(optarg, "one")) {
				for (k = 0; k < NCLS; k++)
					po.dport[k] = 443;
			} else if (strcmp(optarg, "separate")) {
				die("--ports: separate or one, not '%s'", optarg);
			}
			break;
		case O_SPORTS:
			parse_list4("--server-ports", optarg, 1, 65535, po.dport);
			break;
		case O_ESIZE:
			parse_size_range("--elephant-size", optarg, &po.eleph_min, &po.eleph_max);
			break;
		case O_MSIZE:
			parse_size_range("--medium-size", optarg, &po.med_min, &po.med_max);
			break;
		case O_SPREAD:
			parse_or_die(units_parse_duration_ms(optarg, &po.spread_ms), "--spread",
				     optarg);
			break;
		case O_LOG:
			log_path = optarg;
			break;
		case O_TCP:
			parse_ports("--tcp", optarg, false, ls, &nl);
			break;
		case O_UDP:
			parse_ports("--udp", optarg, true, ls, &nl);
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (timeout_ms == 0)
		die("-t: the time limit must be positive");

	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);

	if (!strcmp(mode, "server")) {
		if (!nl) {
			parse_ports("--tcp", "5001,5002,80,443", false, ls, &nl);
			parse_ports("--udp", "53,443", true, ls, &nl);
		}
		return run_server(ls, nl, server_addr, timeout_ms);
	}

	/* Class source-port ranges must not overlap: the router classifies by
	 * them. */
	for (k = 0; k < NCLS; k++) {
		int j;

		if (po.count[k] > range[k] || po.sport_base[k] + po.count[k] > 65536)
			die("%s: %u flows do not fit the class's port range", cls_name[k],
			    po.count[k]);
		for (j = 0; j < NCLS; j++)
			if (j != k && po.sport_base[j] >= po.sport_base[k] &&
			    po.sport_base[j] < po.sport_base[k] + po.count[k])
				die("--sport-base: the %s and %s ranges overlap", cls_name[k],
				    cls_name[j]);
	}
	fl = plan_build(&po, &nflows);
	if (!strcmp(mode, "plan")) {
		plan_print(stdout, fl, nflows);
		return 0;
	}

	if (!cl.addr4 || !cl.addr6)
		usage();
	cl.sa4.sin_family = AF_INET;
	cl.sa6.sin6_family = AF_INET6;
	if (inet_pton(AF_INET, cl.addr4, &cl.sa4.sin_addr) != 1)
		die("-4 %s: not an IPv4 address", cl.addr4);
	if (inet_pton(AF_INET6, cl.addr6, &cl.sa6.sin6_addr) != 1)
		die("-6 %s: not an IPv6 address", cl.addr6);
	cl.seed = po.seed;
	cl.nflows = nflows;
	if (log_path) {
		cl.log = fopen(log_path, "w");
		if (!cl.log)
			die("%s: %s", log_path, strerror(errno));
	}
	rc = run_client(&cl, fl, timeout_ms);
	if (cl.log)
		fclose(cl.log);
	free(fl);
	return rc;
}
