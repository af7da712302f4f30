/* clock.h — the agent's notion of time. Wall time can be driven by tests (the governor's
 * hours and days pass in milliseconds); monotonic time is for timeouts and durations. */
#ifndef AGENT_CLOCK_H
#define AGENT_CLOCK_H

/* Seconds since the epoch: CLOCK_REALTIME, or the test's source when one is set. */
double clock_now(void);
/* Seconds from CLOCK_MONOTONIC, or the test's source when one is set. */
double clock_mono(void);
/* Tests: make clock_now() return fn(ud). NULL restores the real clock. Set it before the
 * threads that read it start. */
void clock_override(double (*fn)(void *ud), void *ud);
/* Tests: the same for clock_mono(), so the engine's timeouts run on a simulated clock
 * (model-based tests). Only for single-threaded tests that drive the engine themselves. */
void clock_override_mono(double (*fn)(void *ud), void *ud);

#endif
