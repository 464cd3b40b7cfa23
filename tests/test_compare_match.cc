#include <doctest/doctest.h>

#include "stalecheck/compare.h"
#include "test_helpers.h"

using stalecheck::FileEntry;
using stalecheck::HistoryEntry;
using stalecheck::ImageView;

namespace {

stalecheck::CopyPlan PlanOf(const std::string& dockerfile) {
  auto df = stalecheck::ParseDockerfile(dockerfile, "Dockerfile");
  REQUIRE(df.ok());
  std::vector<FileEntry> ctx = {stalecheck::testing::FileOf("a b.txt", "a"), stalecheck::testing::DirOf("src"),
                                stalecheck::testing::FileOf("src/x.py", "x")};
  auto plan = stalecheck::BuildCopyPlan(*df, ctx, {});
  REQUIRE(plan.ok());
  return *plan;
}

// An image whose history is `entries` (created_by, whether it made a layer), after one base layer.
ImageView WithHistory(const std::vector<std::pair<std::string, bool>>& entries, bool buildkit) {
  ImageView v;
  v.layers.resize(1);
  v.history.push_back({std::nullopt, std::nullopt, std::string("Imported from -"), 0});
  for (const auto& [text, layer] : entries) {
    HistoryEntry h;
    h.created_by = text;
    if (buildkit) h.comment = "buildkit.dockerfile.v0";
    if (layer) {
      h.layer = static_cast<int>(v.layers.size());
      v.layers.emplace_back();
    }
    v.history.push_back(h);
  }
  return v;
}

constexpr const char* kDockerfile =
    "FROM base\nARG D=/opt\nENV SUB=svc\nWORKDIR $D/w\nCOPY [\"a b.txt\", \"$D/\"]\nCOPY --chown=1:2 src/ ${D}/${SUB}/\n"
    "RUN echo hi > /f\nLABEL x=y\n";

}  // namespace

TEST_SUITE("compare") {
  TEST_CASE("BuildKit's history, as the 20.10 engine wrote it, fits its Dockerfile step by step") {
    // The created_by texts are the engine's own, for this Dockerfile.
    ImageView v = WithHistory({{"ARG D=/opt", false},
                               {"ENV SUB=svc", false},
                               {"WORKDIR /opt/w", true},
                               {"COPY a b.txt /opt/ # buildkit", true},
                               {"COPY src/ /opt/svc/ # buildkit", true},
                               {"RUN |1 D=/opt /bin/sh -c echo hi > /f # buildkit", true},
                               {"LABEL x=y", false}},
                              true);
    auto m = stalecheck::MatchLayers(PlanOf(kDockerfile), v);
    REQUIRE(m.ok());
    CHECK(m->matched);
    CHECK(m->layer_step == std::vector<int>{-1, 2, 3, 4, 5});
  }

  TEST_CASE("the legacy builder's history fits by destination, and a RUN that changed nothing made no layer") {
    ImageView v = WithHistory({{"/bin/sh -c #(nop)  ARG D=/opt", false},
                               {"/bin/sh -c #(nop)  ENV SUB=svc", false},
                               {"/bin/sh -c #(nop) WORKDIR /opt/w", true},
                               {"/bin/sh -c #(nop) COPY file:4495 in /opt/ ", true},
                               {"/bin/sh -c #(nop) COPY --chown=1:2dir:9ee3 in /opt/svc/ ", true},
                               {"|1 D=/opt /bin/sh -c echo hi > /f", false},
                               {"/bin/sh -c #(nop)  LABEL x=y", false}},
                              false);
    auto m = stalecheck::MatchLayers(PlanOf(kDockerfile), v);
    REQUIRE(m.ok());
    CHECK(m->layer_step == std::vector<int>{-1, 2, 3, 4});
    CHECK(m->step_layer[5] == -1);
  }

  TEST_CASE("a history that does not fit names the layer and the line") {
    ImageView v = WithHistory({{"COPY app/ /app/app/ # buildkit", true}}, true);
    auto m = stalecheck::MatchLayers(PlanOf("FROM base\nWORKDIR /app\nCOPY . .\n"), v);
    REQUIRE_FALSE(m.ok());
    CHECK(std::string(m.status().message()) ==
          "the image does not fit the Dockerfile: layer 1 (COPY app/ /app/app/ # buildkit) is not Dockerfile:3 "
          "(COPY . .); is the image built from this Dockerfile, context, --target and --build-args?");
  }

  TEST_CASE("a history shorter than the stage's layers is an error") {
    ImageView v = WithHistory({{"COPY . . # buildkit", true}}, true);
    CHECK_FALSE(stalecheck::MatchLayers(PlanOf("FROM base\nRUN make\nCOPY . .\n"), v).ok());
  }

  TEST_CASE("an image with no history text is compared by its top-most versions") {
    ImageView v;
    v.layers.resize(2);
    v.history = {{std::nullopt, std::nullopt, std::nullopt, 0}, {std::nullopt, std::nullopt, std::nullopt, 1}};
    auto m = stalecheck::MatchLayers(PlanOf("FROM base\nCOPY . .\n"), v);
    REQUIRE(m.ok());
    CHECK_FALSE(m->matched);
  }
}
