#pragma once
// Formats results; computes nothing.

#include <string>

#include <nlohmann/json.hpp>

#include "stalecheck/context.h"
#include "stalecheck/image.h"

namespace stalecheck {

/// SPEC §5 `fingerprint` JSON.
nlohmann::ordered_json FingerprintJson(const Context& ctx);
/// One line per entry (type, mode, size, digest, path), then the root line.
std::string FingerprintText(const Context& ctx);

/// SPEC §5 `inspect` JSON over the given view.
nlohmann::ordered_json InspectJson(const ImageView& view);
/// The layers with their `created_by`, then the files in aligned columns.
std::string InspectText(const ImageView& view);

/// "1.2K", "340B", "3.4M".
std::string HumanSize(uint64_t bytes);

}  // namespace stalecheck
