#pragma once
// Kafka's Java-client default partitioner: murmur2 of the key bytes (seed
// 0x9747b28c), made positive with `& 0x7fffffff`, modulo the partition count.
// Keeps every output topic co-partitioned by user id with Java producers.

#include <cstdint>
#include <string_view>

namespace usp {

uint32_t Murmur2(std::string_view key);
// REQUIRES: partitions > 0.
int32_t PartitionForKey(std::string_view key, int32_t partitions);

}  // namespace usp
