// The service manager's side channel (sd_notify(3)): readiness, reloads, a status line and the
// watchdog, as a `Type=notify` unit (ringprobe@.service) expects them. Every call is a no-op that
// returns false when the process does not run under a service manager (NOTIFY_SOCKET unset), so
// callers need no "am I a service?" branch. None of them allocates on the probe path: they run
// at start, at a reload, and from the thread that watches the workers' heartbeats.
#pragma once

#include <cstdint>
#include <string_view>

namespace ringprobe::notify {

// READY=1: the first report is published; `systemctl start` returns once this is sent.
bool ready();

// RELOADING=1 with MONOTONIC_USEC (CLOCK_MONOTONIC now): a reload has begun. systemd holds the
// reload job open until the next ready(), so `systemctl reload` waits for the new plan.
bool reloading();

// STATUS=<line>: one line for `systemctl status`. Newlines would end the assignment early in the
// protocol, so each becomes a space.
bool status(std::string_view line);

// STOPPING=1: a stop has begun (SIGTERM); `systemctl status` shows the unit deactivating while
// in-flight probes are cancelled and the report is marked stopped.
bool stopping();

// WATCHDOG=1: the engine is alive. Send only while the workers' heartbeats advance, so that a
// stuck worker lets the watchdog fire instead of being hidden by a healthy main thread.
bool watchdog();

// The watchdog period systemd asked for (WatchdogSec=), in microseconds; 0 when there is none or
// it is meant for another process. Feed watchdog() at half this period or more often.
std::uint64_t watchdog_usec();

}  // namespace ringprobe::notify
