// Cases of the reduce family.
#include "tests/testing/op_test_case.h"

namespace ofl::testing {

std::vector<OpTestCase> ReduceCases() { return {}; }

}  // namespace ofl::testing
