#include "runtime/query/partition_list.h"

#include <gtest/gtest.h>

namespace usp {
namespace {

TEST(ParsePartitionList, ExpandsRangesSortsAndDeduplicates) {
  auto parsed = ParsePartitionList("4-6,0,5,1");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, (std::vector<int32_t>{0, 1, 4, 5, 6}));
}

TEST(ParsePartitionList, AcceptsASinglePartition) {
  auto parsed = ParsePartitionList("3");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, (std::vector<int32_t>{3}));
}

TEST(ParsePartitionList, RejectsMalformedItems) {
  for (const char* bad : {"", ",", "a", "1,,x", "-1", "3-1", "1-", "-", "1.5", "0-2-3"}) {
    auto parsed = ParsePartitionList(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.status().code(), Status::Code::kInvalidArgument);
    }
  }
}

}  // namespace
}  // namespace usp
