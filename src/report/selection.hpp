// The rows a render shows, grouped as the gateway composes its report: pool -> setting ->
// servers. Shared by the JSON, PowerShell and table renderers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "report/reader.hpp"
#include "report/render.hpp"

namespace ringprobe::report {

// Rows grouped as the gateway composes its report: pool -> setting -> servers.
struct Group {
    std::uint32_t pool;
    std::uint32_t setting;
    std::size_t begin;  // into the sorted row list
    std::size_t end;
};

struct Selection {
    std::vector<std::uint32_t> rows;  // row indices, sorted by (pool, setting), stable
    std::vector<Group> groups;
};

// The rows that pass the options' pool and health filters, grouped.
Selection select_rows(const Snapshot& snap, const RenderOptions& o);

// Calls f(g_begin, g_end) for each pool's run of groups.
template <typename F>
void for_each_pool(const Selection& sel, F&& f) {
    for (std::size_t g = 0; g < sel.groups.size();) {
        std::size_t h = g + 1;
        while (h < sel.groups.size() && sel.groups[h].pool == sel.groups[g].pool) {
            ++h;
        }
        f(g, h);
        g = h;
    }
}
}  // namespace ringprobe::report
