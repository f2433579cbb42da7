// Cases of the layout family.
#include "tests/testing/op_test_case.h"

namespace ofl::testing {

std::vector<OpTestCase> LayoutCases() { return {}; }

}  // namespace ofl::testing
