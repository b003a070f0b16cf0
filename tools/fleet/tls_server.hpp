// TLS serving for ringprobe-fleet: a behaviour's `tls` section (cert chain, key, version) and
// the per-backend record of the SNI each handshake carried (GET /sni on the control port).
//
// A TlsServer is built when the behaviour file is loaded and lives as long as that behaviour
// set: it owns one WOLFSSL_CTX, whose session cache and ticket key make resumption work. The
// serving loop (worker.cpp) makes one WOLFSSL per connection over the nonblocking socket.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/result.hpp"

struct WOLFSSL_CTX;
struct WOLFSSL;

namespace ringprobe::fleet {

class TlsServer {
public:
    // version: "" (TLS 1.2 or 1.3, the client's choice), "1.2", "1.3", or "1.1" (an old
    // backend a prober must refuse). only_sni: "" answers any name; else a client asking for
    // another name gets a fatal unrecognized_name alert. `where` is the JSON path for errors.
    static Result<std::shared_ptr<const TlsServer>> create(const std::string& cert_chain_path,
                                                           const std::string& key_path,
                                                           const std::string& version,
                                                           const std::string& where,
                                                           const std::string& only_sni = "");
    ~TlsServer();
    TlsServer(const TlsServer&) = delete;
    TlsServer& operator=(const TlsServer&) = delete;

    WOLFSSL* new_connection(int fd) const;

private:
    TlsServer() = default;
    WOLFSSL_CTX* ctx_ = nullptr;
};

// What a handshake showed: the SNI asked for ("" for none) and whether it resumed.
struct SniSeen {
    std::string last_sni;
    uint64_t handshakes = 0;
    uint64_t resumed = 0;
};

// Per backend ("127.1.0.1:8443"), written by any worker after a completed handshake. A mutex
// is fine here: a TLS handshake costs a thousand times more than taking it.
class SniLog {
public:
    void record(const std::string& backend, WOLFSSL* ssl);
    // {"127.1.0.1:8443":{"sni":"good.ringprobe.test","handshakes":2,"resumed":1},...}
    std::string to_json(bool reset);

private:
    std::mutex mu_;
    std::map<std::string, SniSeen> seen_;
};

}  // namespace ringprobe::fleet
