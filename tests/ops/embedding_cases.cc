// Cases of the embedding family.
#include "tests/testing/op_test_case.h"

namespace ofl::testing {

std::vector<OpTestCase> EmbeddingCases() { return {}; }

}  // namespace ofl::testing
