/* log: the agent's log lines, to stderr in the foreground (-f) or to syslog
 * as a daemon; one place decides the destination and the level. */
#ifndef FLOWOFFLOAD_LOG_H
#define FLOWOFFLOAD_LOG_H

#include <stdbool.h>
#include <syslog.h>

/* to_stderr: true in the foreground; level: LOG_ERR .. LOG_DEBUG. */
void log_init(const char *ident, bool to_stderr, int level);
void log_set_level(int level);
int log_get_level(void);

void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
