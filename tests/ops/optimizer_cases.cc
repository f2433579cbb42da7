// Cases of the optimizer family.
#include "tests/testing/op_test_case.h"

namespace ofl::testing {

std::vector<OpTestCase> OptimizerCases() { return {}; }

}  // namespace ofl::testing
