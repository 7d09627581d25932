#pragma once
// Parses the --partitions flag: "0,1,4-7" -> {0, 1, 4, 5, 6, 7}.

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace usp {

// Sorted and without duplicates. Errors (InvalidArgument): an empty list,
// a negative or non-numeric item, a reversed range.
Result<std::vector<int32_t>> ParsePartitionList(std::string_view text);

}  // namespace usp
