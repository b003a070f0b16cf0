// The faulty part of a probe, by reason (see fault_part.hpp).
#include "report/fault_part.hpp"

namespace ringprobe::report {

FaultPart fault_part(Reason reason) {
    switch (reason) {
        case Reason::TlsAlert:
        case Reason::TlsProtocolVersion:
        case Reason::TlsHandshakeTimeout:
        case Reason::TlsHandshakeFailed: return FaultPart::Handshake;
        case Reason::OtherShard: return FaultPart::None;  // not this engine's row to judge
        case Reason::ClientCertRequired:
        case Reason::ClientCertRejected: return FaultPart::ClientCertificate;
        default: break;
    }
    switch (reason_info(reason).layer) {
        case Layer::None: return FaultPart::None;
        case Layer::Dns: return FaultPart::Resolution;
        case Layer::L4: return FaultPart::Link;
        case Layer::L6: return FaultPart::Certificate;
        case Layer::L7: return FaultPart::Server;
        case Layer::Prober: return FaultPart::Prober;
        case Layer::Engine: return FaultPart::Report;
    }
    return FaultPart::None;
}

std::string_view fault_part_words(FaultPart part) {
    switch (part) {
        case FaultPart::None: return "nothing";
        case FaultPart::Report: return "the link from this reader to the engine (the report)";
        case FaultPart::Prober: return "ringprobe itself";
        case FaultPart::Resolution: return "the DNS resolution of the server's name";
        case FaultPart::Link: return "the TCP connection from ringprobe to the server";
        case FaultPart::Handshake: return "the TLS handshake between ringprobe and the server";
        case FaultPart::Certificate: return "the server's certificate chain";
        case FaultPart::Server: return "the server's HTTP answer";
        case FaultPart::ClientCertificate:
            return "ringprobe's client certificate (the client side of the TLS handshake)";
    }
    return "nothing";
}

}  // namespace ringprobe::report
