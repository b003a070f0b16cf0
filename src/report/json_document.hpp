// The backend-health document both JSON shapes share: the az CLI's (camelCase keys, 2-space
// indent) and the PowerShell one (PascalCase, 4-space). One emitter writes keys in camelCase and
// upper-cases them on the fly for PowerShell.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/assert.hpp"
#include "report/reader.hpp"
#include "report/render.hpp"
#include "report/selection.hpp"
#include "report/text.hpp"

namespace ringprobe::report {

class JsonOut {
public:
    JsonOut(std::string& out, bool pascal, int indent)
        : out_(out), pascal_(pascal), indent_(indent) {}

    void begin_object() { open('{'); }
    void end_object() { close('}'); }
    void begin_array() { open('['); }
    void end_array() { close(']'); }

    // Keys are given in camelCase.
    void key(std::string_view k) {
        element();
        out_ += '"';
        if (pascal_ && !k.empty() && k[0] >= 'a' && k[0] <= 'z') {
            out_ += static_cast<char>(k[0] - 'a' + 'A');
            out_.append(k.substr(1));
        } else {
            out_.append(k);
        }
        out_ += "\": ";
        after_key_ = true;
    }
    void value(std::string_view s) {
        element();
        out_ += '"';
        append_json_escaped(out_, s);
        out_ += '"';
    }
    void value(std::uint64_t v) {
        element();
        append_uint(out_, v);
    }
    void value_int(std::int64_t v) {
        element();
        append_int(out_, v);
    }
    void value(bool b) {
        element();
        out_ += b ? "true" : "false";
    }
    void value_null() {
        element();
        out_ += "null";
    }
    // A string, or null when it is empty.
    void value_or_null(std::string_view s) {
        if (s.empty()) {
            value_null();
        } else {
            value(s);
        }
    }
    // A string value built by the caller straight into the output.
    template <typename F>
    void value_with(F&& f) {
        element();
        out_ += '"';
        scratch_.clear();
        f(scratch_);
        append_json_escaped(out_, scratch_);
        out_ += '"';
    }
    void field(std::string_view k, std::string_view v) {
        key(k);
        value(v);
    }
    void field(std::string_view k, std::uint64_t v) {
        key(k);
        value(v);
    }

    // Separates top-level documents of a sequence (the PowerShell shape).
    void reset_top() {
        depth_ = 0;
        first_[0] = true;
    }

private:
    void element() {
        if (after_key_) {
            after_key_ = false;
            return;
        }
        if (depth_ > 0) {
            if (!first_[depth_]) {
                out_ += ',';
            }
            newline();
        }
        first_[depth_] = false;
    }
    void open(char c) {
        element();
        out_ += c;
        RP_ASSERT(depth_ + 1 < static_cast<int>(first_.size()));
        first_[++depth_] = true;
    }
    void close(char c) {
        const bool empty = first_[depth_];
        --depth_;
        if (!empty) {
            newline();
        }
        out_ += c;
    }
    void newline() {
        out_ += '\n';
        out_.append(static_cast<std::size_t>(depth_ * indent_), ' ');
    }

    std::string& out_;
    std::string scratch_;
    bool pascal_;
    int indent_;
    int depth_ = 0;
    bool after_key_ = false;
    std::array<bool, 16> first_{true};
};
// One pool's object: backendAddressPool + backendHttpSettingsCollection, groups
// [g_begin, g_end) of the selection.
void emit_pool(JsonOut& j, const Snapshot& snap, const Selection& sel, std::size_t g_begin,
               std::size_t g_end, const RenderOptions& o);
// An empty pool's object (abi::kPoolEmptyRouted): the pool, no settings, and kEmptyPoolNote.
void emit_empty_pool(JsonOut& j, const StaticInfo& info, std::uint32_t pool_index);
// The "ringprobe" object of --details: the report's own state and the resolver's counters.
void emit_report_meta(JsonOut& j, const Snapshot& snap);
// What to reserve for the document, so a large report grows its string once or not at all.
std::size_t estimate(const Selection& sel, bool details);

}  // namespace ringprobe::report
