/* Logging to stderr, prefixed with the program name and, where set, the
 * VM or sandbox name. Log once, where the decision is made. */
#ifndef AGENTVM_COMMON_LOG_H
#define AGENTVM_COMMON_LOG_H

enum log_level { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Set the prefix ("agentvm-vmm") and the optional instance name. */
void log_init(const char *prog, const char *instance);
/* Messages above this level are dropped (default LOG_INFO; AGENTVM_DEBUG=1 → LOG_DEBUG). */
void log_set_level(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)   log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
