#include "runtime/http/url_codec.h"

#include <gtest/gtest.h>

namespace usp {
namespace {

TEST(PercentDecode, DecodesEscapesInEitherCase) {
  EXPECT_EQ(PercentDecode("a%20b%2fc%2F", false), "a b/c/");
}

TEST(PercentDecode, KeepsPlusInPathsAndDecodesItInQueries) {
  EXPECT_EQ(PercentDecode("a+b", false), "a+b");
  EXPECT_EQ(PercentDecode("a+b", true), "a b");
}

TEST(PercentDecode, KeepsMalformedEscapesLiterally) {
  EXPECT_EQ(PercentDecode("100%", false), "100%");
  EXPECT_EQ(PercentDecode("%zz%4", false), "%zz%4");
  EXPECT_EQ(PercentDecode("%e2%82%ac", false), "\xe2\x82\xac");
}

TEST(ParseQueryString, SplitsDecodesAndKeepsLastValue) {
  std::map<std::string, std::string> q;
  ParseQueryString("types=a%2Cb&limit=5&&flag&limit=7&x+y=1+2", &q);
  EXPECT_EQ(q.at("types"), "a,b");
  EXPECT_EQ(q.at("limit"), "7");
  EXPECT_EQ(q.at("flag"), "");
  EXPECT_EQ(q.at("x y"), "1 2");
  EXPECT_EQ(q.size(), 4u);
}

}  // namespace
}  // namespace usp
