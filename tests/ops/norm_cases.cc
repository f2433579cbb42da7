// Cases of the norm family.
#include "tests/testing/op_test_case.h"

namespace ofl::testing {

std::vector<OpTestCase> NormCases() { return {}; }

}  // namespace ofl::testing
