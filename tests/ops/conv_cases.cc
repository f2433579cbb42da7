// Cases of the conv family.
#include "tests/testing/op_test_case.h"

namespace ofl::testing {

std::vector<OpTestCase> ConvCases() { return {}; }

}  // namespace ofl::testing
