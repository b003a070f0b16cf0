// The rows a render shows, grouped as the gateway composes its report: pool -> setting ->
// servers. Shared by the JSON, PowerShell and table renderers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/assert.hpp"
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

// An empty pool a rule routes to is shown, with a note and no servers, unless a filter asks for
// another pool or for a health no server of it can have.
bool shows_empty_pool(const StaticInfo& info, std::uint32_t pool, const RenderOptions& o);

// In pool order: f(g_begin, g_end) for each pool's run of groups, empty(pool) for each empty
// pool shown. Returns how many empty pools were shown.
template <typename F, typename E>
std::size_t for_each_pool(const StaticInfo& info, const Selection& sel, const RenderOptions& o,
                          F&& f, E&& empty) {
    std::size_t g = 0;
    std::size_t shown = 0;
    for (std::uint32_t p = 0; p < info.pools.size(); ++p) {
        if (g < sel.groups.size() && sel.groups[g].pool == p) {
            std::size_t h = g + 1;
            while (h < sel.groups.size() && sel.groups[h].pool == p) {
                ++h;
            }
            f(g, h);
            g = h;
        } else if (shows_empty_pool(info, p, o)) {
            empty(p);
            ++shown;
        }
    }
    RP_ASSERT(g == sel.groups.size());
    return shown;
}
}  // namespace ringprobe::report
