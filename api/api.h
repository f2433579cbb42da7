// Everything a model file needs: GraphBuilder and Tensor, the typed ops,
// the nn layers and the optimizers (DESIGN.md section 8).
#pragma once

#include "api/graph_builder.h"
#include "api/nn.h"
#include "api/ops.h"
#include "api/optimizer.h"
