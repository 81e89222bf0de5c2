// widen_pair MODEL.gguf DIM,LAYERS,FFN[,HEAD_DIM] OUT.gguf [DSPARK_DIR OUT_DIR]: writes
// bench --widen-model's function-equivalent widening of MODEL (and of its DSpark
// drafter) to files, so `specbatch run` can be timed end to end, start-up
// included, on the memory-bound pair.
#include <cstdio>
#include <string>

#include "cli/widen_dspark.h"
#include "core/model/dspark_model.h"
#include "core/model/model.h"
#include "core/modelgen/widen_model.h"

int main(int argc, char** argv) {
  if (argc != 4 && argc != 6) {
    std::fprintf(stderr, "usage: widen_pair MODEL.gguf DIM,LAYERS,FFN[,HEAD_DIM] OUT.gguf [DSPARK_DIR OUT_DIR]\n");
    return 2;
  }
  const auto shape = sb::parse_widen_shape(argv[2]);
  sb::Status st = shape.ok() ? sb::write_widened_model(argv[1], argv[3], *shape, 1234) : shape.status();
  if (st.ok() && argc == 6) {
    const auto target = sb::load_model(argv[1]);
    const auto dspark =
        target.ok() ? sb::load_dspark(argv[4], target->config) : sb::StatusOr<sb::DSparkModel>(target.status());
    st = dspark.ok() ? sb::cli::widen_dspark_checkpoint(*dspark, argv[5], *shape) : dspark.status();
  }
  if (!st.ok()) {
    std::fprintf(stderr, "widen_pair: %s\n", st.message().c_str());
    return 1;
  }
  return 0;
}
