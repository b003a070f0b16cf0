// Rendering (see render.hpp): the JSON string escape every shape uses, and the choice of shape.
// Each shape has its own file: render_json.cpp, render_powershell.cpp (both through
// json_document.hpp), render_table.cpp, render_troubleshoot.cpp.
#include "report/render.hpp"

namespace ringprobe::report {

void append_json_escaped(std::string& out, std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::size_t i = 0;
    while (i < s.size()) {
        // Fast path: a run of ASCII that needs no escaping.
        std::size_t j = i;
        while (j < s.size()) {
            const auto c = static_cast<unsigned char>(s[j]);
            if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) {
                break;
            }
            ++j;
        }
        out.append(s.data() + i, j - i);
        i = j;
        if (i == s.size()) {
            break;
        }
        const auto c = static_cast<unsigned char>(s[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
            ++i;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            out += '\\';
            out += c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            ++i;
        } else if (c < 0x20) {
            out += "\\u00";
            out += kHex[c >> 4];
            out += kHex[c & 15];
            ++i;
        } else {
            std::size_t n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3
                          : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
            bool ok = n != 0 && i + n <= s.size();
            for (std::size_t k = 1; ok && k < n; ++k) {
                ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
            }
            if (ok) {
                out.append(s.data() + i, n);
                i += n;
            } else {
                out += "\xEF\xBF\xBD";
                ++i;
            }
        }
    }
}

std::string render(const Snapshot& snap, const RenderOptions& o) {
    switch (o.format) {
        case Format::Json: return render_json(snap, o);
        case Format::Powershell: return render_powershell(snap, o);
        case Format::Table: return render_table(snap, o);
    }
    return render_table(snap, o);
}

}  // namespace ringprobe::report
