/* metrics_http: the Prometheus scrape endpoint ([agent] metrics-listen):
 * GET /metrics over minimal HTTP/1.x, served from the agent's event loop. */
#ifndef FLOWOFFLOAD_METRICS_HTTP_H
#define FLOWOFFLOAD_METRICS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

struct loop;
struct metrics_http;

/* Bounds of one request's head (request line and headers): Prometheus
 * sends about 250 bytes; browsers and curl stay well under 2 KiB. */
#define METRICS_HTTP_MAX_REQUEST 4096

/* A listen address as written in the config: IPV4:PORT or [IPV6]:PORT,
 * numeric only (no name lookups in the loop), port 1..65535.  0, or
 * -EINVAL with the reason in why. */
int metrics_http_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *sslen,
			      char *why, size_t whylen);

/* What a request head asks, once complete. */
struct metrics_http_request {
	int status;		/* 200, 400, 404, 405 or 505 */
	bool head;		/* HEAD: the headers without the body, whatever the status */
};

/* Parse the head of a request in buf[0..len): the request line
 * (METHOD SP TARGET SP HTTP/1.x) and headers up to the empty line (CRLF or
 * LF line ends).  Returns the bytes of the head (> 0) with req filled,
 * -EAGAIN when the empty line has not arrived yet, -EMSGSIZE when the head
 * cannot fit METRICS_HTTP_MAX_REQUEST.  Only GET and HEAD of /metrics
 * (with or without a query string) are 200. */
int metrics_http_parse_request(const char *buf, size_t len, struct metrics_http_request *req);

/* Write the exposition text to out: 0 or -errno. */
typedef int (*metrics_http_render)(FILE *out, void *arg);

/* Every way a scrape can go, counted (flowoffloadctl stats, "metrics_http"). */
struct metrics_http_stats {
	uint64_t scrapes;		/* 200 answers */
	uint64_t not_found;		/* 404: another path */
	uint64_t bad_method;		/* 405: not GET or HEAD */
	uint64_t bad_requests;		/* 400 and 505 */
	uint64_t request_too_long;	/* head over METRICS_HTTP_MAX_REQUEST: 431 */
	uint64_t request_timeouts;	/* the head not in within its deadline */
	uint64_t request_closed;	/* the client left before ending its head */
	uint64_t reply_timeouts;	/* the reply not taken within its deadline */
	uint64_t reply_errors;		/* send failed: the client went away */
	uint64_t render_errors;		/* no text (no memory): 500 */
	uint64_t busy_refused;		/* over the cap of concurrent clients: 503 */
	uint64_t accept_errors;		/* accept4 failed, or no memory for a client */
	uint64_t clients;		/* connected now */
	uint64_t max_clients;		/* highest "clients" seen */
};

/* Listen on addr (parsed by metrics_http_parse_listen) and answer scrapes
 * with render's text.  0 or -errno (-EADDRINUSE...). */
int metrics_http_open(struct metrics_http **out, struct loop *l,
		      const struct sockaddr_storage *addr, socklen_t addrlen,
		      metrics_http_render render, void *arg);
void metrics_http_close(struct metrics_http *h);
const struct metrics_http_stats *metrics_http_stats(const struct metrics_http *h);

#endif
