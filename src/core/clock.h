/* Monotonic and wall clock helpers. */
#ifndef EDGECAM_CORE_CLOCK_H
#define EDGECAM_CORE_CLOCK_H

#include <stdint.h>

uint64_t clock_mono_ns(void);
double clock_mono_s(void);
/* Milliseconds since the Unix epoch (for stored timestamps). */
int64_t clock_wall_ms(void);
double clock_wall_s(void);
void clock_sleep_ns(uint64_t ns);
/* Absolute CLOCK_REALTIME deadline `ms` from now, for pthread_cond_timedwait. */
struct timespec clock_deadline_ms(int64_t ms);

#endif
