// config.json parsing, version policies and the signature checks against a model.
#include <gtest/gtest.h>

#include "serve/model_config.h"
#include "serve_test_util.h"

using namespace edgerun;
using namespace edgerun::serve;

TEST(ModelConfig, ParsesTritonFields) {
  const auto c = parse_model_config(R"({
    "name": "m", "platform": "onnx", "max_batch_size": 8,
    "version_policy": {"latest": {"num_versions": 2}},
    "dynamic_batching": {"max_queue_delay_microseconds": 500, "preferred_batch_size": [4, 8],
                         "default_queue_policy": {"max_queue_size": 16, "default_timeout_microseconds": 1000}},
    "instance_group": [{"count": 2, "kind": "KIND_CPU"}],
    "input": [{"name": "input", "data_type": "TYPE_FP32", "dims": [1, 28, 28]}],
    "output": [{"name": "logits", "data_type": "TYPE_FP32", "dims": [10]}]})",
                                    "m");
  EXPECT_EQ(c.max_batch_size, 8);
  EXPECT_EQ(c.version_policy.kind, VersionPolicy::Kind::kLatest);
  EXPECT_EQ(c.version_policy.num_versions, 2);
  EXPECT_TRUE(c.dynamic_batching.enabled);
  EXPECT_EQ(c.dynamic_batching.max_queue_delay_us, 500);
  EXPECT_EQ(c.dynamic_batching.preferred_batch_size, (std::vector<int64_t>{4, 8}));
  EXPECT_EQ(c.dynamic_batching.max_queue_size, 16);
  EXPECT_EQ(c.dynamic_batching.default_timeout_us, 1000);
  EXPECT_EQ(c.instance_count, 2);
  EXPECT_EQ(parse_model_config(R"({"instance_count": 3, "max_batch_size": 4, "dynamic_batching": {"max_queue_size": 5}})", "m")
                .dynamic_batching.max_queue_size, 5);
  const auto model = Model::load(edgerun::serve::test::fashion_model_path());
  const auto sig = make_signature(*model, c, "m");
  EXPECT_EQ(sig.inputs[0].shape, (std::vector<int64_t>{-1, 1, 28, 28}));
  EXPECT_EQ(sig.max_batch_size, 8);
}

TEST(ModelConfig, RefusesMistakesWithContext) {
  const auto bad = [](const std::string& text) {
    try {
      parse_model_config(text, "m");
      return std::string();
    } catch (const Error& e) {
      return std::string(e.what());
    }
  };
  EXPECT_NE(bad("{").find("not valid JSON"), std::string::npos);
  EXPECT_NE(bad(R"({"max_batch_sise": 4})").find("max_batch_sise"), std::string::npos);
  EXPECT_NE(bad(R"({"max_batch_size": -1})").find("max_batch_size"), std::string::npos);
  EXPECT_NE(bad(R"({"dynamic_batching": {}})").find("max_batch_size > 0"), std::string::npos);
  EXPECT_NE(bad(R"({"version_policy": {"latest": {}, "all": {}}})").find("exactly one"), std::string::npos);
  EXPECT_NE(bad(R"({"name": "other"})").find("folder name"), std::string::npos);
  EXPECT_NE(bad(R"({"platform": "tensorflow"})").find("onnx"), std::string::npos);
  const auto model = Model::load(edgerun::serve::test::fashion_model_path());
  const auto sig_error = [&](const std::string& text) {
    try {
      make_signature(*model, parse_model_config(text, "m"), "m");
      return std::string();
    } catch (const Error& e) {
      return std::string(e.what());
    }
  };
  EXPECT_NE(sig_error(R"({"input": [{"name": "pixels"}]})").find("not in the model"), std::string::npos);
  EXPECT_NE(sig_error(R"({"input": [{"name": "input", "data_type": "TYPE_INT64"}]})").find("data_type"), std::string::npos);
  EXPECT_NE(sig_error(R"({"max_batch_size": 4, "input": [{"name": "input", "dims": [1, 28]}]})").find("dims"), std::string::npos);
  EXPECT_EQ(sig_error(R"({"max_batch_size": 4, "input": [{"name": "input", "dims": [1, 28, 28]}]})"), "");
}

TEST(ModelConfig, VersionPolicies) {
  VersionPolicy latest;
  EXPECT_EQ(select_versions(latest, {3, 1, 2}), (std::vector<int64_t>{3}));
  latest.num_versions = 2;
  EXPECT_EQ(select_versions(latest, {3, 1, 2}), (std::vector<int64_t>{2, 3}));
  VersionPolicy all;
  all.kind = VersionPolicy::Kind::kAll;
  EXPECT_EQ(select_versions(all, {3, 1, 2}), (std::vector<int64_t>{1, 2, 3}));
  VersionPolicy specific;
  specific.kind = VersionPolicy::Kind::kSpecific;
  specific.versions = {1, 3, 7};
  EXPECT_EQ(select_versions(specific, {3, 1, 2}), (std::vector<int64_t>{1, 3}));
  EXPECT_TRUE(select_versions(latest, {}).empty());
}
