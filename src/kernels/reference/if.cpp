// If: runs then_branch or else_branch; the branches may produce differently shaped outputs, so the
// outputs are allocated at run time.
#include <memory>

#include "kernels/reference/subgraph_values.h"

namespace edgerun {
namespace {

class If final : public Kernel {
 public:
  If(const Node& node, int64_t opset) {
    const Graph* then_graph = node.attr_graph("then_branch");
    const Graph* else_graph = node.attr_graph("else_branch");
    if (!then_graph || !else_graph)
      throw Error(ErrorCode::kInvalidModel, node.describe() + ": needs then_branch and else_branch graph attributes");
    for (const Graph* g : {then_graph, else_graph}) {
      if (!g->inputs.empty())
        throw Error(ErrorCode::kInvalidModel, node.describe() + ": branch '" + g->name + "' must not declare inputs");
      if (g->outputs.size() != node.outputs.size())
        throw Error(ErrorCode::kInvalidModel, node.describe() + ": branch '" + g->name + "' has " +
                                                  std::to_string(g->outputs.size()) + " outputs, the node has " +
                                                  std::to_string(node.outputs.size()));
    }
    then_ = std::make_unique<SubgraphRunner>(*then_graph);
    else_ = std::make_unique<SubgraphRunner>(*else_graph);
  }

  void prepare(PrepareContext& ctx) override {
    if (ctx.input_dtype(0) != DType::kBool) ctx.fail(std::string("cond must be bool, got ") + dtype_name(ctx.input_dtype(0)));
    if (shape_numel(ctx.input_shape(0)) != 1)
      ctx.fail("cond must hold exactly one element, got shape " + shape_str(ctx.input_shape(0)));
    for (size_t i = 0; i < ctx.num_outputs(); ++i) {
      const DType declared = then_->graph().outputs[i].dtype;
      ctx.set_output_dynamic(i, declared == DType::kUndefined ? else_->graph().outputs[i].dtype : declared);
    }
  }

  void run(RunContext& ctx) override {
    SubgraphRunner& branch = ctx.input(0).data<bool>()[0] ? *then_ : *else_;
    const std::vector<Tensor> results = branch.run({}, ctx.outer());
    for (size_t i = 0; i < ctx.num_outputs() && i < results.size(); ++i) subgraph_values::copy_to_output(ctx, i, results[i]);
  }

 private:
  std::unique_ptr<SubgraphRunner> then_, else_;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("If", If);
}  // namespace edgerun
