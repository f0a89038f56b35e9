/* class_clients: the few heaviest clients of one service class, so that one
 * noisy client can neither give a class its verdict nor dominate it. */
#ifndef FLOWOFFLOAD_CLASS_CLIENTS_H
#define FLOWOFFLOAD_CLASS_CLIENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "flows.h"

/* Clients tracked per class; [classes] min-clients is at most this. */
#define CLASS_CLIENTS_MAX 8

/* Weights are in the class table's units (relative to its epoch): the
 * table scales them with its own when it renormalizes. */
struct class_clients {
	double w[CLASS_CLIENTS_MAX];	/* flows of each client */
	double mice[CLASS_CLIENTS_MAX];	/* of them, mice */
	uint32_t id[CLASS_CLIENTS_MAX];	/* class_clients_id() of each */
	uint8_t n;			/* entries in use, the first n */
};

/* What a verdict may count of a class. */
struct class_count {
	double w, mice;		/* weights with every client capped */
	unsigned int clients;	/* distinct clients tracked */
};

/* The client of a conntrack (its original source; an IPv6 client by its
 * /64, which one host can fill with addresses), hashed with seed. */
uint32_t class_clients_id(const struct ct_info *ct, uint32_t seed);

/* Add a flow of weight inc from client id.  A client not tracked when all
 * entries are taken replaces the lightest one; the weight of a replaced
 * client stays in the class's totals as that of an unknown client. */
void class_clients_add(struct class_clients *cc, uint32_t id, double inc, bool mouse);

/* Multiply every weight by f (the table's renormalization). */
void class_clients_scale(struct class_clients *cc, double f);

/*
 * The class's weight w and mice weight as a verdict counts them: no client
 * counts for more than 1/min_clients of the counted weight; a client above
 * that share counts at the cap, its mice in proportion.  Weight of clients
 * no longer tracked (w minus the tracked ones) counts in full.  min_clients
 * 0 or 1: no cap, out = the totals.
 */
void class_clients_count(const struct class_clients *cc, double w, double mice,
			 unsigned int min_clients, struct class_count *out);

#endif
