#include "operator/kube/object.h"

#include <gtest/gtest.h>

namespace usp::kube {
namespace {

using nlohmann::json;

TEST(LabelSelector, MatchesEqualityAndExistenceTerms) {
  const json labels = {{"app", "usp"}, {"tier", "worker"}};
  struct Case {
    const char* selector;
    bool matches;
  };
  const Case cases[] = {
      {"", true},
      {"app=usp", true},
      {"app==usp", true},
      {"app=other", false},
      {"app!=other", true},
      {"app!=usp", false},
      {"tier", true},
      {"missing", false},
      {"!missing", true},
      {"!tier", false},
      {"app=usp, tier=worker", true},
      {"app=usp,tier=api", false},
      {"missing!=x", true},
  };
  for (const auto& c : cases) EXPECT_EQ(MatchesLabelSelector(labels, c.selector), c.matches) << c.selector;
}

TEST(JsonContains, IgnoresFieldsTheServerAdded) {
  const json desired = {{"replicas", 2}, {"template", {{"containers", {{{"name", "w"}, {"image", "i"}}}}}}};
  json actual = desired;
  actual["template"]["containers"][0]["terminationMessagePath"] = "/dev/termination-log";
  actual["progressDeadlineSeconds"] = 600;
  EXPECT_TRUE(JsonContains(actual, desired));
  actual["replicas"] = 3;
  EXPECT_FALSE(JsonContains(actual, desired));
  actual["replicas"] = 2.0;
  EXPECT_TRUE(JsonContains(actual, desired));
  actual["template"]["containers"].push_back({{"name", "sidecar"}});
  EXPECT_FALSE(JsonContains(actual, desired));  // arrays must have equal length
}

TEST(Finalizers, AreAddedAndRemovedOnce) {
  json obj = {{"metadata", {{"name", "x"}}}};
  EXPECT_FALSE(HasFinalizer(obj, "usp.dev/cleanup"));
  EXPECT_TRUE(AddFinalizer(&obj, "usp.dev/cleanup"));
  EXPECT_FALSE(AddFinalizer(&obj, "usp.dev/cleanup"));
  EXPECT_TRUE(HasFinalizer(obj, "usp.dev/cleanup"));
  EXPECT_TRUE(RemoveFinalizer(&obj, "usp.dev/cleanup"));
  EXPECT_FALSE(RemoveFinalizer(&obj, "usp.dev/cleanup"));
  EXPECT_TRUE(obj["metadata"]["finalizers"].empty());
}

TEST(OwnerReferences, MarkTheControllerByUid) {
  const json owner = {{"apiVersion", "usp.dev/v1alpha1"}, {"kind", "UserSignal"},
                      {"metadata", {{"name", "s"}, {"uid", "u-1"}}}};
  json ref = ControllerReference(owner);
  EXPECT_EQ(ref["controller"], true);
  EXPECT_EQ(ref["blockOwnerDeletion"], true);
  json dependent = {{"metadata", {{"ownerReferences", json::array({ref})}}}};
  EXPECT_TRUE(IsControlledBy(dependent, owner));
  json other = owner;
  other["metadata"]["uid"] = "u-2";
  EXPECT_FALSE(IsControlledBy(dependent, other));
}

TEST(ObjectKey, RoundTripsNamespaceAndName) {
  EXPECT_EQ(ObjectKey::Parse("ns/name"), (ObjectKey{"ns", "name"}));
  EXPECT_EQ(ObjectKey::Parse("cluster-scoped"), (ObjectKey{"", "cluster-scoped"}));
  EXPECT_EQ((ObjectKey{"a", "b"}).ToString(), "a/b");
}

}  // namespace
}  // namespace usp::kube
