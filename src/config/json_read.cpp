// Typed reads with JSON paths: see json_read.hpp.
#include "config/json_read.hpp"

#include <charconv>
#include <system_error>
#include <vector>

namespace ringprobe::config::detail {

std::string render_path(const PathNode* node) {
    std::vector<const PathNode*> chain;
    for (const PathNode* n = node; n != nullptr; n = n->parent) {
        chain.push_back(n);
    }
    std::string out;
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
        const PathNode* n = *it;
        if (n->index >= 0) {
            out += '[';
            out += std::to_string(n->index);
            out += ']';
        } else if (!n->key.empty()) {
            if (!out.empty()) {
                out += '.';
            }
            out += n->key;
        }
    }
    return out;
}

void Errors::add(const PathNode* at, std::string message) {
    add_text(render_path(at), std::move(message));
}

void Errors::add_text(std::string path, std::string message) {
    if (list_.size() >= max_) {
        ++suppressed_;
        return;
    }
    list_.push_back(ConfigError{std::move(path), std::move(message), 0, 0});
}

void Errors::add_in(std::string file, std::string path, std::string message) {
    add_text(std::move(path), std::move(message));
    if (suppressed_ == 0) {
        list_.back().file = std::move(file);
    }
}

ConfigErrors Errors::take() {
    if (suppressed_ != 0) {
        list_.push_back(ConfigError{
            "", "... and " + std::to_string(suppressed_) + " more errors not shown", 0, 0});
        suppressed_ = 0;
    }
    return std::move(list_);
}

bool big_number(dom::element e, std::string_view& text) {
    std::string_view s;
    if (e.get_string().get(s) != simdjson::SUCCESS || !s.starts_with(big_number_prefix)) {
        return false;
    }
    text = s.substr(big_number_prefix.size());
    return true;
}

namespace {

std::string shortest(double d) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
    return ec == std::errc{} ? std::string(buf, end) : std::to_string(d);
}

std::string range_text(std::int64_t lo, std::int64_t hi) {
    return std::to_string(lo) + ".." + std::to_string(hi);
}

}  // namespace

std::string describe(dom::element e) {
    std::string_view big;
    if (big_number(e, big)) {
        return "the number " + std::string(big);
    }
    switch (e.type()) {
        case dom::element_type::ARRAY: return "an array";
        case dom::element_type::OBJECT: return "an object";
        case dom::element_type::INT64:
            return "the number " + std::to_string(int64_t(e.get_int64().value_unsafe()));
        case dom::element_type::UINT64:
            return "the number " + std::to_string(uint64_t(e.get_uint64().value_unsafe()));
        case dom::element_type::DOUBLE:
            return "the number " + shortest(double(e.get_double().value_unsafe()));
        case dom::element_type::STRING: {
            std::string_view s = e.get_string().value_unsafe();
            if (s.size() > 40) {
                return "a string \"" + std::string(s.substr(0, 40)) + "...\"";
            }
            return "a string \"" + std::string(s) + "\"";
        }
        case dom::element_type::BOOL: return e.get_bool().value_unsafe() ? "true" : "false";
        case dom::element_type::NULL_VALUE: return "null";
    }
    return "a value";
}

std::optional<dom::element> member(View v, std::string_view key) {
    dom::element e;
    if (v.obj.at_key(key).get(e) != simdjson::SUCCESS || e.is_null()) {
        return std::nullopt;
    }
    return e;
}

bool read_string(Errors& errs, View v, std::string_view key, std::string_view& out) {
    auto e = member(v, key);
    if (!e) {
        return false;
    }
    std::string_view big;
    if (e->get_string().get(out) != simdjson::SUCCESS || big_number(*e, big)) {
        PathNode at{v.path, key};
        errs.add(&at, "expected a string, got " + describe(*e));
        return false;
    }
    return true;
}

bool read_bool(Errors& errs, View v, std::string_view key, bool& out) {
    auto e = member(v, key);
    if (!e) {
        return false;
    }
    if (e->get_bool().get(out) != simdjson::SUCCESS) {
        PathNode at{v.path, key};
        errs.add(&at, "expected true or false, got " + describe(*e));
        return false;
    }
    return true;
}

bool read_int(Errors& errs, View v, std::string_view key, std::int64_t lo, std::int64_t hi,
              std::int64_t& out) {
    auto e = member(v, key);
    if (!e) {
        return false;
    }
    PathNode at{v.path, key};
    std::int64_t value = 0;
    auto t = e->type();
    std::string_view big;
    if (big_number(*e, big)) {
        errs.add(&at, std::string(big) + " is outside " + range_text(lo, hi));
        return false;
    }
    if (t == dom::element_type::UINT64) {
        errs.add(&at, std::to_string(uint64_t(e->get_uint64().value_unsafe())) + " is outside " +
                          range_text(lo, hi));
        return false;
    }
    if (t == dom::element_type::DOUBLE) {
        double d = e->get_double().value_unsafe();
        if (d < double(lo) || d > double(hi)) {
            errs.add(&at, shortest(d) + " is outside " + range_text(lo, hi));
            return false;
        }
    }
    if (t != dom::element_type::INT64 || e->get_int64().get(value) != simdjson::SUCCESS) {
        errs.add(&at, "expected an integer in " + range_text(lo, hi) + ", got " + describe(*e));
        return false;
    }
    if (value < lo || value > hi) {
        errs.add(&at, std::to_string(value) + " is outside " + range_text(lo, hi));
        return false;
    }
    out = value;
    return true;
}

std::optional<dom::array> read_array(Errors& errs, View v, std::string_view key) {
    auto e = member(v, key);
    if (!e) {
        return std::nullopt;
    }
    dom::array a;
    if (e->get_array().get(a) != simdjson::SUCCESS) {
        PathNode at{v.path, key};
        errs.add(&at, "expected an array, got " + describe(*e));
        return std::nullopt;
    }
    return a;
}

std::optional<dom::object> read_object(Errors& errs, View v, std::string_view key) {
    auto e = member(v, key);
    if (!e) {
        return std::nullopt;
    }
    dom::object o;
    if (e->get_object().get(o) != simdjson::SUCCESS) {
        PathNode at{v.path, key};
        errs.add(&at, "expected an object, got " + describe(*e));
        return std::nullopt;
    }
    return o;
}

}  // namespace ringprobe::config::detail
