// Checkpoints (api/checkpoint.h): a trained MLP session saved and loaded
// bitwise, the file in the safetensors layout (checked byte by byte and, when
// python3 is installed, by Python's json + struct), resume giving the loss
// trajectory of an uninterrupted run bitwise, and every error naming the
// file and the tensor.
#include "api/checkpoint.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "api/nn.h"
#include "api/ops.h"
#include "api/optimizer.h"

namespace ofl::testing {
namespace {

using api::GraphBuilder;
using api::Session;
using api::Tensor;
namespace fs = std::filesystem;

// x [16, 8] -> 32 -> relu -> 4, sparse softmax cross entropy, Adam (so the
// checkpoint holds m, v and optimizer.step besides the parameters).
std::unique_ptr<Session> NewSession(int64_t hidden = 32) {
  GraphBuilder builder(Placement::Linear(DeviceType::kCPU, 1), {.seed = 5});
  Tensor x = builder.Input("x", Shape{16, 8});
  Tensor labels = builder.Input("labels", Shape{16}, DType::kI64);
  Tensor logits = api::nn::Mlp(x, {hidden, 4}, "mlp");
  Tensor loss = api::SparseSoftmaxCrossEntropy(logits, labels).loss;
  builder.Fetch("loss", loss);
  builder.Minimize(loss, api::Optimizer::Adam(0.01));
  EXPECT_TRUE(builder.ok()) << builder.status().message();
  StatusOr<std::unique_ptr<Session>> session = Session::Create(builder);
  EXPECT_TRUE(session.ok()) << session.status().message();
  return session.ok() ? std::move(session).value() : nullptr;
}

// A different batch at every global step, so a resumed run that replays or
// skips a step shows in the losses.
runtime::TensorMap BatchAt(int64_t global_step) {
  HostTensor x(TensorDesc{Shape{16, 8}, DType::kF32});
  HostTensor labels(TensorDesc{Shape{16}, DType::kI64});
  for (int64_t i = 0; i < 16 * 8; ++i)
    x.data<float>()[i] = static_cast<float>(std::sin(0.37 * i + 0.91 * global_step));
  for (int64_t i = 0; i < 16; ++i) labels.data<int64_t>()[i] = (i * 7 + global_step) % 4;
  return runtime::TensorMap{{"x", x}, {"labels", labels}};
}

// Runs `steps` steps starting at global step `first_step`; returns the losses.
std::vector<double> Train(Session& session, int64_t first_step, int64_t steps) {
  std::vector<double> losses;
  StatusOr<std::vector<runtime::TensorMap>> fetched = session.Run(
      steps, [&](int64_t step) -> StatusOr<runtime::TensorMap> { return BatchAt(first_step + step); });
  EXPECT_TRUE(fetched.ok()) << fetched.status().message();
  if (!fetched.ok()) return losses;
  for (const runtime::TensorMap& step : fetched.value()) losses.push_back(step.at("loss").GetAsDouble(0));
  return losses;
}

std::map<std::string, HostTensor> Variables(const Session& session) {
  std::map<std::string, HostTensor> values;
  for (const VariableDesc& variable : session.compiled().plan.variables) {
    StatusOr<HostTensor> value = session.ReadVariable(variable.name);
    EXPECT_TRUE(value.ok()) << value.status().message();
    if (value.ok()) values.emplace(variable.name, value.value());
  }
  return values;
}

bool BitwiseEqual(const HostTensor& a, const HostTensor& b) {
  return a.desc() == b.desc() && std::memcmp(a.raw(), b.raw(), a.ByteSize()) == 0;
}

void ExpectSameVariables(const Session& actual, const Session& expected) {
  const auto actual_values = Variables(actual);
  const auto expected_values = Variables(expected);
  ASSERT_EQ(actual_values.size(), expected_values.size());
  for (const auto& [name, value] : expected_values) {
    ASSERT_TRUE(actual_values.count(name)) << name;
    EXPECT_TRUE(BitwiseEqual(actual_values.at(name), value)) << "variable " << name << " differs";
  }
}

std::string ReadBytes(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A safetensors file of `header` (padded) and `data` bytes.
std::string SafetensorsBytes(std::string header, const std::string& data) {
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  return bytes + header + data;
}

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    directory_ =
        fs::path(::testing::TempDir()) / ("ofl_checkpoint_test_" + std::to_string(::getpid()) + "_" +
                                          ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(directory_);
    fs::create_directories(directory_);
  }
  void TearDown() override { fs::remove_all(directory_); }
  std::string PathOf(const std::string& name) const { return (directory_ / name).string(); }

  fs::path directory_;
};

TEST_F(CheckpointTest, RoundTripOfATrainedSessionIsBitwise) {
  std::unique_ptr<Session> trained = NewSession();
  ASSERT_NE(trained, nullptr);
  Train(*trained, 0, 5);
  const std::string path = PathOf("mlp.safetensors");
  Status saved = api::SaveCheckpoint(*trained, path);
  ASSERT_TRUE(saved.ok()) << saved.message();

  std::unique_ptr<Session> fresh = NewSession();
  ASSERT_NE(fresh, nullptr);
  // Sanity: training changed the weights, so the load has something to do.
  EXPECT_FALSE(
      BitwiseEqual(Variables(*fresh).at("mlp/fc0.weight"), Variables(*trained).at("mlp/fc0.weight")));
  Status loaded = api::LoadCheckpoint(*fresh, path);
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  ExpectSameVariables(*fresh, *trained);

  // Parameters and Adam state are all there, and the step is in the metadata.
  StatusOr<api::SafetensorsContents> contents = api::ReadSafetensors(path);
  ASSERT_TRUE(contents.ok()) << contents.status().message();
  EXPECT_EQ(contents.value().tensors.size(), trained->compiled().plan.variables.size());
  EXPECT_TRUE(contents.value().tensors.count("optimizer.step"));
  EXPECT_GE(contents.value().tensors.size(), 3u * 4u + 1u);  // 4 parameters, each with m and v, plus the step
  EXPECT_EQ(contents.value().metadata.at("step"), "5");
  EXPECT_EQ(contents.value().metadata.at("format"), api::kCheckpointFormat);
  EXPECT_EQ(contents.value().metadata.at("format_version"), api::kCheckpointFormatVersion);
}

TEST_F(CheckpointTest, FileHasTheSafetensorsLayout) {
  std::map<std::string, HostTensor> tensors{
      {"b", HostTensor::FromVector<int64_t>(Shape{2}, {7, -1})},
      {"a", HostTensor::FromVector<float>(Shape{2, 3}, {1, 2, 3, 4, 5, 6.5f})},
  };
  const std::string path = PathOf("layout.safetensors");
  Status written = api::WriteSafetensors(path, tensors, {{"format", "x"}});
  ASSERT_TRUE(written.ok()) << written.message();
  const std::string bytes = ReadBytes(path);
  ASSERT_GE(bytes.size(), 8u);
  uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i) header_size |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[i])) << (8 * i);
  EXPECT_EQ(header_size % 8, 0u);
  ASSERT_EQ(bytes.size(), 8 + header_size + 6 * 4 + 2 * 8);
  const std::string header = bytes.substr(8, header_size);
  EXPECT_EQ(header.substr(0, header.find_last_not_of(' ') + 1),
            R"({"__metadata__":{"format":"x"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
            R"("b":{"dtype":"I64","shape":[2],"data_offsets":[24,40]}})");
  float a5 = 0;
  std::memcpy(&a5, bytes.data() + 8 + header_size + 5 * 4, 4);
  EXPECT_EQ(a5, 6.5f);
  int64_t b1 = 0;
  std::memcpy(&b1, bytes.data() + 8 + header_size + 24 + 8, 8);
  EXPECT_EQ(b1, -1);

  // Another tool reads it: Python's json and struct, as the safetensors
  // package does (numpy is not required).
  if (std::system("python3 -c 'import json, struct' > /dev/null 2>&1") != 0) GTEST_SKIP() << "no python3";
  const std::string script = PathOf("read.py");
  WriteBytes(script,
             "import json, struct, sys\n"
             "data = open(sys.argv[1], 'rb').read()\n"
             "n = struct.unpack('<Q', data[:8])[0]\n"
             "header = json.loads(data[8:8 + n])\n"
             "a = header['a']\n"
             "assert a['dtype'] == 'F32' and a['shape'] == [2, 3], a\n"
             "begin, end = a['data_offsets']\n"
             "values = struct.unpack('<6f', data[8 + n + begin:8 + n + end])\n"
             "assert values == (1, 2, 3, 4, 5, 6.5), values\n"
             "assert header['__metadata__'] == {'format': 'x'}\n");
  EXPECT_EQ(std::system(("python3 " + script + " " + path).c_str()), 0);
}

TEST_F(CheckpointTest, ResumeGivesTheUninterruptedLossTrajectoryBitwise) {
  std::unique_ptr<Session> uninterrupted = NewSession();
  ASSERT_NE(uninterrupted, nullptr);
  const std::vector<double> expected = Train(*uninterrupted, 0, 20);
  ASSERT_EQ(expected.size(), 20u);

  const std::string path = PathOf("resume.safetensors");
  std::vector<double> resumed;
  {
    std::unique_ptr<Session> first = NewSession();
    ASSERT_NE(first, nullptr);
    resumed = Train(*first, 0, 10);
    Status saved = api::SaveCheckpoint(*first, path);
    ASSERT_TRUE(saved.ok()) << saved.message();
  }
  std::unique_ptr<Session> second = NewSession();
  ASSERT_NE(second, nullptr);
  Status loaded = api::LoadCheckpoint(*second, path);
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  const std::vector<double> rest = Train(*second, 10, 10);
  resumed.insert(resumed.end(), rest.begin(), rest.end());
  ASSERT_EQ(resumed.size(), expected.size());
  for (size_t step = 0; step < expected.size(); ++step)
    EXPECT_EQ(resumed[step], expected[step]) << "step " << step;  // exact, not approximate
  ExpectSameVariables(*second, *uninterrupted);
  // The losses really move, so equality above is not vacuous.
  EXPECT_NE(expected[0], expected[19]);
}

TEST_F(CheckpointTest, MissingFileNamesTheFile) {
  std::unique_ptr<Session> session = NewSession();
  ASSERT_NE(session, nullptr);
  const std::string path = PathOf("absent.safetensors");
  Status loaded = api::LoadCheckpoint(*session, path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.message().find("[checkpoint] '" + path + "'"), std::string::npos) << loaded.message();
  EXPECT_NE(loaded.message().find("cannot open"), std::string::npos) << loaded.message();
  // A directory in place of the file.
  loaded = api::LoadCheckpoint(*session, directory_.string());
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.message().find("[checkpoint] '" + directory_.string() + "'"), std::string::npos)
      << loaded.message();
}

TEST_F(CheckpointTest, TruncatedFilesNameTheFileAndTensor) {
  std::unique_ptr<Session> session = NewSession();
  ASSERT_NE(session, nullptr);
  const std::string path = PathOf("full.safetensors");
  ASSERT_TRUE(api::SaveCheckpoint(*session, path).ok());
  const std::string bytes = ReadBytes(path);

  // Cut inside the data: the error names the tensor whose bytes are missing
  // (tensors are in name order, so the last one is the largest name).
  const std::string cut = PathOf("cut.safetensors");
  WriteBytes(cut, bytes.substr(0, bytes.size() - 3));
  Status loaded = api::LoadCheckpoint(*session, cut);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.message().find("'" + cut + "'"), std::string::npos) << loaded.message();
  EXPECT_NE(loaded.message().find("truncated"), std::string::npos) << loaded.message();
  StatusOr<api::SafetensorsContents> full = api::ReadSafetensors(path);
  ASSERT_TRUE(full.ok());
  const std::string last = full.value().tensors.rbegin()->first;
  EXPECT_NE(loaded.message().find("'" + last + "'"), std::string::npos) << loaded.message();

  // Cut inside the header and inside the length.
  for (size_t size : {size_t{20}, size_t{5}}) {
    WriteBytes(cut, bytes.substr(0, size));
    loaded = api::LoadCheckpoint(*session, cut);
    ASSERT_FALSE(loaded.ok()) << size;
    EXPECT_NE(loaded.message().find("'" + cut + "': truncated"), std::string::npos) << loaded.message();
  }
}

TEST_F(CheckpointTest, CorruptHeadersAreErrorsNamingTheFile) {
  std::unique_ptr<Session> session = NewSession();
  ASSERT_NE(session, nullptr);
  const std::string path = PathOf("corrupt.safetensors");
  const std::string data(16, '\0');
  struct Case {
    std::string header;
    std::string expected;  // part of the message
  };
  const std::vector<Case> cases = {
      {R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]})", "corrupt header"},  // unclosed
      {R"(["not an object"])", "not a JSON object"},
      {R"({"a": {"dtype": "Q8", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2],)"
       R"( "data_offsets": [8, 16]}})",
       "tensor 'a': unsupported dtype 'Q8'"},
      {R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2],)"
       R"( "data_offsets": [8, 16]}})",
       "tensor 'a': data_offsets [0, 8] hold 8 bytes but f32[3] needs 12"},
      {R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2],)"
       R"( "data_offsets": [4, 12]}})",
       "tensor 'b' data_offsets [4, 12] overlap tensor 'a'"},
      {R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2],)"
       R"( "data_offsets": [16, 24]}})",
       "gap of 8 bytes in the data section before tensor 'b'"},
      {R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [4],)"
       R"( "data_offsets": [8, 24]}})",
       "tensor 'b' needs data bytes [8, 24) but the data section has only 16 bytes"},
      {R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", "8 bytes after the last tensor"},
      {R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "a": {"dtype": "F32", "shape": [2],)"
       R"( "data_offsets": [8, 16]}})",
       "key 'a' appears twice"},
  };
  for (const Case& c : cases) {
    WriteBytes(path, SafetensorsBytes(c.header, data));
    Status loaded = api::LoadCheckpoint(*session, path);
    ASSERT_FALSE(loaded.ok()) << c.header;
    EXPECT_NE(loaded.message().find("[checkpoint] '" + path + "'"), std::string::npos) << loaded.message();
    EXPECT_NE(loaded.message().find(c.expected), std::string::npos) << loaded.message();
  }
  // A huge header length (random bytes, not a safetensors file).
  WriteBytes(path, std::string(8, '\xff') + "{}");
  Status loaded = api::LoadCheckpoint(*session, path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.message().find("corrupt header"), std::string::npos) << loaded.message();
}

TEST_F(CheckpointTest, MismatchedTensorsAreErrorsAndChangeNothing) {
  std::unique_ptr<Session> trained = NewSession();
  ASSERT_NE(trained, nullptr);
  Train(*trained, 0, 3);
  const std::string path = PathOf("good.safetensors");
  ASSERT_TRUE(api::SaveCheckpoint(*trained, path).ok());
  StatusOr<api::SafetensorsContents> good = api::ReadSafetensors(path);
  ASSERT_TRUE(good.ok()) << good.status().message();

  std::unique_ptr<Session> session = NewSession();
  ASSERT_NE(session, nullptr);
  const auto before = Variables(*session);
  const std::string bad = PathOf("bad.safetensors");
  auto expect_error = [&](std::map<std::string, HostTensor> tensors, const std::string& expected) {
    ASSERT_TRUE(api::WriteSafetensors(bad, tensors, good.value().metadata).ok());
    Status loaded = api::LoadCheckpoint(*session, bad);
    ASSERT_FALSE(loaded.ok()) << expected;
    EXPECT_NE(loaded.message().find("[checkpoint] '" + bad + "'"), std::string::npos) << loaded.message();
    EXPECT_NE(loaded.message().find(expected), std::string::npos) << loaded.message();
    // Nothing was written, not even the variables checked before the bad one.
    for (const auto& [name, value] : Variables(*session))
      EXPECT_TRUE(BitwiseEqual(value, before.at(name))) << name << " changed by a failed load";
  };

  auto tensors = good.value().tensors;
  const HostTensor weight = tensors.at("mlp/fc1.weight");
  tensors["mlp/fc1.weight"] = HostTensor(TensorDesc{Shape{5, 5}, DType::kF32});
  expect_error(tensors,
               "tensor 'mlp/fc1.weight': expected " + weight.desc().ToString() + ", found f32[5, 5]");

  tensors = good.value().tensors;
  tensors["mlp/fc1.weight"] = HostTensor(TensorDesc{weight.shape(), DType::kF64});
  expect_error(tensors, "tensor 'mlp/fc1.weight': expected " + weight.desc().ToString() + ", found f64");

  tensors = good.value().tensors;
  tensors.erase("optimizer.step");
  expect_error(tensors, "missing tensor 'optimizer.step'");

  tensors = good.value().tensors;
  tensors["mlp/fc9.weight"] = weight;
  expect_error(tensors, "tensor 'mlp/fc9.weight' (f32");

  // A checkpoint of a differently shaped model.
  std::unique_ptr<Session> wide = NewSession(64);
  ASSERT_NE(wide, nullptr);
  const std::string wide_path = PathOf("wide.safetensors");
  ASSERT_TRUE(api::SaveCheckpoint(*wide, wide_path).ok());
  Status loaded = api::LoadCheckpoint(*session, wide_path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.message().find("'" + wide_path + "': tensor 'mlp/fc0"), std::string::npos)
      << loaded.message();

  // Extra tensors may be allowed explicitly.
  tensors = good.value().tensors;
  tensors["extra"] = weight;
  ASSERT_TRUE(api::WriteSafetensors(bad, tensors, good.value().metadata).ok());
  Status allowed = api::LoadCheckpoint(*session, bad, {.allow_extra_tensors = true});
  ASSERT_TRUE(allowed.ok()) << allowed.message();
  ExpectSameVariables(*session, *trained);

  // A safetensors file from another tool (no format metadata) is refused by name.
  ASSERT_TRUE(api::WriteSafetensors(bad, good.value().tensors, {}).ok());
  loaded = api::LoadCheckpoint(*session, bad);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.message().find("\"format\" is missing"), std::string::npos) << loaded.message();
}

TEST_F(CheckpointTest, SavingIsAtomic) {
  std::unique_ptr<Session> session = NewSession();
  ASSERT_NE(session, nullptr);

  // A path in a directory that does not exist: an error naming it, nothing created.
  const fs::path missing_directory = directory_ / "no" / "such";
  const std::string bad_path = (missing_directory / "ckpt.safetensors").string();
  Status saved = api::SaveCheckpoint(*session, bad_path);
  ASSERT_FALSE(saved.ok());
  EXPECT_NE(saved.message().find("[checkpoint] '" + bad_path + "'"), std::string::npos) << saved.message();
  EXPECT_FALSE(fs::exists(directory_ / "no"));

  // Saving over an existing checkpoint replaces it and leaves no temporary file.
  const std::string path = PathOf("ckpt.safetensors");
  ASSERT_TRUE(api::SaveCheckpoint(*session, path).ok());
  const std::string first = ReadBytes(path);
  Train(*session, 0, 2);
  saved = api::SaveCheckpoint(*session, path);
  ASSERT_TRUE(saved.ok()) << saved.message();
  EXPECT_NE(ReadBytes(path), first);
  std::vector<std::string> files;
  for (const fs::directory_entry& entry : fs::directory_iterator(directory_))
    files.push_back(entry.path().filename().string());
  EXPECT_EQ(files, std::vector<std::string>{"ckpt.safetensors"});
  StatusOr<api::SafetensorsContents> contents = api::ReadSafetensors(path);
  ASSERT_TRUE(contents.ok()) << contents.status().message();
  EXPECT_EQ(contents.value().metadata.at("step"), "2");
  EXPECT_TRUE(
      BitwiseEqual(contents.value().tensors.at("mlp/fc0.weight"), Variables(*session).at("mlp/fc0.weight")));

  // A path that is a directory: the rename fails, the temporary file is removed.
  const fs::path occupied = directory_ / "occupied";
  fs::create_directories(occupied / "inside");
  saved = api::SaveCheckpoint(*session, occupied.string());
  ASSERT_FALSE(saved.ok());
  EXPECT_NE(saved.message().find("cannot rename"), std::string::npos) << saved.message();
  EXPECT_TRUE(fs::is_directory(occupied / "inside"));
  size_t entries = 0;
  for (const fs::directory_entry& entry : fs::directory_iterator(directory_)) {
    (void)entry;
    ++entries;
  }
  EXPECT_EQ(entries, 2u);  // ckpt.safetensors and occupied, no temporary file
}

}  // namespace
}  // namespace ofl::testing
