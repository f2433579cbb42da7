// Cases of the matmul family.
#include "tests/testing/op_test_case.h"

namespace ofl::testing {

std::vector<OpTestCase> MatmulCases() { return {}; }

}  // namespace ofl::testing
