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
#include <memory>
#include <string>
#include <vector>

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

// ---- Encodings --------------------------------------------------------------------------------
// JSON is UTF-8 (RFC 8259), but Windows tools write other things: Notepad and `Out-File -Encoding
// utf8` put a byte-order mark first, and Windows PowerShell 5.1's `>` writes UTF-16 LE with its
// mark. A UTF-8 mark is skipped; UTF-16 (either order, with its mark or recognisable by the
// zero bytes around the first ASCII character) is transcoded once, here, before parsing.

enum class Encoding : std::uint8_t { Utf8, Utf8Bom, Utf16Le, Utf16Be };

Encoding detect_encoding(std::string_view s) {
    auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    if (s.size() >= 3 && b(0) == 0xEF && b(1) == 0xBB && b(2) == 0xBF) {
        return Encoding::Utf8Bom;
    }
    if (s.size() >= 2 &&
        ((b(0) == 0xFF && b(1) == 0xFE) || (b(0) != 0 && b(0) < 0x80 && b(1) == 0))) {
        return Encoding::Utf16Le;
    }
    if (s.size() >= 2 &&
        ((b(0) == 0xFE && b(1) == 0xFF) || (b(0) == 0 && b(1) != 0 && b(1) < 0x80))) {
        return Encoding::Utf16Be;
    }
    return Encoding::Utf8;
}

void append_utf8(char*& out, std::uint32_t cp) {
    auto put = [&](std::uint32_t v) { *out++ = static_cast<char>(v); };
    if (cp < 0x80) {
        put(cp);
    } else if (cp < 0x800) {
        put(0xC0 | (cp >> 6));
        put(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        put(0xE0 | (cp >> 12));
        put(0x80 | ((cp >> 6) & 0x3F));
        put(0x80 | (cp & 0x3F));
    } else {
        put(0xF0 | (cp >> 18));
        put(0x80 | ((cp >> 12) & 0x3F));
        put(0x80 | ((cp >> 6) & 0x3F));
        put(0x80 | (cp & 0x3F));
    }
}

std::string save_as_utf8_hint() {
    return "; save it as UTF-8 (PowerShell: Out-File -Encoding utf8 FILE, or Set-Content "
           "-Encoding utf8 FILE; Notepad: Save As, Encoding UTF-8)";
}

// UTF-16 -> UTF-8 into `out` (at most 3 bytes per 2 read); false with `why` when the text is not
// valid UTF-16. A byte-order mark is dropped.
bool utf16_to_utf8(std::string_view in, bool little, char* out, std::size_t& size,
                   std::string& why) {
    const char* name = little ? "UTF-16 LE" : "UTF-16 BE";
    if (in.size() % 2 != 0) {
        why = std::string("the file is ") + name + " but has an odd number of bytes (" +
              std::to_string(in.size()) + ")" + save_as_utf8_hint();
        return false;
    }
    auto unit = [&](std::size_t i) {
        auto lo = static_cast<unsigned char>(in[i + (little ? 0 : 1)]);
        auto hi = static_cast<unsigned char>(in[i + (little ? 1 : 0)]);
        return static_cast<std::uint32_t>(lo | (hi << 8));
    };
    char* w = out;
    std::size_t i = in.size() >= 2 && unit(0) == 0xFEFF ? 2 : 0;
    for (; i < in.size(); i += 2) {
        std::uint32_t cp = unit(i);
        if (cp >= 0xD800 && cp <= 0xDBFF && i + 2 < in.size() && unit(i + 2) >= 0xDC00 &&
            unit(i + 2) <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (unit(i + 2) - 0xDC00);
            i += 2;
        } else if (cp >= 0xD800 && cp <= 0xDFFF) {
            why = std::string("the file is ") + name + " but has an unpaired surrogate at byte " +
                  std::to_string(i) + save_as_utf8_hint();
            return false;
        }
        append_utf8(w, cp);
    }
    size = static_cast<std::size_t>(w - out);
    return true;
}

}  // namespace

namespace detail {

bool json_text_utf8(std::string_view in, std::string& converted, std::string& why) {
    converted.clear();
    const Encoding encoding = detect_encoding(in);
    if (encoding == Encoding::Utf8) {
        return true;
    }
    if (encoding == Encoding::Utf8Bom) {
        converted.assign(in.substr(3));
        return true;
    }
    converted.resize(in.size() / 2 * 3);
    std::size_t size = 0;
    if (!utf16_to_utf8(in, encoding == Encoding::Utf16Le, converted.data(), size, why)) {
        return false;
    }
    converted.resize(size);
    return true;
}

}  // namespace detail

namespace {

// ---- Parsing ----------------------------------------------------------------------------------

// Member names given twice in one object anywhere in the document: a walk of the DOM, cheap
// enough to run on every load. `keys` is scratch shared by the whole walk, used as a stack; an
// object's names are compared pairwise while few (most objects have under ten), sorted beyond.
bool has_duplicate_keys(simdjson::dom::element e, std::vector<std::string_view>& keys) {
    constexpr std::size_t pairwise_max = 32;
    const auto type = e.type();
    if (type == simdjson::dom::element_type::ARRAY) {
        for (simdjson::dom::element child : simdjson::dom::array(e)) {
            if (has_duplicate_keys(child, keys)) {
                return true;
            }
        }
        return false;
    }
    if (type != simdjson::dom::element_type::OBJECT) {
        return false;
    }
    const simdjson::dom::object obj(e);
    const std::size_t base = keys.size();
    bool duplicate = false;
    for (auto [key, value] : obj) {
        for (std::size_t k = base; k < keys.size() && k < base + pairwise_max; ++k) {
            duplicate = duplicate || keys[k] == key;
        }
        keys.push_back(key);
    }
    if (!duplicate && keys.size() - base > pairwise_max) {
        auto first = keys.begin() + static_cast<std::ptrdiff_t>(base);
        std::sort(first, keys.end());
        duplicate = std::adjacent_find(first, keys.end()) != keys.end();
    }
    keys.resize(base);
    if (duplicate) {
        return true;
    }
    for (auto [key, value] : obj) {
        if (has_duplicate_keys(value, keys)) {
            return true;
        }
    }
    return false;
}

void add_duplicate_errors(std::string_view json, ConfigErrors& errors) {
    for (const DuplicateKey& d : scan_document(json).duplicates) {
        std::uint32_t l1 = 0, c1 = 0, l2 = 0, c2 = 0;
        line_column(json, d.first_offset, l1, c1);
        line_column(json, d.second_offset, l2, c2);
        errors.push_back(ConfigError{d.path,
                                     "given twice in one object, at line " + std::to_string(l1) +
                                         " column " + std::to_string(c1) + " and at line " +
                                         std::to_string(l2) + " column " + std::to_string(c2) +
                                         "; JSON readers disagree on which one counts: keep one",
                                     0, 0});
    }
}

// The document again with every number simdjson cannot hold written as a big_number_prefix
// string (json_read.hpp), so that the field's read reports it with its path and range.
std::unique_ptr<PaddedBuffer> mark_big_numbers(std::string_view json,
                                               const std::vector<BigNumber>& numbers) {
    std::string text;
    std::size_t from = 0;
    for (const BigNumber& n : numbers) {
        text.append(json.substr(from, n.offset - from));
        text.append("\"\\u0001number:").append(n.text).append("\"");
        from = n.offset + n.text.size();
    }
    text.append(json.substr(from));
    auto out = std::make_unique<PaddedBuffer>(text.size());
    if (out->ok()) {
        std::memcpy(out->data(), text.data(), text.size());
    }
    return out;
}

// A number no field read reported (it sits where ringprobe reads no number) is still refused:
// a JSON reader cannot hold it, so the document does not say what its author meant.
void add_big_number_errors(const std::vector<BigNumber>& numbers, ConfigErrors& errors) {
    for (const BigNumber& n : numbers) {
        bool reported = std::any_of(errors.begin(), errors.end(),
                                    [&](const ConfigError& e) { return e.path == n.path; });
        if (!reported) {
            errors.push_back(ConfigError{
                n.path,
                n.text + " does not fit in a JSON number ringprobe can read (integers "
                         "-9223372036854775808..18446744073709551615, decimals up to 1.7e308)",
                0, 0});
        }
    }
}

Result<Plan, ConfigErrors> load_text(const char* data, std::size_t size,
                                     const LoadOptions& options) {
    const std::string_view json(data, size);
    simdjson::dom::parser parser;
    if (parser.allocate(std::max<std::size_t>(size, 64)) != simdjson::SUCCESS) {
        return unexpected(one_error("cannot allocate the JSON parser's buffers"));
    }
    // The tape and string buffer are first touched by the parse: same reasoning as advise_huge.
    advise_huge(parser.doc.tape.get(), (size + 3) * sizeof(std::uint64_t));
    advise_huge(parser.doc.string_buf.get(), 5 * size / 3);
    simdjson::dom::element root;
    auto err = parser.parse(data, size, false).get(root);
    std::vector<BigNumber> numbers;
    std::unique_ptr<PaddedBuffer> marked;
    if (err != simdjson::SUCCESS) {
        SyntaxError se;
        if (find_syntax_error(json, se)) {
            return unexpected(
                ConfigErrors{{"", "malformed JSON: " + se.message, se.line, se.column}});
        }
        if (err == simdjson::NUMBER_ERROR) {
            numbers = scan_document(json).numbers;
        }
        if (!numbers.empty()) {
            marked = mark_big_numbers(json, numbers);
            if (marked->ok() && parser.allocate(marked->size()) == simdjson::SUCCESS) {
                err = parser.parse(marked->data(), marked->size(), false).get(root);
            }
        }
        if (err != simdjson::SUCCESS) {
            return unexpected(
                one_error(std::string("malformed JSON: ") + simdjson::error_message(err)));
        }
    }
    ConfigErrors errors;
    std::vector<std::string_view> keys;
    if (has_duplicate_keys(root, keys)) {
        add_duplicate_errors(json, errors);
    }
    Loader loader(json, options);
    auto plan = loader.run(root);
    if (!plan) {
        errors.insert(errors.end(), plan.error().begin(), plan.error().end());
    }
    add_big_number_errors(numbers, errors);
    if (!errors.empty()) {
        return unexpected(std::move(errors));
    }
    return plan;
}

Result<Plan, ConfigErrors> load_padded(PaddedBuffer& buffer, const LoadOptions& options) {
    if (!buffer.ok()) {
        return unexpected(one_error("cannot allocate " + std::to_string(buffer.size()) +
                                    " bytes for the document"));
    }
    const Encoding encoding = detect_encoding(buffer.view());
    if (encoding == Encoding::Utf8) {
        return load_text(buffer.data(), buffer.size(), options);
    }
    if (encoding == Encoding::Utf8Bom) {
        return load_text(buffer.data() + 3, buffer.size() - 3, options);
    }
    PaddedBuffer utf8(buffer.size() / 2 * 3);
    if (!utf8.ok()) {
        return unexpected(one_error("cannot allocate " + std::to_string(utf8.size()) +
                                    " bytes for the document in UTF-8"));
    }
    std::size_t size = 0;
    std::string why;
    if (!utf16_to_utf8(buffer.view(), encoding == Encoding::Utf16Le, utf8.data(), size, why)) {
        return unexpected(one_error(std::move(why)));
    }
    return load_text(utf8.data(), size, options);
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
