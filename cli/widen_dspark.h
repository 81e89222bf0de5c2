// A loaded DSpark checkpoint widened with its target (bench --widen-model with
// --draft dspark:DIR): core/model's DSparkModel handed to core/modelgen's
// write_widened_dspark as the plain data modelgen reads.
#pragma once

#include <string>

#include "core/base/status.h"
#include "core/model/dspark_model.h"
#include "core/modelgen/widen_model.h"

namespace sb::cli {

// Writes `m` widened to `shape` into directory `dst`; a mixture-of-experts or
// biased drafter is refused.
Status widen_dspark_checkpoint(const DSparkModel& m, const std::string& dst, const WidenShape& shape);

}  // namespace sb::cli
