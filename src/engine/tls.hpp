// TLS for Https and Tls probes: a wolfSSL client that never touches a socket.
//
// The worker keeps doing all socket I/O through io_uring; wolfSSL sees two memory buffers
// through custom I/O callbacks. The worker drives one TlsClient per in-flight TLS probe:
//
//   client.start(ctx, sni, host, &session)      // session: per target, nullptr = no resumption
//   loop:  Step s = client.handshake();
//          NeedSend     -> send pending_ciphertext(), then consume_sent(n)
//          NeedReceive  -> recv, then feed_ciphertext(bytes) (or feed_eof())
//          HandshakeDone-> Tls probe: verdict Ok; Https: write_plaintext(request), send, then
//                          read_plaintext() into the HTTP parser until Closed / enough
//          Failed       -> verdict reason() with detail(); facts() says what was presented
//   client.finish()                              // frees the wolfSSL object; keeps the session
//
// Whatever the step, bytes in pending_ciphertext() are sent first (handshake() and
// read_plaintext() say NeedSend while there are any). The handshake deadline is the worker's:
// at the probe's deadline it ends the probe with Reason::TlsHandshakeTimeout if
// handshake_done() is false.
//
// Certificates are not judged by wolfSSL alone: a verify callback accepts every chain and keeps
// what was presented and the first error wolfSSL saw; the chain judge (tls/chain.hpp) then
// names the precise problem.
//
// Memory: TlsClient's buffers are its own, sized once. wolfSSL itself allocates per handshake
// (the WOLFSSL object, its I/O buffers, key shares, hashes, the parsed peer certificates):
// bench/tls_bench.cpp counts those allocations (docs/tls.md). Sessions and contexts are
// allocated at plan time or when a session is saved, never per byte.
//
// The room, one header each under tls/: x509 (what is read off a certificate), trust (trust
// contexts: the system store, a setting's trusted roots), chain (judging a chain into a
// Reason and a bounded detail) and client (TlsClient, its steps and sessions). This header
// is what the worker and the tests include.
#pragma once

#include "engine/tls/client.hpp"
#include "engine/tls/trust.hpp"
#include "engine/tls/x509.hpp"
