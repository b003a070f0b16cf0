// ARM template copy loops, expanded before the gateway is read (loader.hpp).
//
// A template may write a collection as a loop instead of listing it: a resource with
// "copy": {"name": L, "count": N} stands for N resources, and an object with
// "copy": [{"name": P, "count": N, "input": V}] has a property P that is the array of N values
// V. In both, copyIndex() is the position in the loop. ARM exports and hand-written templates use
// this for network interfaces, backend pools and backend addresses. expand_copy_loops() writes
// the template again with every loop unrolled and every expression that uses copyIndex()
// evaluated; the Loader then reads that document as if the entries had been listed. Expressions
// without copyIndex() are left as they are: the Loader resolves those it can where it reads them.
//
// The evaluator knows the functions such loops use: copyIndex, length, parameters, variables,
// concat, format, add, sub, mul, string, int, toLower, toUpper, resourceId; indexing ([i]) and
// property access (.name). Anything else is refused with the JSON path of the string and the
// function's name, so a loop is never half expanded.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "common/json.hpp"
#include "common/text.hpp"
#include "config/loader.hpp"

namespace ringprobe::config::detail {

namespace {

constexpr std::int64_t copy_count_max = 800;  // ARM's own bound on a copy loop
constexpr int eval_depth_max = 32;

struct Loop {
    std::string_view name;
    std::int64_t index = 0;
};

// A value of an expression: a scalar, or a JSON value from the template or a parameters file.
struct Value {
    enum class Kind : std::uint8_t { Null, Bool, Int, String, Json } kind = Kind::Null;
    bool b = false;
    std::int64_t i = 0;
    std::string s;
    dom::element json;
};

bool is_expression(std::string_view s) {
    return s.size() >= 2 && s.front() == '[' && s.back() == ']' && s[1] != '[';
}

bool uses_copy_index(std::string_view s) {
    return is_expression(s) && lower(s).find("copyindex") != std::string::npos;
}

Value from_json(dom::element e) {
    Value v;
    std::string_view s;
    std::int64_t i = 0;
    bool b = false;
    if (e.get_string().get(s) == simdjson::SUCCESS) {
        v.kind = Value::Kind::String;
        v.s.assign(s);
    } else if (e.get_int64().get(i) == simdjson::SUCCESS) {
        v.kind = Value::Kind::Int;
        v.i = i;
    } else if (e.get_bool().get(b) == simdjson::SUCCESS) {
        v.kind = Value::Kind::Bool;
        v.b = b;
    } else if (!e.is_null()) {
        v.kind = Value::Kind::Json;
        v.json = e;
    }
    return v;
}

void write_value(std::string& out, const Value& v) {
    switch (v.kind) {
        case Value::Kind::Null: out += "null"; return;
        case Value::Kind::Bool: out += v.b ? "true" : "false"; return;
        case Value::Kind::Int: out += std::to_string(v.i); return;
        case Value::Kind::String: append_json_string(out, v.s); return;
        case Value::Kind::Json: out += simdjson::minify(v.json); return;
    }
}

// One expression, by recursive descent over its text (the brackets taken off).
class Evaluator {
public:
    Evaluator(Loader& loader, dom::object tmpl, const std::vector<Loop>& loops)
        : loader_(loader), template_(tmpl), loops_(loops) {}

    // False with `why` (what could not be evaluated) when the expression is not understood.
    bool run(std::string_view text, Value& out, std::string& why, int depth = 0) {
        s_ = text;
        i_ = 0;
        depth_ = depth;
        if (!expr(out)) {
            why = why_;
            return false;
        }
        skip_ws();
        if (i_ != s_.size()) {
            why = "unexpected \"" + std::string(s_.substr(i_, 20)) + "\"";
            return false;
        }
        return true;
    }

private:
    bool fail(std::string why) {
        if (why_.empty()) {
            why_ = std::move(why);
        }
        return false;
    }
    void skip_ws() {
        while (i_ < s_.size() && s_[i_] == ' ') {
            ++i_;
        }
    }
    bool eat(char c) {
        skip_ws();
        if (i_ < s_.size() && s_[i_] == c) {
            ++i_;
            return true;
        }
        return false;
    }

    bool expr(Value& out) {
        if (!primary(out)) {
            return false;
        }
        while (true) {
            if (eat('[')) {
                Value key;
                if (!expr(key) || !eat(']')) {
                    return fail("an index [ ... ] that is not closed");
                }
                if (!index(out, key)) {
                    return false;
                }
            } else if (eat('.')) {
                std::string_view name = identifier();
                Value key;
                key.kind = Value::Kind::String;
                key.s.assign(name);
                if (name.empty() || !index(out, key)) {
                    return fail("a property access that cannot be evaluated");
                }
            } else {
                return true;
            }
        }
    }

    bool index(Value& v, const Value& key) {
        dom::element e;
        if (v.kind == Value::Kind::Json && key.kind == Value::Kind::Int && v.json.is_array() &&
            v.json.at(static_cast<std::size_t>(std::max<std::int64_t>(key.i, 0))).get(e) ==
                simdjson::SUCCESS &&
            key.i >= 0) {
            v = from_json(e);
            return true;
        }
        if (v.kind == Value::Kind::Json && key.kind == Value::Kind::String && v.json.is_object() &&
            v.json.at_key(key.s).get(e) == simdjson::SUCCESS) {
            v = from_json(e);
            return true;
        }
        return fail("an index or property that is not in the value (index " +
                    (key.kind == Value::Kind::Int ? std::to_string(key.i) : key.s) + ")");
    }

    std::string_view identifier() {
        skip_ws();
        std::size_t start = i_;
        while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) != 0 ||
                                  s_[i_] == '_' || s_[i_] == '$')) {
            ++i_;
        }
        return s_.substr(start, i_ - start);
    }

    bool primary(Value& out) {
        skip_ws();
        if (i_ >= s_.size()) {
            return fail("an expression that ends too early");
        }
        char c = s_[i_];
        if (c == '\'') {
            return string_literal(out);
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
            std::int64_t v = 0;
            auto [end, ec] = std::from_chars(s_.data() + i_, s_.data() + s_.size(), v);
            if (ec != std::errc{}) {
                return fail("a number that does not fit");
            }
            i_ = static_cast<std::size_t>(end - s_.data());
            out.kind = Value::Kind::Int;
            out.i = v;
            return true;
        }
        std::string_view name = identifier();
        if (name.empty()) {
            return fail("unexpected \"" + std::string(s_.substr(i_, 20)) + "\"");
        }
        if (iequals(name, "true") || iequals(name, "false")) {
            out.kind = Value::Kind::Bool;
            out.b = iequals(name, "true");
            return true;
        }
        if (!eat('(')) {
            return fail("\"" + std::string(name) + "\" without its arguments");
        }
        std::vector<Value> args;
        if (!eat(')')) {
            do {
                args.emplace_back();
                if (!expr(args.back())) {
                    return false;
                }
            } while (eat(','));
            if (!eat(')')) {
                return fail("the arguments of " + std::string(name) + "() are not closed");
            }
        }
        return call(name, args, out);
    }

    bool string_literal(Value& out) {
        ++i_;
        out.kind = Value::Kind::String;
        out.s.clear();
        while (i_ < s_.size()) {
            if (s_[i_] == '\'') {
                if (i_ + 1 < s_.size() && s_[i_ + 1] == '\'') {
                    out.s += '\'';
                    i_ += 2;
                    continue;
                }
                ++i_;
                return true;
            }
            out.s += s_[i_++];
        }
        return fail("a string that is not closed");
    }

    static bool text_of(const Value& v, std::string& out) {
        if (v.kind == Value::Kind::String) {
            out += v.s;
            return true;
        }
        if (v.kind == Value::Kind::Int) {
            out += std::to_string(v.i);
            return true;
        }
        return false;
    }

    bool call(std::string_view name, std::vector<Value>& args, Value& out) {
        auto bad_args = [&] {
            return fail("the arguments of " + std::string(name) + "() are not ones it takes");
        };
        if (iequals(name, "copyIndex")) {
            return copy_index(args, out) || bad_args();
        }
        if (iequals(name, "parameters") || iequals(name, "variables")) {
            if (args.size() != 1 || args[0].kind != Value::Kind::String) {
                return bad_args();
            }
            return lookup(iequals(name, "parameters"), args[0].s, out);
        }
        if (iequals(name, "length")) {
            if (args.size() != 1) {
                return bad_args();
            }
            out.kind = Value::Kind::Int;
            if (args[0].kind == Value::Kind::String) {
                out.i = static_cast<std::int64_t>(args[0].s.size());
                return true;
            }
            dom::array a;
            dom::object o;
            if (args[0].kind == Value::Kind::Json && args[0].json.get_array().get(a) == 0) {
                out.i = static_cast<std::int64_t>(a.size());
                return true;
            }
            if (args[0].kind == Value::Kind::Json && args[0].json.get_object().get(o) == 0) {
                out.i = static_cast<std::int64_t>(o.size());
                return true;
            }
            return bad_args();
        }
        if (iequals(name, "concat") || iequals(name, "string")) {
            out.kind = Value::Kind::String;
            out.s.clear();
            for (const Value& a : args) {
                if (!text_of(a, out.s)) {
                    return fail(std::string(name) +
                                "() of something other than strings and "
                                "integers (ringprobe joins text only)");
                }
            }
            return !args.empty() || bad_args();
        }
        if (iequals(name, "format")) {
            return format(args, out) || bad_args();
        }
        if (iequals(name, "add") || iequals(name, "sub") || iequals(name, "mul")) {
            if (args.size() != 2 || args[0].kind != Value::Kind::Int ||
                args[1].kind != Value::Kind::Int) {
                return bad_args();
            }
            out.kind = Value::Kind::Int;
            out.i = iequals(name, "add")   ? args[0].i + args[1].i
                    : iequals(name, "sub") ? args[0].i - args[1].i
                                           : args[0].i * args[1].i;
            return true;
        }
        if (iequals(name, "int")) {
            std::int64_t v = 0;
            if (args.size() == 1 && args[0].kind == Value::Kind::Int) {
                out = args[0];
                return true;
            }
            if (args.size() != 1 || args[0].kind != Value::Kind::String ||
                std::from_chars(args[0].s.data(), args[0].s.data() + args[0].s.size(), v).ec !=
                    std::errc{}) {
                return bad_args();
            }
            out.kind = Value::Kind::Int;
            out.i = v;
            return true;
        }
        if (iequals(name, "toLower") || iequals(name, "toUpper")) {
            if (args.size() != 1 || args[0].kind != Value::Kind::String) {
                return bad_args();
            }
            out = args[0];
            const bool to_lower = iequals(name, "toLower");
            for (char& ch : out.s) {
                if (to_lower && ch >= 'A' && ch <= 'Z') {
                    ch = static_cast<char>(ch - 'A' + 'a');
                } else if (!to_lower && ch >= 'a' && ch <= 'z') {
                    ch = static_cast<char>(ch - 'a' + 'A');
                }
            }
            return true;
        }
        if (iequals(name, "resourceId")) {
            return resource_id(args, out) || bad_args();
        }
        return fail("the function " + std::string(name) +
                    "() is not one ringprobe evaluates (copyIndex, length, parameters, "
                    "variables, concat, format, add, sub, mul, string, int, toLower, toUpper, "
                    "resourceId)");
    }

    // copyIndex(), copyIndex(offset), copyIndex('loop'), copyIndex('loop', offset).
    bool copy_index(const std::vector<Value>& args, Value& out) {
        std::size_t k = 0;
        const Loop* loop = loops_.empty() ? nullptr : &loops_.back();
        if (k < args.size() && args[k].kind == Value::Kind::String) {
            loop = nullptr;
            for (const Loop& l : loops_) {
                loop = iequals(l.name, args[k].s) ? &l : loop;
            }
            if (loop == nullptr) {
                return fail("copyIndex('" + args[k].s + "') outside a loop of that name");
            }
            ++k;
        }
        std::int64_t offset = 0;
        if (k < args.size()) {
            if (args[k].kind != Value::Kind::Int) {
                return false;
            }
            offset = args[k++].i;
        }
        if (k != args.size()) {
            return false;
        }
        if (loop == nullptr) {
            return fail("copyIndex() outside a copy loop");
        }
        out.kind = Value::Kind::Int;
        out.i = loop->index + offset;
        return true;
    }

    bool lookup(bool parameter, const std::string& name, Value& out) {
        std::optional<dom::element> e;
        if (parameter) {
            e = loader_.arm_parameter(name);
        } else {
            dom::object vars;
            dom::element v;
            if (template_.at_key("variables").get_object().get(vars) == simdjson::SUCCESS) {
                for (auto [key, value] : vars) {
                    if (iequals(key, name)) {
                        e = value;
                    }
                }
            }
        }
        if (!e) {
            return fail(std::string(parameter ? "parameter" : "variable") + " '" + name +
                        "' has no value" +
                        (parameter ? " (no defaultValue and no --parameters file gives one)" : ""));
        }
        out = from_json(*e);
        if (!parameter && out.kind == Value::Kind::String && is_expression(out.s)) {
            if (depth_ >= eval_depth_max) {
                return fail("variables nested deeper than 32");
            }
            std::string text = out.s.substr(1, out.s.size() - 2);
            std::string why;
            Evaluator inner(loader_, template_, loops_);
            if (!inner.run(text, out, why, depth_ + 1)) {
                return fail("variable '" + name + "': " + why);
            }
        }
        return true;
    }

    // format('{0}-{1}', a, b): each {n} replaced by argument n as text; no format specifiers.
    bool format(const std::vector<Value>& args, Value& out) {
        if (args.empty() || args[0].kind != Value::Kind::String) {
            return false;
        }
        const std::string& f = args[0].s;
        out.kind = Value::Kind::String;
        out.s.clear();
        for (std::size_t k = 0; k < f.size(); ++k) {
            if (f[k] == '{' && k + 1 < f.size() && f[k + 1] == '{') {
                out.s += '{';
                ++k;
            } else if (f[k] == '}' && k + 1 < f.size() && f[k + 1] == '}') {
                out.s += '}';
                ++k;
            } else if (f[k] == '{') {
                std::size_t close = f.find('}', k);
                std::size_t n = 0;
                auto [end, ec] = std::from_chars(f.data() + k + 1, f.data() + close, n);
                if (close == std::string::npos || ec != std::errc{} || end != f.data() + close ||
                    n + 1 >= args.size() || !text_of(args[n + 1], out.s)) {
                    return fail("format('" + f + "') with a placeholder it cannot fill");
                }
                k = close;
            } else {
                out.s += f[k];
            }
        }
        return true;
    }

    // resourceId([subscription,] [group,] 'Ns/type1/type2', name1, name2): the id's provider
    // part, which is what the Loader matches references on (".../backendAddressPools/NAME").
    bool resource_id(const std::vector<Value>& args, Value& out) {
        std::size_t t = 0;
        while (t < args.size() &&
               (args[t].kind != Value::Kind::String || args[t].s.find('/') == std::string::npos)) {
            ++t;
        }
        if (t >= args.size()) {
            return false;
        }
        std::vector<std::string_view> types;
        std::string_view type = args[t].s;
        std::size_t slash = type.find('/');
        std::string_view ns = type.substr(0, slash);
        for (std::string_view rest = type.substr(slash + 1); !rest.empty();) {
            std::size_t p = rest.find('/');
            types.push_back(rest.substr(0, p));
            rest = p == std::string_view::npos ? std::string_view{} : rest.substr(p + 1);
        }
        if (args.size() - t - 1 != types.size()) {
            return false;
        }
        out.kind = Value::Kind::String;
        out.s = "/providers/" + std::string(ns);
        for (std::size_t k = 0; k < types.size(); ++k) {
            out.s += '/';
            out.s += types[k];
            out.s += '/';
            if (!text_of(args[t + 1 + k], out.s)) {
                return false;
            }
        }
        return true;
    }

    Loader& loader_;
    dom::object template_;
    const std::vector<Loop>& loops_;
    std::string_view s_;
    std::size_t i_ = 0;
    int depth_ = 0;
    std::string why_;
};

}  // namespace

// Writes `e` again as JSON with its copy loops unrolled (see the top of this file).
class CopyExpander {
public:
    CopyExpander(Loader& loader, dom::object tmpl, Errors& errs)
        : loader_(loader), template_(tmpl), errs_(errs) {}

    void value(dom::element e, const PathNode* at, std::string& out) {
        std::string_view s;
        if (e.get_string().get(s) == simdjson::SUCCESS) {
            string(s, at, out);
            return;
        }
        dom::array a;
        if (e.get_array().get(a) == simdjson::SUCCESS) {
            array(a, at, out, false);
            return;
        }
        dom::object o;
        if (e.get_object().get(o) == simdjson::SUCCESS) {
            object(o, at, out);
            return;
        }
        out += simdjson::minify(e);
    }

    // The template's "resources": a resource with a copy object becomes `count` resources.
    void array(dom::array a, const PathNode* at, std::string& out, bool resources) {
        out += '[';
        bool first = true;
        std::int64_t i = 0;
        for (dom::element e : a) {
            PathNode item_at{at, {}, i++};
            dom::object o;
            dom::object copy;
            if (resources && !read_by_loader(e)) {
                out += first ? "" : ",";
                first = false;
                out += simdjson::minify(e);  // virtual machines, networks...: left as they are
                continue;
            }
            if (!resources || e.get_object().get(o) != simdjson::SUCCESS ||
                o.at_key("copy").get_object().get(copy) != simdjson::SUCCESS) {
                out += first ? "" : ",";
                first = false;
                value(e, &item_at, out);
                continue;
            }
            PathNode copy_at{&item_at, "copy"};
            std::int64_t n = 0;
            std::string_view loop_name;
            if (!copy_count(copy, &copy_at, n, loop_name)) {
                continue;
            }
            for (std::int64_t k = 0; k < n; ++k) {
                out += first ? "" : ",";
                first = false;
                loops_.push_back(Loop{loop_name, k});
                object_without_copy(o, &item_at, out);
                loops_.pop_back();
            }
        }
        out += ']';
    }

private:
    // The resources the Loader reads; the loops of any other are none of ringprobe's business
    // and may use functions it does not evaluate.
    static bool read_by_loader(dom::element resource) {
        std::string_view type;
        if (resource.at_key("type").get_string().get(type) != simdjson::SUCCESS) {
            return false;
        }
        return iequals(type, "Microsoft.Network/applicationGateways") ||
               iequals(type, "Microsoft.Network/networkInterfaces") ||
               iequals(type, "Microsoft.Compute/virtualMachineScaleSets");
    }

    // Inside a loop every expression is evaluated where it can be (its value may depend on the
    // loop in ways the Loader's reading of the text cannot see); one that uses copyIndex() must
    // be, the others are left as they are when they cannot.
    void string(std::string_view s, const PathNode* at, std::string& out) {
        if (loops_.empty() || !is_expression(s)) {
            append_json_string(out, s);
            return;
        }
        Value v;
        if (!evaluate(s, at, v, uses_copy_index(s))) {
            if (uses_copy_index(s)) {
                out += "null";
            } else {
                append_json_string(out, s);
            }
            return;
        }
        write_value(out, v);
    }

    bool evaluate(std::string_view s, const PathNode* at, Value& v, bool must = true) {
        std::string why;
        Evaluator ev(loader_, template_, loops_);
        if (!ev.run(s.substr(1, s.size() - 2), v, why)) {
            // Once per place, not once per pass of the loops around it.
            std::string path = render_path(at);
            if (must && std::find(reported_.begin(), reported_.end(), path) == reported_.end()) {
                errs_.add_text(path,
                               "cannot evaluate \"" + std::string(s.substr(0, 80)) + "\": " + why);
                reported_.push_back(std::move(path));
            }
            return false;
        }
        return true;
    }

    // The loop's count (a number or an expression) and name; false after reporting.
    bool copy_count(dom::object copy, const PathNode* copy_at, std::int64_t& n,
                    std::string_view& name) {
        PathNode count_at{copy_at, "count"};
        PathNode name_at{copy_at, "name"};
        dom::element count;
        if (copy.at_key("name").get_string().get(name) != simdjson::SUCCESS || name.empty()) {
            errs_.add(&name_at, "missing; a copy loop needs a name");
            return false;
        }
        if (copy.at_key("count").get(count) != simdjson::SUCCESS) {
            errs_.add(&count_at, "missing; a copy loop needs a count");
            return false;
        }
        std::string_view text;
        Value v = from_json(count);
        if (count.get_string().get(text) == simdjson::SUCCESS && is_expression(text) &&
            !evaluate(text, &count_at, v)) {
            return false;
        }
        if (v.kind != Value::Kind::Int || v.i < 0 || v.i > copy_count_max) {
            errs_.add(&count_at, "the count of copy loop " + std::string(name) +
                                     " must be an integer in 0..800, got " + describe(count));
            return false;
        }
        n = v.i;
        return true;
    }

    void object(dom::object o, const PathNode* at, std::string& out) {
        dom::array loops;
        if (o.at_key("copy").get_array().get(loops) != simdjson::SUCCESS) {
            members(o, at, out, false);
            return;
        }
        // Property copy loops: one array per loop, then the other members as they are.
        out += '{';
        bool first = true;
        PathNode copy_at{at, "copy"};
        std::int64_t i = 0;
        for (dom::element e : loops) {
            PathNode loop_at{&copy_at, {}, i++};
            dom::object loop;
            dom::element input;
            std::int64_t n = 0;
            std::string_view name;
            if (e.get_object().get(loop) != simdjson::SUCCESS) {
                errs_.add(&loop_at,
                          "expected a property copy loop (an object), got " + describe(e));
                continue;
            }
            if (!copy_count(loop, &loop_at, n, name)) {
                continue;
            }
            PathNode input_at{&loop_at, "input"};
            if (loop.at_key("input").get(input) != simdjson::SUCCESS) {
                errs_.add(&input_at, "missing; a property copy loop needs an input");
                continue;
            }
            out += first ? "" : ",";
            first = false;
            append_json_string(out, name);
            out += ":[";
            for (std::int64_t k = 0; k < n; ++k) {
                out += k == 0 ? "" : ",";
                loops_.push_back(Loop{name, k});
                value(input, &input_at, out);
                loops_.pop_back();
            }
            out += ']';
        }
        members_inner(o, at, out, true, first);
        out += '}';
    }

    void object_without_copy(dom::object o, const PathNode* at, std::string& out) {
        members(o, at, out, true);
    }

    void members(dom::object o, const PathNode* at, std::string& out, bool skip_copy) {
        out += '{';
        members_inner(o, at, out, skip_copy, true);
        out += '}';
    }

    // Writes the members (without "copy" when skip_copy), after others when !first.
    void members_inner(dom::object o, const PathNode* at, std::string& out, bool skip_copy,
                       bool first) {
        for (auto [key, v] : o) {
            if (skip_copy && key == "copy") {
                continue;
            }
            out += first ? "" : ",";
            first = false;
            append_json_string(out, key);
            out += ':';
            PathNode child{at, key};
            if (at == nullptr && key == "resources") {
                dom::array a;
                if (v.get_array().get(a) == simdjson::SUCCESS) {
                    array(a, &child, out, true);
                    continue;
                }
            }
            value(v, &child, out);
        }
    }

    Loader& loader_;
    dom::object template_;
    Errors& errs_;
    std::vector<Loop> loops_;
    std::vector<std::string> reported_;  // paths of the expressions refused so far
};

// A template with no "copy" member is read as it is; otherwise it is written again unrolled
// and parsed with a parser of the Loader's own (the DOM must outlive the reading).
bool Loader::expand_copy_loops(dom::element& root) {
    if (json_.find("\"copy\"") == std::string_view::npos) {
        return true;
    }
    std::string text;
    text.reserve(json_.size());
    CopyExpander expander(*this, template_, errs_);
    expander.value(root, nullptr, text);
    if (errs_.any()) {
        return false;
    }
    expanded_ = simdjson::padded_string(text);
    side_parsers_.push_back(std::make_unique<dom::parser>());
    if (side_parsers_.back()->parse(expanded_).get(root) != simdjson::SUCCESS) {
        errs_.add_text("", "the template with its copy loops unrolled is not valid JSON");
        return false;
    }
    return true;
}

}  // namespace ringprobe::config::detail
