// Stage: from a failed operation's errno to the probe's Reason. One exhaustive switch per
// operation, pure functions of an int, so the tables sit apart from the code that
// meets the errors. Inline, in a header: the probe's completion handlers call them on their
// failure paths, and the build has no link-time optimisation to inline them across files.
#pragma once

#include <cerrno>

#include <ringprobe/result.hpp>

namespace ringprobe::engine {

// The one exhaustive mapping from a failed connect's errno to a reason (one switch
// per operation). Local exhaustion is the prober's problem, never the backend's.
inline Reason connect_reason(int err) {
    switch (err) {
        case ECONNREFUSED: return Reason::ConnectRefused;
        case ETIMEDOUT: return Reason::ConnectTimeout;
        case EHOSTUNREACH:
        case ENETUNREACH:
        case EHOSTDOWN:
        case ENETDOWN:
        case EACCES:
        case EPERM: return Reason::ConnectUnreachable;
        case ECONNRESET:
        case ECONNABORTED:
        case EPIPE: return Reason::ConnectionReset;
        case EADDRNOTAVAIL:
        case EADDRINUSE: return Reason::ProberNoPorts;
        case EMFILE:
        case ENFILE: return Reason::ProberNoFds;
        case ENOBUFS:
        case ENOMEM: return Reason::ProberNoBuffers;
        default: return Reason::ProberError;
    }
}

inline Reason socket_reason(int err) {
    switch (err) {
        case EMFILE:
        case ENFILE: return Reason::ProberNoFds;
        case ENOBUFS:
        case ENOMEM: return Reason::ProberNoBuffers;
        default: return Reason::ProberError;
    }
}

// Errors of an established exchange (send or recv).
inline Reason exchange_reason(int err) {
    switch (err) {
        case ECONNRESET:
        case EPIPE:
        case ECONNABORTED: return Reason::ConnectionReset;
        case ETIMEDOUT: return Reason::ResponseTimeout;
        case EHOSTUNREACH:
        case ENETUNREACH: return Reason::ConnectUnreachable;
        case ENOMEM: return Reason::ProberNoBuffers;
        default: return Reason::ProberError;
    }
}

}  // namespace ringprobe::engine
