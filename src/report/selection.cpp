// Row selection and grouping (see selection.hpp).
#include "report/selection.hpp"

#include <algorithm>

#include "report/facts.hpp"

namespace ringprobe::report {
namespace abi = report_abi;

Selection select_rows(const Snapshot& snap, const RenderOptions& o) {
    const StaticInfo& info = *snap.info;
    Selection sel;
    sel.rows.reserve(info.rows.size());
    for (std::uint32_t i = 0; i < info.rows.size(); ++i) {
        const abi::RowRecord& r = info.rows[i];
        if (!o.pool.empty() && info.str(info.pools[r.pool_index].name) != o.pool) {
            continue;
        }
        if (o.health && effective(snap, r.target_index).health != *o.health) {
            continue;
        }
        sel.rows.push_back(i);
    }
    std::stable_sort(sel.rows.begin(), sel.rows.end(), [&](std::uint32_t a, std::uint32_t b) {
        const abi::RowRecord& x = info.rows[a];
        const abi::RowRecord& y = info.rows[b];
        return x.pool_index != y.pool_index ? x.pool_index < y.pool_index
                                            : x.setting_index < y.setting_index;
    });
    for (std::size_t i = 0; i < sel.rows.size();) {
        const abi::RowRecord& r = info.rows[sel.rows[i]];
        std::size_t j = i + 1;
        while (j < sel.rows.size() && info.rows[sel.rows[j]].pool_index == r.pool_index &&
               info.rows[sel.rows[j]].setting_index == r.setting_index) {
            ++j;
        }
        sel.groups.push_back(Group{r.pool_index, r.setting_index, i, j});
        i = j;
    }
    return sel;
}

bool shows_empty_pool(const StaticInfo& info, std::uint32_t pool, const RenderOptions& o) {
    const abi::PoolRecord& p = info.pools[pool];
    return (p.flags & abi::kPoolEmptyRouted) != 0 && !o.health &&
           (o.pool.empty() || info.str(p.name) == o.pool);
}
}  // namespace ringprobe::report
