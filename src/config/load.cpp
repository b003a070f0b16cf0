// Bytes -> Plan: the public entry points of src/config (load.hpp). The document is read into a
// padded buffer of our own, parsed by simdjson's DOM, and handed to the Loader (loader.hpp),
// whose stages are read_sections.cpp and build_plan.cpp. A JSON syntax error is located (line,
// column) by json_syntax.cpp only after simdjson has rejected the document.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "config/loader.hpp"

namespace ringprobe::config {

namespace detail {

void advise_huge(const void* p, std::size_t bytes) {
    auto first = reinterpret_cast<std::uintptr_t>(p);
    std::uintptr_t begin = (first + huge_page - 1) & ~(std::uintptr_t{huge_page} - 1);
    std::uintptr_t end = (first + bytes) & ~(std::uintptr_t{huge_page} - 1);
    if (p != nullptr && end > begin) {
        (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
    }
}

}  // namespace detail

namespace {

using namespace detail;

// The document with simdjson's padding behind it, in memory of our own so that a large one can
// be mapped with huge pages (see advise_huge) and read from a file without a second copy.
class PaddedBuffer {
public:
    explicit PaddedBuffer(std::size_t size)
        : size_(size), mapped_(size + simdjson::SIMDJSON_PADDING) {
        void* p =
            ::mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p != MAP_FAILED) {
            data_ = static_cast<char*>(p);
            advise_huge(data_, mapped_);
        }
    }
    ~PaddedBuffer() {
        if (data_ != nullptr) {
            ::munmap(data_, mapped_);
        }
    }
    bool ok() const { return data_ != nullptr; }
    PaddedBuffer(const PaddedBuffer&) = delete;
    PaddedBuffer& operator=(const PaddedBuffer&) = delete;

    char* data() { return data_; }
    std::size_t size() const { return size_; }
    std::string_view view() const { return {data_, size_}; }

private:
    char* data_ = nullptr;
    std::size_t size_;
    std::size_t mapped_;
};

}  // namespace

bool is_header_safe(std::string_view s) {
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        if (c <= 0x20 || c == 0x7f) {
            return false;
        }
    }
    return true;
}

namespace {

ConfigErrors one_error(std::string message) {
    return ConfigErrors{{"", std::move(message), 0, 0}};
}

std::string over_limit(std::size_t size, std::size_t limit) {
    return std::to_string(size) + " bytes is over the limit of " + std::to_string(limit) +
           " bytes for a configuration (LoadOptions::max_bytes)";
}

Result<Plan, ConfigErrors> load_padded(PaddedBuffer& buffer, const LoadOptions& options) {
    if (!buffer.ok()) {
        return unexpected(one_error("cannot allocate " + std::to_string(buffer.size()) +
                                    " bytes for the document"));
    }
    simdjson::dom::parser parser;
    if (parser.allocate(std::max<std::size_t>(buffer.size(), 64)) != simdjson::SUCCESS) {
        return unexpected(one_error("cannot allocate the JSON parser's buffers"));
    }
    // The tape and string buffer are first touched by the parse: same reasoning as advise_huge.
    advise_huge(parser.doc.tape.get(), (buffer.size() + 3) * sizeof(std::uint64_t));
    advise_huge(parser.doc.string_buf.get(), 5 * buffer.size() / 3);
    simdjson::dom::element root;
    auto err = parser.parse(buffer.data(), buffer.size(), false).get(root);
    if (err != simdjson::SUCCESS) {
        SyntaxError se;
        if (find_syntax_error(buffer.view(), se)) {
            return unexpected(
                ConfigErrors{{"", "malformed JSON: " + se.message, se.line, se.column}});
        }
        return unexpected(
            one_error(std::string("malformed JSON: ") + simdjson::error_message(err)));
    }
    Loader loader(buffer.view(), options);
    return loader.run(root);
}

}  // namespace

Result<Plan, ConfigErrors> load_plan_json(std::string_view json, const LoadOptions& options) {
    if (json.size() > options.max_bytes) {
        return unexpected(one_error(over_limit(json.size(), options.max_bytes)));
    }
    PaddedBuffer buffer(json.size());
    if (buffer.ok()) {
        std::memcpy(buffer.data(), json.data(), json.size());
    }
    return load_padded(buffer, options);
}

Result<Plan, ConfigErrors> load_plan_file(const std::string& path, const LoadOptions& options) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return unexpected(one_error(std::string("cannot open: ") + std::strerror(errno)));
    }
    struct stat st {};
    std::string problem;
    if (::fstat(fd, &st) != 0) {
        problem = std::string("cannot stat: ") + std::strerror(errno);
    } else if (!S_ISREG(st.st_mode)) {
        problem = "not a regular file";
    } else if (static_cast<std::size_t>(st.st_size) > options.max_bytes) {
        problem = over_limit(static_cast<std::size_t>(st.st_size), options.max_bytes);
    }
    if (!problem.empty()) {
        ::close(fd);
        return unexpected(one_error(std::move(problem)));
    }
    PaddedBuffer buffer(static_cast<std::size_t>(st.st_size));
    std::size_t got = 0;
    while (buffer.ok() && got < buffer.size()) {
        ssize_t n = ::read(fd, buffer.data() + got, buffer.size() - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            problem = n < 0 ? std::string("cannot read: ") + std::strerror(errno)
                            : std::string("cannot read: the file shrank while reading");
            break;
        }
        got += static_cast<std::size_t>(n);
    }
    ::close(fd);
    if (!problem.empty()) {
        return unexpected(one_error(std::move(problem)));
    }
    return load_padded(buffer, options);
}

std::string format_errors(const ConfigErrors& errors, std::string_view file) {
    std::string out;
    for (const auto& e : errors) {
        out.append(e.file.empty() ? file : std::string_view(e.file));
        if (e.line != 0) {
            out += ':';
            out += std::to_string(e.line);
            out += ':';
            out += std::to_string(e.column);
        }
        out += ": ";
        if (!e.path.empty()) {
            out += e.path;
            out += ": ";
        }
        out += e.message;
        out += '\n';
    }
    return out;
}

std::string format_warnings(const Plan& plan, std::string_view file) {
    std::string out;
    for (const PlanWarning& w : plan.warnings) {
        out.append(file).append(": ");
        if (!w.path.empty()) {
            out.append(w.path).append(": ");
        }
        out.append("warning: ").append(w.message).append("\n");
    }
    return out;
}

}  // namespace ringprobe::config
