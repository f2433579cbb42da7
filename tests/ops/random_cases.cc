// Cases of the random family.
#include "tests/testing/op_test_case.h"

namespace ofl::testing {

std::vector<OpTestCase> RandomCases() { return {}; }

}  // namespace ofl::testing
