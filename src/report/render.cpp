// Rendering (see render.hpp): the choice of shape.
// Each shape has its own file: render_json.cpp, render_powershell.cpp (both through
// json_document.hpp), render_table.cpp, render_troubleshoot.cpp.
#include "report/render.hpp"

namespace ringprobe::report {

std::string render(const Snapshot& snap, const RenderOptions& o) {
    switch (o.format) {
        case Format::Json: return render_json(snap, o);
        case Format::Powershell: return render_powershell(snap, o);
        case Format::Table: return render_table(snap, o);
    }
    return render_table(snap, o);
}

}  // namespace ringprobe::report
