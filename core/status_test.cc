#include "core/status.h"

#include <gtest/gtest.h>

namespace usp {
namespace {

TEST(Status, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(Status, ToStringNamesTheCodeAndMessage) {
  EXPECT_EQ(Status::InvalidArgument("bad").ToString(), "InvalidArgument: bad");
  EXPECT_EQ(Status::NotFound("x").code(), Status::Code::kNotFound);
}

TEST(Result, HoldsAValueOrAStatus) {
  Result<int> value = 7;
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(*value, 7);
  Result<int> error = Status::Internal("boom");
  EXPECT_FALSE(error.ok());
  EXPECT_EQ(error.status().message(), "boom");
}

}  // namespace
}  // namespace usp
