// Segment names (shared by the writer and the reader).
#include "report/names.hpp"

namespace ringprobe::report {
namespace abi = report_abi;

Result<void> check_segment_name(std::string_view name) {
    if (name.empty() || name.size() > abi::kNameMax) {
        return error("report name must be 1.." + std::to_string(abi::kNameMax) + " bytes");
    }
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok) {
            return error("report name '" + std::string(name) +
                         "' may only contain letters, digits, '.', '_' and '-' (use --name)");
        }
    }
    return {};
}

std::string segment_path(std::string_view name) {
    std::string p = "/dev/shm/";
    p += abi::kShmPrefix;
    p += name;
    return p;
}

}  // namespace ringprobe::report
