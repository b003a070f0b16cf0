// A backend setting's client certificate (its ringprobe clientCertificate): the files read and
// checked here, with the field that named them; the key is matched to its certificate when the
// engine builds its TLS contexts (engine/tls/trust.cpp), the one room that parses keys.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/hash.hpp"
#include "config/loader.hpp"

namespace ringprobe::config::detail {

namespace {

// A PEM file is a few KiB; anything this large is not one.
constexpr std::size_t pem_file_bytes_max = std::size_t{1} << 20;

std::string octal_mode(mode_t mode) {
    char buf[8];
    buf[0] = '0';
    buf[1] = static_cast<char>('0' + ((mode >> 6) & 7));
    buf[2] = static_cast<char>('0' + ((mode >> 3) & 7));
    buf[3] = static_cast<char>('0' + (mode & 7));
    return std::string(buf, 4);
}

// The permission rule ssh applies to its private keys: owned by the user that reads it, and
// no access at all for the group or others. Empty when the file passes.
std::string key_file_problem(const std::string& file, const struct stat& st) {
    if (st.st_uid != geteuid()) {
        return file + " is owned by uid " + std::to_string(st.st_uid) +
               ", not by the user ringprobe runs as (uid " + std::to_string(geteuid()) +
               "); a private key must be readable by that user only: chown " +
               std::to_string(geteuid()) + " " + file + " && chmod 600 " + file;
    }
    if ((st.st_mode & 077) != 0) {
        return file + " is open to its group or others (mode " + octal_mode(st.st_mode & 0777) +
               "); a private key must be readable by its owner only, as ssh requires of its "
               "keys: chmod 600 " +
               file;
    }
    return {};
}

// The file's text, or an error sentence naming the file.
bool read_pem_file(const std::string& file, bool private_key, std::string& out, std::string& why) {
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        why = "cannot read " + file + ": " + std::strerror(errno);
        return false;
    }
    struct stat st {};
    bool ok = ::fstat(fd, &st) == 0;
    if (!ok || !S_ISREG(st.st_mode)) {
        why = ok ? file + " is not a regular file; expected a PEM file"
                 : "cannot read " + file + ": " + std::strerror(errno);
        ::close(fd);
        return false;
    }
    if (private_key) {
        why = key_file_problem(file, st);
        if (!why.empty()) {
            ::close(fd);
            return false;
        }
    }
    if (static_cast<std::size_t>(st.st_size) > pem_file_bytes_max) {
        why = file + " is larger than 1 MiB; expected a PEM file";
        ::close(fd);
        return false;
    }
    out.assign(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t got = 0;
    while (got < out.size()) {
        ssize_t n = ::read(fd, out.data() + got, out.size() - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        got += static_cast<std::size_t>(n);
    }
    ::close(fd);
    out.resize(got);
    const std::string_view der_hint =
        private_key ? "openssl pkey -inform DER -in " : "openssl x509 -inform DER -in ";
    if (out.find("-----BEGIN") == std::string::npos) {
        why = file + " holds no PEM block (-----BEGIN ...); convert a DER file with " +
              std::string(der_hint) + file + " -out " + file + ".pem";
        return false;
    }
    if (private_key && out.find("ENCRYPTED") != std::string::npos) {
        why = file +
              " holds an encrypted key and ringprobe cannot ask for its passphrase; write it "
              "decrypted with openssl pkey -in " +
              file + " -out NEW.key, then chmod 600 NEW.key";
        return false;
    }
    return true;
}

}  // namespace

// One half of the pair: `file_key` (a PEM file, read now) or `data_key` (inline, base64 or PEM,
// decoded with the certificate by the engine). False when it is missing or unusable.
bool Loader::read_client_part(View c, std::string_view file_key, std::string_view data_key,
                              bool private_key, std::string& from, std::string& out) {
    const bool has_file = member(c, file_key).has_value();
    const bool has_data = member(c, data_key).has_value();
    PathNode file_at{c.path, file_key};
    PathNode data_at{c.path, data_key};
    if (has_file && has_data) {
        errs_.add(&data_at, "given together with " + std::string(file_key) + "; give one of them");
        return false;
    }
    if (!has_file && !has_data) {
        errs_.add(c.path, "missing " + std::string(file_key) + " (a PEM file) or " +
                              std::string(data_key) + " (base64, as the gateway's certificates)");
        return false;
    }
    std::string_view s;
    if (has_data) {
        if (!read_string(errs_, c, data_key, s)) {
            return false;
        }
        if (s.empty()) {
            errs_.add(&data_at, "empty; expected base64 of the DER or PEM bytes, or PEM text");
            return false;
        }
        from.assign(data_key);
        out.assign(s);
        return true;
    }
    if (!read_string(errs_, c, file_key, s)) {
        return false;
    }
    if (s.empty()) {
        errs_.add(&file_at, "empty; expected the path of a PEM file");
        return false;
    }
    std::string file(s);
    std::string why;
    if (!read_pem_file(file, private_key, out, why)) {
        errs_.add(&file_at, why);
        return false;
    }
    from = std::string(file_key) + " " + file;
    // The plan depends on the file's bytes as much as on the configuration: a reload after the
    // certificate was renewed must not be taken for an unchanged one.
    side_digest_ = hash_combine(side_digest_, stable_hash(out));
    return true;
}

void Loader::read_client_certificate(View f, Setting& st) {
    auto ext = member(f, "ringprobe");
    dom::object eo;
    if (!ext || ext->get_object().get(eo) != simdjson::SUCCESS) {
        return;  // read_ext said what is wrong with it
    }
    PathNode r_at{f.path, "ringprobe"};
    View e{eo, &r_at};
    auto obj = read_object(errs_, e, "clientCertificate");
    if (!obj) {
        return;
    }
    PathNode at{&r_at, "clientCertificate"};
    View c{*obj, &at};
    static constexpr std::string_view known[] = {"certificateFile", "keyFile", "certificateData",
                                                 "keyData"};
    for (auto [key, value] : *obj) {
        (void)value;
        if (std::find(std::begin(known), std::end(known), key) == std::end(known)) {
            PathNode k{&at, key};
            errs_.add(&k,
                      "unknown field; a client certificate is certificateFile and keyFile (PEM "
                      "files), or certificateData and keyData (base64)");
        }
    }
    if (!protocol_is_tls(st.protocol)) {
        errs_.add(&at,
                  "a client certificate is presented in a TLS handshake, and this setting's "
                  "protocol is " +
                      std::string(protocol_name(st.protocol)) +
                      ": remove clientCertificate, or use " +
                      (st.protocol == Protocol::Tcp ? "Tls" : "Https"));
        return;
    }
    ClientCertificate cc;
    cc.path = render_path(&at);
    bool ok = read_client_part(c, "certificateFile", "certificateData", false, cc.certificate_from,
                               cc.certificate);
    ok = read_client_part(c, "keyFile", "keyData", true, cc.key_from, cc.key) && ok;
    if (!ok) {
        return;
    }
    auto& list = plan_.client_certificates;
    for (std::size_t i = 0; i < list.size(); ++i) {
        if (list[i].certificate == cc.certificate && list[i].key == cc.key) {
            st.client_certificate = static_cast<std::uint32_t>(i);
            return;
        }
    }
    st.client_certificate = static_cast<std::uint32_t>(list.size());
    list.push_back(std::move(cc));
}

}  // namespace ringprobe::config::detail
