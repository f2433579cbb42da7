// Cases of the softmax family.
#include "tests/testing/op_test_case.h"

namespace ofl::testing {

std::vector<OpTestCase> SoftmaxCases() { return {}; }

}  // namespace ofl::testing
