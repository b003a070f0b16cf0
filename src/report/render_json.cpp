// The az CLI's shape of the report (see render.hpp).
#include "report/json_document.hpp"
#include "report/render.hpp"
#include "report/selection.hpp"

namespace ringprobe::report {

std::string render_json(const Snapshot& snap, const RenderOptions& o) {
    const Selection sel = select_rows(snap, o);
    std::string out;
    out.reserve(estimate(sel, o.details));
    JsonOut j(out, false, 2);
    j.begin_object();
    j.key("backendAddressPools");
    j.begin_array();
    for_each_pool(
        *snap.info, sel, o, [&](std::size_t b, std::size_t e) { emit_pool(j, snap, sel, b, e, o); },
        [&](std::uint32_t p) { emit_empty_pool(j, *snap.info, p); });
    j.end_array();
    if (o.details) {
        emit_report_meta(j, snap);
    }
    j.end_object();
    out += '\n';
    return out;
}

}  // namespace ringprobe::report
