// Cases of the loss family.
#include "tests/testing/op_test_case.h"

namespace ofl::testing {

std::vector<OpTestCase> LossCases() { return {}; }

}  // namespace ofl::testing
