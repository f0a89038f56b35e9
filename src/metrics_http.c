/* metrics_http: the Prometheus scrape endpoint ([agent] metrics-listen):
 * GET /metrics over minimal HTTP/1.x, served from the agent's event loop. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conns.h"
#include "log.h"
#include "loop.h"
#include "metrics_http.h"

/*
 * Each scraper is a small state machine in the loop, as the control
 * socket's clients are (ctl.c): its request head is read as it arrives,
 * the answer is rendered at once into one buffer (a few KiB: the families
 * are per agent, never per flow) and leaves as the socket takes it, then
 * the connection is closed (Connection: close; no keep-alive to hold a
 * slot).  Nothing waits for a client, and every client is bounded in
 * bytes (METRICS_HTTP_MAX_REQUEST, held inline), in time (HTTP_REQUEST_MS
 * for its head, HTTP_REPLY_MS for the whole answer) and in number
 * (HTTP_MAX_CLIENTS): a slow or hostile scraper costs at most a slot.
 */
#define HTTP_REQUEST_MS 5000
#define HTTP_REPLY_MS 10000
#define HTTP_SWEEP_MS 250
/* A Prometheus pair, an exporter check and someone with curl. */
#define HTTP_MAX_CLIENTS 8
#define HTTP_SEND_BUDGET (256 * 1024)

#define CONTENT_TYPE_METRICS "text/plain; version=0.0.4; charset=utf-8"

enum client_state { CLIENT_REQUEST, CLIENT_REPLY };

struct http_client {
	struct conn conn;	/* first: conns' list holds it */
	struct metrics_http *h;
	enum client_state state;
	uint64_t deadline_ms;
	char req[METRICS_HTTP_MAX_REQUEST];
	size_t req_len;
	char *out;
	size_t out_len, out_off;
};

struct metrics_http {
	struct loop *l;
	int fd;
	metrics_http_render render;
	void *arg;
	struct conns clients;
	struct metrics_http_stats st;
};

/* ---- the listen address --------------------------------------------------------- */

static int parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;
	size_t i;

	if (!*s || strlen(s) > 5)
		return -EINVAL;
	for (i = 0; s[i]; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int metrics_http_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *sslen,
			      char *why, size_t whylen)
{
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	const char *colon, *port_s;
	char host[INET6_ADDRSTRLEN + 1];
	uint16_t port;
	size_t n;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':') {
			snprintf(why, whylen, "\"%s\": an IPv6 address is written [ADDRESS]:PORT", s);
			return -EINVAL;
		}
		n = (size_t)(close - s - 1);
		port_s = close + 2;
		if (n >= sizeof(host)) {
			snprintf(why, whylen, "\"%s\" is not an IPv6 address", s);
			return -EINVAL;
		}
		memcpy(host, s + 1, n);
		host[n] = '\0';
		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1) {
			snprintf(why, whylen, "\"%s\" is not an IPv6 address", host);
			return -EINVAL;
		}
		a6->sin6_family = AF_INET6;
		*sslen = sizeof(*a6);
	} else {
		colon = strrchr(s, ':');
		if (!colon) {
			snprintf(why, whylen, "\"%s\" has no port", s);
			return -EINVAL;
		}
		n = (size_t)(colon - s);
		port_s = colon + 1;
		if (n >= sizeof(host) || n == 0) {
			snprintf(why, whylen, "\"%s\" has no IPv4 address before the port", s);
			return -EINVAL;
		}
		memcpy(host, s, n);
		host[n] = '\0';
		if (strchr(host, ':')) {
			snprintf(why, whylen, "\"%s\": an IPv6 address is written [ADDRESS]:PORT", s);
			return -EINVAL;
		}
		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1) {
			snprintf(why, whylen, "\"%s\" is not an IPv4 address (names are not looked up)",
				 host);
			return -EINVAL;
		}
		a4->sin_family = AF_INET;
		*sslen = sizeof(*a4);
	}
	if (parse_port(port_s, &port)) {
		snprintf(why, whylen, "\"%s\" is not a port 1..65535", port_s);
		return -EINVAL;
	}
	if (ss->ss_family == AF_INET6)
		a6->sin6_port = htons(port);
	else
		a4->sin_port = htons(port);
	return 0;
}

/* ---- the request ---------------------------------------------------------------- */

/* RFC 9110 tchar: the characters of a method token. */
static bool tchar(unsigned char c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* The end of the head: just past the empty line that closes it, or 0. */
static size_t head_end(const char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (i + 1 < len && buf[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* One header line: NAME ":" VALUE, no control character but a tab. */
static bool header_ok(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && p[i] != ':'; i++)
		if (!tchar((unsigned char)p[i]))
			return false;
	if (i == 0 || i == n)
		return false;
	for (; i < n; i++)
		if (iscntrl((unsigned char)p[i]) && p[i] != '\t')
			return false;
	return true;
}

/* The request line: METHOD SP TARGET SP VERSION, line end stripped. */
static int request_line(const char *p, size_t n, bool *head)
{
	const char *sp1 = memchr(p, ' ', n), *sp2, *target, *version;
	size_t mlen, tlen, vlen, i;
	bool metrics;

	if (!sp1 || sp1 == p)
		return 400;
	mlen = (size_t)(sp1 - p);
	for (i = 0; i < mlen; i++)
		if (!tchar((unsigned char)p[i]))
			return 400;
	target = sp1 + 1;
	sp2 = memchr(target, ' ', n - mlen - 1);
	if (!sp2 || sp2 == target)
		return 400;
	tlen = (size_t)(sp2 - target);
	for (i = 0; i < tlen; i++)
		if ((unsigned char)target[i] <= 0x20 || (unsigned char)target[i] >= 0x7f)
			return 400;
	/* HEAD is answered without a body whatever the status (RFC 9110 9.3.2). */
	*head = mlen == 4 && !memcmp(p, "HEAD", 4);
	version = sp2 + 1;
	vlen = n - mlen - tlen - 2;
	if (vlen != 8 || memcmp(version, "HTTP/", 5) || !isdigit((unsigned char)version[5]) ||
	    version[6] != '.' || !isdigit((unsigned char)version[7]))
		return 400;
	if (version[5] != '1' || (version[7] != '0' && version[7] != '1'))
		return 505;
	metrics = (tlen == 8 && !memcmp(target, "/metrics", 8)) ||
		  (tlen > 8 && !memcmp(target, "/metrics?", 9));
	if (!metrics)
		return 404;
	if (!*head && !(mlen == 3 && !memcmp(p, "GET", 3)))
		return 405;
	return 200;
}

int metrics_http_parse_request(const char *buf, size_t len, struct metrics_http_request *req)
{
	size_t scan = len < METRICS_HTTP_MAX_REQUEST ? len : METRICS_HTTP_MAX_REQUEST;
	size_t start = 0, end, off, eol;
	int status;

	/* RFC 9112 2.2: empty lines before the request line are ignored. */
	while (start < scan && (buf[start] == '\r' || buf[start] == '\n'))
		start++;
	end = head_end(buf + start, scan - start);
	if (!end)
		return scan == METRICS_HTTP_MAX_REQUEST ? -EMSGSIZE : -EAGAIN;
	end += start;
	if (memchr(buf, '\0', end)) {
		req->status = 400;
		req->head = false;
		return (int)end;
	}
	req->head = false;
	status = 0;
	for (off = start; off < end; off = eol + 1) {
		const char *nl = memchr(buf + off, '\n', end - off);
		size_t n;

		eol = (size_t)(nl - buf);
		n = eol - off;
		if (n && buf[off + n - 1] == '\r')
			n--;
		if (!n)
			break;	/* the empty line */
		if (off == start)
			status = request_line(buf + off, n, &req->head);
		else if (!header_ok(buf + off, n) && status != 400)
			status = 400;
	}
	req->status = status;
	return (int)end;
}

/* ---- clients ---------------------------------------------------------------------- */

static const char *reason_of(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "HTTP Version Not Supported";
	}
}

static const char *text_of(int status)
{
	switch (status) {
	case 404: return "not found: this agent serves GET /metrics only\n";
	case 405: return "method not allowed: GET or HEAD /metrics\n";
	case 431: return "request head too long\n";
	case 500: return "cannot render the metrics\n";
	case 503: return "too many scrapes at once; try again\n";
	case 505: return "HTTP/1.0 or HTTP/1.1 only\n";
	default: return "bad request\n";
	}
}

/* The whole answer in one buffer: status line, headers, body (unless HEAD). */
static int build_reply(char **out, size_t *out_len, int status, bool head, const char *body,
		       size_t blen)
{
	char hdr[256];
	int n;

	n = snprintf(hdr, sizeof(hdr),
		     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
		     "Connection: close\r\n\r\n",
		     status, reason_of(status),
		     status == 200 ? CONTENT_TYPE_METRICS : "text/plain; charset=utf-8", blen,
		     status == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(hdr))
		return -EINVAL;
	if (head)
		blen = 0;
	*out = malloc((size_t)n + blen);
	if (!*out)
		return -ENOMEM;
	memcpy(*out, hdr, (size_t)n);
	if (blen)
		memcpy(*out + n, body, blen);
	*out_len = (size_t)n + blen;
	return 0;
}

static void client_free(struct http_client *k)
{
	conns_remove(&k->h->clients, &k->conn);
	free(k->out);
	free(k);
}

/* Send what the socket takes; closed once all of it is gone. */
static void client_write(struct http_client *k)
{
	size_t budget = HTTP_SEND_BUDGET;

	while (k->out_off < k->out_len && budget) {
		size_t n = k->out_len - k->out_off < budget ? k->out_len - k->out_off : budget;
		ssize_t w = send(k->conn.fd, k->out + k->out_off, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			k->h->st.reply_errors++;
			client_free(k);
			return;
		}
		k->out_off += (size_t)w;
		budget -= (size_t)w;
	}
	if (k->out_off < k->out_len)
		return;
	shutdown(k->conn.fd, SHUT_WR);
	client_free(k);
}

/* The text for a 200, rendered now: one buffer, freed by the caller. */
static int render_body(struct metrics_http *h, char **body, size_t *blen)
{
	FILE *f = open_memstream(body, blen);
	int ret;

	if (!f)
		return -ENOMEM;
	ret = h->render(f, h->arg);
	if (fclose(f) && !ret)
		ret = -ENOMEM;
	return ret;
}

static void client_answer(struct http_client *k, int status, bool head)
{
	struct metrics_http *h = k->h;
	char *body = NULL;
	size_t blen = 0;
	int ret;

	if (status == 200 && render_body(h, &body, &blen)) {
		h->st.render_errors++;
		free(body);
		body = NULL;
		status = 500;
	}
	switch (status) {
	case 200: h->st.scrapes++; break;
	case 404: h->st.not_found++; break;
	case 405: h->st.bad_method++; break;
	case 431: h->st.request_too_long++; break;
	case 500: break;
	default: h->st.bad_requests++; break;
	}
	if (status != 200) {
		ret = build_reply(&k->out, &k->out_len, status, head, text_of(status),
				  strlen(text_of(status)));
	} else {
		ret = build_reply(&k->out, &k->out_len, status, head, body, blen);
	}
	free(body);
	if (ret || loop_mod_fd(h->l, k->conn.fd, EPOLLOUT)) {
		h->st.reply_errors++;
		client_free(k);
		return;
	}
	k->state = CLIENT_REPLY;
	k->deadline_ms = loop_now_ms() + HTTP_REPLY_MS;
	client_write(k);
}

/* One read per wakeup: the rest of the loop runs between a client's pieces. */
static void client_read(struct http_client *k)
{
	struct metrics_http_request req;
	ssize_t r;
	int end;

	r = recv(k->conn.fd, k->req + k->req_len, sizeof(k->req) - k->req_len, MSG_DONTWAIT);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		k->h->st.request_closed++;
		client_free(k);
		return;
	}
	k->req_len += (size_t)r;
	end = metrics_http_parse_request(k->req, k->req_len, &req);
	if (end == -EAGAIN)
		return;
	if (end < 0)
		client_answer(k, 431, false);
	else
		client_answer(k, req.status, req.head);
}

static void on_client(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct http_client *k = arg;

	(void)l;
	(void)fd;
	if (k->state == CLIENT_REQUEST)
		client_read(k);
	else if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
		client_write(k);
}

static void on_sweep(struct loop *l, struct loop_timer *t, void *arg)
{
	struct metrics_http *h = arg;
	uint64_t now = loop_now_ms();
	struct conn *p, *n;

	(void)l;
	(void)t;
	for (p = h->clients.head; p; p = n) {
		struct http_client *k = (struct http_client *)p;

		n = p->link;
		if (now < k->deadline_ms)
			continue;
		if (k->state == CLIENT_REQUEST)
			h->st.request_timeouts++;
		else
			h->st.reply_timeouts++;
		client_free(k);
	}
}

/* Over the cap: one non-blocking try at saying so. */
static void refuse_busy(struct metrics_http *h, int fd)
{
	char *out = NULL;
	size_t len = 0;

	h->st.busy_refused++;
	if (!build_reply(&out, &len, 503, false, text_of(503), strlen(text_of(503))) &&
	    send(fd, out, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("metrics listener: cannot tell a refused scraper: %s", strerror(errno));
	free(out);
	close(fd);
}

/* One accept per wakeup, as on the control socket. */
static void on_accept(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct metrics_http *h = arg;
	struct http_client *k;
	int cfd;

	(void)events;
	cfd = conns_accept(fd);
	if (cfd < 0) {
		if (cfd != -EAGAIN)
			h->st.accept_errors++;
		return;
	}
	if (h->st.clients >= HTTP_MAX_CLIENTS) {
		refuse_busy(h, cfd);
		return;
	}
	k = calloc(1, sizeof(*k));
	if (!k || loop_add_fd(l, cfd, EPOLLIN, on_client, k)) {
		h->st.accept_errors++;
		close(cfd);
		free(k);
		return;
	}
	k->h = h;
	k->conn.fd = cfd;
	k->state = CLIENT_REQUEST;
	k->deadline_ms = loop_now_ms() + HTTP_REQUEST_MS;
	conns_add(&h->clients, &k->conn);
}

/* ---- the listening socket --------------------------------------------------------- */

int metrics_http_open(struct metrics_http **out, struct loop *l,
		      const struct sockaddr_storage *addr, socklen_t addrlen,
		      metrics_http_render render, void *arg)
{
	struct metrics_http *h = calloc(1, sizeof(*h));
	int one = 1, err;

	if (!h)
		return -ENOMEM;
	h->l = l;
	h->render = render;
	h->arg = arg;
	h->fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (h->fd < 0) {
		err = -errno;
		free(h);
		return err;
	}
	/* A restart must not wait out the last scrape's TIME_WAIT. */
	if (setsockopt(h->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(h->fd, (const struct sockaddr *)addr, addrlen) || listen(h->fd, 16)) {
		err = -errno;
		goto err_close;
	}
	err = conns_init(&h->clients, l, HTTP_SWEEP_MS, on_sweep, h, &h->st.clients,
			 &h->st.max_clients);
	if (!err)
		err = loop_add_fd(l, h->fd, EPOLLIN, on_accept, h);
	if (err)
		goto err_close;
	*out = h;
	return 0;

err_close:
	close(h->fd);
	free(h);
	return err;
}

void metrics_http_close(struct metrics_http *h)
{
	if (!h)
		return;
	while (h->clients.head)
		client_free((struct http_client *)h->clients.head);
	conns_stop(&h->clients);
	loop_del_fd(h->l, h->fd);
	close(h->fd);
	free(h);
}

const struct metrics_http_stats *metrics_http_stats(const struct metrics_http *h)
{
	return &h->st;
}
