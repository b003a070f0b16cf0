// The PowerShell shape of the report (see render.hpp): the same document as the JSON, one
// PascalCase object per pool.
#include "report/json_document.hpp"
#include "report/render.hpp"
#include "report/selection.hpp"

namespace ringprobe::report {

std::string render_powershell(const Snapshot& snap, const RenderOptions& o) {
    const Selection sel = select_rows(snap, o);
    std::string out;
    out.reserve(estimate(sel, o.details) * 3 / 2);
    JsonOut j(out, true, 4);
    for_each_pool(
        *snap.info, sel, o,
        [&](std::size_t b, std::size_t e) {
            j.reset_top();
            emit_pool(j, snap, sel, b, e, o);
            out += '\n';
        },
        [&](std::uint32_t p) {
            j.reset_top();
            emit_empty_pool(j, *snap.info, p);
            out += '\n';
        });
    return out;
}
}  // namespace ringprobe::report
