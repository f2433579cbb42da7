// The general boxing algorithm moves every logical tensor correctly: for
// every pair of (placement, NdSbp) built from B, S(0), S(1), P(sum) (and
// P(max)) on 1-4 devices, a 2x2 mesh and between placements, on uneven
// shapes, the logical tensor assembled from the destination pieces equals
// the one the source pieces describe. Partial sources are random mixed-sign
// decompositions, so a plan that drops or doubles an addend fails.
#include "compiler/boxing/region_boxing.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "compiler/boxing/boxing_kind.h"
#include "oneflow_like/host_tensor.h"
#include "sbp/slicing.h"

namespace ofl::compiler {
namespace {

constexpr double kUncovered = std::numeric_limits<double>::quiet_NaN();

// Visits every element of `what` as (offset in a tensor holding `holder`).
template <typename F>
void ForEachElement(const Region& what, const Region& holder, F&& visit) {
  const Shape extent = what.Extent();
  if (extent.NumElements() == 0) return;
  const Shape holder_extent = holder.Extent();
  const std::vector<int64_t> strides = holder_extent.Strides();
  const int rank = what.rank();
  std::vector<int64_t> index(rank, 0);
  for (int64_t n = 0; n < extent.NumElements(); ++n) {
    int64_t offset = 0;
    for (int axis = 0; axis < rank; ++axis)
      offset += (what.begin[axis] + index[axis] - holder.begin[axis]) * strides[axis];
    visit(offset);
    for (int axis = rank - 1; axis >= 0; --axis) {
      if (++index[axis] < extent[axis]) break;
      index[axis] = 0;
    }
  }
}

// Offsets of the elements of `what` inside tensors holding `a` and `b`.
template <typename F>
void ForEachPair(const Region& what, const Region& a, const Region& b, F&& visit) {
  std::vector<int64_t> offsets_a;
  ForEachElement(what, a, [&](int64_t offset) { offsets_a.push_back(offset); });
  size_t k = 0;
  ForEachElement(what, b, [&](int64_t offset) { visit(offsets_a[k++], offset); });
}

HostTensor Random(const Shape& shape, std::mt19937& rng) {
  std::uniform_real_distribution<double> uniform(-2.0, 2.0);
  HostTensor tensor(TensorDesc{shape, DType::kF64});
  for (int64_t i = 0; i < tensor.NumElements(); ++i) tensor.data<double>()[i] = uniform(rng);
  return tensor;
}

// Index of the addend a device holds: its coordinates along Partial axes.
int AddendIndex(const NdSbp& sbp, const Placement& placement, int device) {
  const std::vector<int64_t> coordinates = placement.MeshCoordinates(device);
  int index = 0;
  for (size_t axis = 0; axis < sbp.size(); ++axis) {
    if (sbp[axis].IsPartial())
      index = index * static_cast<int>(placement.hierarchy()[axis]) + coordinates[axis];
  }
  return index;
}

int NumAddends(const NdSbp& sbp, const Placement& placement) {
  int count = 1;
  for (size_t axis = 0; axis < sbp.size(); ++axis) {
    if (sbp[axis].IsPartial()) count *= static_cast<int>(placement.hierarchy()[axis]);
  }
  return count;
}

bool IsMax(const NdSbp& sbp) {
  for (const Sbp& s : sbp) {
    if (s.kind == Sbp::Kind::kPartialMax) return true;
  }
  return false;
}

// Whole-shaped addends whose sum (or max) is `logical`: mixed-sign random
// parts for sum; for max, values below the logical one with one randomly
// chosen addend per element equal to it.
std::vector<HostTensor> Decompose(const HostTensor& logical, int count, bool max, std::mt19937& rng) {
  std::vector<HostTensor> addends;
  std::uniform_real_distribution<double> uniform(-3.0, 3.0);
  for (int a = 0; a < count; ++a) addends.push_back(HostTensor(logical.desc()));
  const int64_t n = logical.NumElements();
  for (int64_t i = 0; i < n; ++i) {
    const double value = logical.data<double>()[i];
    if (max) {
      const int holder = static_cast<int>(rng() % count);
      for (int a = 0; a < count; ++a) {
        addends[a].data<double>()[i] = a == holder ? value : value - std::abs(uniform(rng)) - 0.1;
      }
    } else {
      double rest = value;
      for (int a = 0; a + 1 < count; ++a) {
        addends[a].data<double>()[i] = uniform(rng);
        rest -= addends[a].data<double>()[i];
      }
      addends[count - 1].data<double>()[i] = rest;
    }
  }
  return addends;
}

// Source pieces: device d holds its region of addend AddendIndex(d); copies
// along Broadcast axes are identical, as the runtime guarantees.
std::vector<HostTensor> MakePieces(const HostTensor& logical, const Placement& placement, const NdSbp& sbp,
                                   std::mt19937& rng) {
  const std::vector<HostTensor> addends = Decompose(logical, NumAddends(sbp, placement), IsMax(sbp), rng);
  std::vector<HostTensor> pieces;
  const Region whole = Region::Whole(logical.shape());
  for (int d = 0; d < placement.num_devices(); ++d) {
    const Region region = PhysicalRegion(logical.shape(), sbp, placement, d);
    HostTensor piece(TensorDesc{region.Extent(), DType::kF64});
    CopyRegion(addends[AddendIndex(sbp, placement, d)].AsBlob(), whole, piece.AsBlob(), region, region);
    pieces.push_back(piece);
  }
  return pieces;
}

// Runs the plan on host pieces the way a CPU runtime would.
std::vector<HostTensor> Apply(const RegionBoxing& plan, const std::vector<HostTensor>& sources) {
  std::vector<HostTensor> destinations;
  for (size_t d = 0; d < plan.dst_regions.size(); ++d) {
    HostTensor piece(TensorDesc{plan.dst_regions[d].Extent(), DType::kF64});
    double fill = kUncovered;  // kCopy: every element must be written
    if (plan.fill_mode[d] == TransferMode::kSum) fill = 0.0;
    if (plan.fill_mode[d] == TransferMode::kMax) fill = -std::numeric_limits<double>::infinity();
    for (int64_t i = 0; i < piece.NumElements(); ++i) piece.data<double>()[i] = fill;
    destinations.push_back(piece);
  }
  for (const BoxingTransfer& t : plan.transfers) {
    const HostTensor& src = sources.at(t.src_device);
    const HostTensor& dst = destinations.at(t.dst_device);
    const Region& src_region = plan.src_regions.at(t.src_device);
    const Region& dst_region = plan.dst_regions.at(t.dst_device);
    if (t.mode == TransferMode::kMax) {
      ForEachPair(t.region, src_region, dst_region, [&](int64_t s, int64_t o) {
        double& out = dst.data<double>()[o];
        out = std::max(out, src.data<double>()[s]);
      });
    } else {
      CopyRegion(src.AsBlob(), src_region, dst.AsBlob(), dst_region, t.region, t.mode == TransferMode::kSum);
    }
  }
  return destinations;
}

// The logical tensor the destination pieces describe. Copies along
// Broadcast axes must agree; addends combine by sum or max; every element
// of every addend must be written.
void ExpectAssemblesTo(const HostTensor& expected, const std::vector<HostTensor>& pieces,
                       const Placement& placement, const NdSbp& sbp, const std::string& what) {
  const Shape& shape = expected.shape();
  const Region whole = Region::Whole(shape);
  const int count = NumAddends(sbp, placement);
  std::vector<HostTensor> addends;
  for (int a = 0; a < count; ++a) {
    HostTensor addend(expected.desc());
    for (int64_t i = 0; i < addend.NumElements(); ++i) addend.data<double>()[i] = kUncovered;
    addends.push_back(addend);
  }
  for (int d = 0; d < placement.num_devices(); ++d) {
    const Region region = PhysicalRegion(shape, sbp, placement, d);
    const HostTensor& addend = addends[AddendIndex(sbp, placement, d)];
    bool disagree = false;
    ForEachPair(region, region, whole, [&](int64_t p, int64_t w) {
      const double value = pieces[d].data<double>()[p];
      double& slot = addend.data<double>()[w];
      if (!std::isnan(slot) && slot != value) disagree = true;
      slot = value;
    });
    ASSERT_FALSE(disagree) << what << ": copies on device " << d << " differ from another copy";
  }
  const bool max = IsMax(sbp);
  for (int64_t i = 0; i < expected.NumElements(); ++i) {
    double value = max ? -std::numeric_limits<double>::infinity() : 0.0;
    for (int a = 0; a < count; ++a) {
      const double part = addends[a].data<double>()[i];
      ASSERT_FALSE(std::isnan(part)) << what << ": element " << i << " of addend " << a
                                     << " was never written";
      value = max ? std::max(value, part) : value + part;
    }
    ASSERT_NEAR(value, expected.data<double>()[i], 1e-9) << what << ": element " << i;
  }
}

std::string Describe(const Placement& from_placement, const NdSbp& from, const Placement& to_placement,
                     const NdSbp& to, const Shape& shape) {
  return from_placement.ToString() + " " + NdSbpToString(from) + " -> " + to_placement.ToString() + " " +
         NdSbpToString(to) + " on " + shape.ToString();
}

// Plans, applies and checks one move; returns the plan for further checks.
RegionBoxing CheckMove(const Shape& shape, const Placement& from_placement, const NdSbp& from,
                       const Placement& to_placement, const NdSbp& to, std::mt19937& rng) {
  const std::string what = Describe(from_placement, from, to_placement, to, shape);
  const HostTensor logical = Random(shape, rng);
  StatusOr<RegionBoxing> plan = PlanRegionBoxing(logical.desc(), from_placement, from, to_placement, to);
  EXPECT_TRUE(plan.ok()) << what << ": " << plan.status().message();
  if (!plan.ok()) return {};
  EXPECT_EQ(plan.value().dst_regions.size(), static_cast<size_t>(to_placement.num_devices())) << what;
  EXPECT_EQ(plan.value().fill_mode.size(), static_cast<size_t>(to_placement.num_devices())) << what;
  const std::vector<HostTensor> sources = MakePieces(logical, from_placement, from, rng);
  const std::vector<HostTensor> destinations = Apply(plan.value(), sources);
  ExpectAssemblesTo(logical, destinations, to_placement, to, what);
  return plan.value();
}

// Every NdSbp of `rank` mesh axes built from `choices` per axis.
std::vector<NdSbp> AllNdSbps(const std::vector<Sbp>& choices, int rank) {
  std::vector<NdSbp> result{{}};
  for (int axis = 0; axis < rank; ++axis) {
    std::vector<NdSbp> next;
    for (const NdSbp& prefix : result) {
      for (const Sbp& sbp : choices) {
        NdSbp extended = prefix;
        extended.push_back(sbp);
        next.push_back(extended);
      }
    }
    result = next;
  }
  return result;
}

const std::vector<Sbp> kFour = {Sbp::Broadcast(), Sbp::Split(0), Sbp::Split(1), Sbp::PartialSum()};
const std::vector<Sbp> kFive = {Sbp::Broadcast(), Sbp::Split(0), Sbp::Split(1), Sbp::PartialSum(),
                                Sbp::PartialMax()};
const std::vector<Shape> kShapes = {Shape{5, 7}, Shape{2, 3}, Shape{1, 9}};

Placement Devices(std::vector<int> indices, Shape hierarchy) {
  std::vector<DeviceId> devices;
  for (int index : indices) devices.push_back(DeviceId{DeviceType::kCPU, 0, index});
  return Placement::Create(DeviceType::kCPU, devices, std::move(hierarchy)).ValueOrThrow();
}

// Transfers of a fast-path kind stay where its collective runs: local kinds
// never leave the device; the others stay inside the destination's group
// along the converted mesh axis.
void ExpectTransfersFitKind(const RegionBoxing& plan, const Placement& placement, BoxingKind kind,
                            int mesh_axis, const std::string& what) {
  if (kind == BoxingKind::kGeneral) return;
  const bool local =
      kind == BoxingKind::kIdentity || kind == BoxingKind::kLocalSlice || kind == BoxingKind::kKeepOnOne;
  for (const BoxingTransfer& t : plan.transfers) {
    if (local) {
      EXPECT_EQ(t.src_device, t.dst_device) << what << ": " << BoxingKindName(kind) << " must not move data";
      continue;
    }
    const std::vector<int64_t> src = placement.MeshCoordinates(t.src_device);
    const std::vector<int64_t> dst = placement.MeshCoordinates(t.dst_device);
    for (size_t axis = 0; axis < src.size(); ++axis) {
      if (static_cast<int>(axis) == mesh_axis) continue;
      EXPECT_EQ(src[axis], dst[axis]) << what << ": " << BoxingKindName(kind) << " on mesh axis " << mesh_axis
                                      << " moved data across mesh axis " << axis;
    }
  }
}

TEST(RegionBoxingTest, EveryOneDimensionalPairOnOneToFourDevices) {
  std::mt19937 rng(7);
  int checked = 0;
  for (int n = 1; n <= 4; ++n) {
    const Placement placement = Placement::Linear(DeviceType::kCPU, n);
    for (const Shape& shape : kShapes) {
      for (const Sbp& from : kFive) {
        for (const Sbp& to : kFive) {
          const RegionBoxing plan = CheckMove(shape, placement, {from}, placement, {to}, rng);
          int axis = -1;
          const BoxingKind kind = ClassifyBoxing(placement, {from}, placement, {to}, &axis);
          ExpectTransfersFitKind(plan, placement, kind, axis,
                                 Describe(placement, {from}, placement, {to}, shape));
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(checked, 4 * 3 * 25);
}

TEST(RegionBoxingTest, EveryPairOnTwoByTwoMesh) {
  std::mt19937 rng(11);
  const Placement mesh = Placement::Mesh(DeviceType::kCPU, Shape{2, 2}).ValueOrThrow();
  const std::vector<NdSbp> all = AllNdSbps(kFour, 2);
  ASSERT_EQ(all.size(), 16u);
  for (const Shape& shape : kShapes) {
    for (const NdSbp& from : all) {
      for (const NdSbp& to : all) {
        const RegionBoxing plan = CheckMove(shape, mesh, from, mesh, to, rng);
        int axis = -1;
        const BoxingKind kind = ClassifyBoxing(mesh, from, mesh, to, &axis);
        ExpectTransfersFitKind(plan, mesh, kind, axis, Describe(mesh, from, mesh, to, shape));
      }
    }
  }
}

TEST(RegionBoxingTest, PartialMaxOnTwoByTwoMesh) {
  std::mt19937 rng(13);
  const Placement mesh = Placement::Mesh(DeviceType::kCPU, Shape{2, 2}).ValueOrThrow();
  const std::vector<NdSbp> all =
      AllNdSbps({Sbp::Broadcast(), Sbp::Split(0), Sbp::Split(1), Sbp::PartialMax()}, 2);
  for (const NdSbp& from : all) {
    for (const NdSbp& to : all) CheckMove(Shape{5, 7}, mesh, from, mesh, to, rng);
  }
}

TEST(RegionBoxingTest, MovesBetweenPlacements) {
  std::mt19937 rng(17);
  const Placement two = Placement::Linear(DeviceType::kCPU, 2);
  const Placement three = Placement::Linear(DeviceType::kCPU, 3);
  const Placement four = Placement::Linear(DeviceType::kCPU, 4);
  const Placement mesh = Placement::Mesh(DeviceType::kCPU, Shape{2, 2}).ValueOrThrow();
  const Placement upper = Devices({2, 3}, Shape{2});
  const Placement one_far = Devices({3}, Shape{1});
  struct Move {
    Placement from;
    Placement to;
  };
  const std::vector<Move> moves = {{two, three}, {three, two},  {four, mesh},    {mesh, four},   {two, upper},
                                   {upper, two}, {mesh, three}, {one_far, mesh}, {mesh, one_far}};
  for (const Move& move : moves) {
    const std::vector<NdSbp> from_all = AllNdSbps(kFour, move.from.hierarchy().rank());
    const std::vector<NdSbp> to_all = AllNdSbps(kFour, move.to.hierarchy().rank());
    for (const Shape& shape : kShapes) {
      for (const NdSbp& from : from_all) {
        for (const NdSbp& to : to_all) {
          CheckMove(shape, move.from, from, move.to, to, rng);
          EXPECT_EQ(ClassifyBoxing(move.from, from, move.to, to), BoxingKind::kGeneral);
        }
      }
    }
  }
}

TEST(RegionBoxingTest, DisjointPlacementsMoveEveryElementOnce) {
  // cpu:0-1 S(0) -> cpu:2-3 S(0): each destination row comes from exactly
  // one source, and nothing is read twice.
  std::mt19937 rng(19);
  const Placement low = Placement::Linear(DeviceType::kCPU, 2);
  const Placement high = Devices({2, 3}, Shape{2});
  const RegionBoxing plan = CheckMove(Shape{5, 7}, low, {Sbp::Split(0)}, high, {Sbp::Split(0)}, rng);
  int64_t moved = 0;
  for (const BoxingTransfer& t : plan.transfers) moved += t.region.NumElements();
  EXPECT_EQ(moved, 35);
  EXPECT_EQ(plan.transfers.size(), 2u);
}

TEST(RegionBoxingTest, BroadcastSourceIsReadFromTheSameDevice) {
  // cpu:0-3 B -> cpu:1-2 S(1): cpu:1 and cpu:2 hold copies, so nothing
  // crosses devices.
  std::mt19937 rng(23);
  const Placement four = Placement::Linear(DeviceType::kCPU, 4);
  const Placement middle = Devices({1, 2}, Shape{2});
  const RegionBoxing plan = CheckMove(Shape{5, 7}, four, {Sbp::Broadcast()}, middle, {Sbp::Split(1)}, rng);
  ASSERT_EQ(plan.transfers.size(), 2u);
  for (const BoxingTransfer& t : plan.transfers) {
    EXPECT_EQ(four.devices()[t.src_device], middle.devices()[t.dst_device]);
  }
}

TEST(RegionBoxingTest, PartialSumDestinationKeepsPiecesWhereTheyAre) {
  // S(0) -> P on 3 devices: each device keeps its rows and zeros elsewhere;
  // nothing crosses devices (the cost model's 0 for S->P).
  std::mt19937 rng(29);
  const Placement three = Placement::Linear(DeviceType::kCPU, 3);
  const RegionBoxing split = CheckMove(Shape{5, 7}, three, {Sbp::Split(0)}, three, {Sbp::PartialSum()}, rng);
  ASSERT_EQ(split.transfers.size(), 3u);
  for (const BoxingTransfer& t : split.transfers) EXPECT_EQ(t.src_device, t.dst_device);
  for (TransferMode mode : split.fill_mode) EXPECT_EQ(mode, TransferMode::kSum);
  // B -> P: the copy at coordinate 0 keeps the value, the others hold zeros
  // and receive nothing.
  const RegionBoxing broadcast =
      CheckMove(Shape{5, 7}, three, {Sbp::Broadcast()}, three, {Sbp::PartialSum()}, rng);
  ASSERT_EQ(broadcast.transfers.size(), 1u);
  EXPECT_EQ(broadcast.transfers[0].src_device, 0);
  EXPECT_EQ(broadcast.transfers[0].dst_device, 0);
  EXPECT_EQ(broadcast.fill_mode,
            (std::vector<TransferMode>{TransferMode::kCopy, TransferMode::kSum, TransferMode::kSum}));
  // Between placements, a piece nobody on the destination holds lands on the
  // device at coordinate 0 of the Partial axis.
  const Placement mesh = Placement::Mesh(DeviceType::kCPU, Shape{2, 2}).ValueOrThrow();
  const Placement upper = Devices({4, 5}, Shape{2});
  const RegionBoxing moved =
      CheckMove(Shape{5, 7}, upper, {Sbp::Split(1)}, mesh, {Sbp::PartialSum(), Sbp::Split(0)}, rng);
  for (const BoxingTransfer& t : moved.transfers) {
    EXPECT_EQ(mesh.MeshCoordinates(t.dst_device)[0], 0) << "device " << t.dst_device << " should hold zeros";
  }
  EXPECT_EQ(moved.fill_mode[2], TransferMode::kSum);
  EXPECT_EQ(moved.fill_mode[3], TransferMode::kSum);
}

TEST(RegionBoxingTest, PartialSourceAddsEveryAddend) {
  std::mt19937 rng(31);
  const Placement three = Placement::Linear(DeviceType::kCPU, 3);
  const RegionBoxing plan =
      CheckMove(Shape{5, 7}, three, {Sbp::PartialSum()}, three, {Sbp::Broadcast()}, rng);
  EXPECT_EQ(plan.transfers.size(), 9u);  // 3 addends into each of 3 copies
  for (const BoxingTransfer& t : plan.transfers) EXPECT_EQ(t.mode, TransferMode::kSum);
  for (TransferMode mode : plan.fill_mode) EXPECT_EQ(mode, TransferMode::kSum);
}

TEST(RegionBoxingTest, ScalarsMove) {
  std::mt19937 rng(37);
  const Placement three = Placement::Linear(DeviceType::kCPU, 3);
  const Placement two = Devices({3, 4}, Shape{2});
  for (const Sbp& from : {Sbp::Broadcast(), Sbp::PartialSum(), Sbp::PartialMax()}) {
    for (const Sbp& to : {Sbp::Broadcast(), Sbp::PartialSum(), Sbp::PartialMax()}) {
      CheckMove(Shape{}, three, {from}, three, {to}, rng);
      CheckMove(Shape{}, three, {from}, two, {to}, rng);
    }
  }
}

TEST(RegionBoxingTest, RejectsBadLayouts) {
  const Placement two = Placement::Linear(DeviceType::kCPU, 2);
  const Placement mesh = Placement::Mesh(DeviceType::kCPU, Shape{2, 2}).ValueOrThrow();
  const TensorDesc desc{Shape{4, 4}, DType::kF32};
  StatusOr<RegionBoxing> axis = PlanRegionBoxing(desc, two, {Sbp::Split(2)}, two, {Sbp::Broadcast()});
  ASSERT_FALSE(axis.ok());
  EXPECT_NE(axis.status().message().find("[boxing] source"), std::string::npos) << axis.status().message();
  EXPECT_NE(axis.status().message().find("split axis 2"), std::string::npos) << axis.status().message();
  StatusOr<RegionBoxing> rank = PlanRegionBoxing(desc, two, {Sbp::Broadcast()}, mesh, {Sbp::Broadcast()});
  ASSERT_FALSE(rank.ok());
  EXPECT_NE(rank.status().message().find("[boxing] destination"), std::string::npos)
      << rank.status().message();
  StatusOr<RegionBoxing> mixed =
      PlanRegionBoxing(desc, mesh, {Sbp::PartialSum(), Sbp::PartialMax()}, two, {Sbp::Broadcast()});
  ASSERT_FALSE(mixed.ok());
  EXPECT_NE(mixed.status().message().find("P(sum) and P(max)"), std::string::npos)
      << mixed.status().message();
}

}  // namespace
}  // namespace ofl::compiler
