#include "examples/common/text_corpus.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <system_error>

namespace ofl::examples {

TextCorpus::TextCorpus(const std::string& text) {
  std::array<bool, 256> seen{};
  for (char c : text) seen[static_cast<unsigned char>(c)] = true;
  id_to_byte_.push_back('?');  // kUnknownId
  for (int byte = 0; byte < 256; ++byte) {
    if (!seen[byte]) continue;
    byte_to_id_[byte] = static_cast<int64_t>(id_to_byte_.size());
    id_to_byte_.push_back(static_cast<char>(byte));
  }
  ids_.reserve(text.size());
  for (char c : text) ids_.push_back(static_cast<int32_t>(byte_to_id_[static_cast<unsigned char>(c)]));
  train_size_ = static_cast<int64_t>(ids_.size()) - static_cast<int64_t>(ids_.size()) / 10;
}

std::vector<int64_t> TextCorpus::Encode(const std::string& text) const {
  std::vector<int64_t> ids;
  ids.reserve(text.size());
  for (char c : text) ids.push_back(Encode(static_cast<unsigned char>(c)));
  return ids;
}

char TextCorpus::Decode(int64_t id) const {
  if (id <= kUnknownId || id >= vocab_size()) return '?';
  return id_to_byte_[static_cast<size_t>(id)];
}

std::array<HostTensor, 2> TextCorpus::Windows(const std::vector<int64_t>& starts, int64_t context) const {
  const int64_t batch = static_cast<int64_t>(starts.size());
  HostTensor tokens(TensorDesc{Shape{batch, context}, DType::kI64});
  HostTensor labels(TensorDesc{Shape{batch, context}, DType::kI64});
  int64_t* token_data = tokens.data<int64_t>();
  int64_t* label_data = labels.data<int64_t>();
  for (int64_t row = 0; row < batch; ++row) {
    const int32_t* window = ids_.data() + starts[static_cast<size_t>(row)];
    for (int64_t t = 0; t < context; ++t) {
      token_data[row * context + t] = window[t];
      label_data[row * context + t] = window[t + 1];
    }
  }
  return {std::move(tokens), std::move(labels)};
}

std::vector<int64_t> TextCorpus::TrainStarts(uint64_t seed, int64_t step, int64_t batch,
                                             int64_t context) const {
  // The generator and the distribution are fixed by the C++ standard library
  // in use, so a step's windows are the same in every run of one build.
  std::mt19937_64 random(seed * 1000003 + static_cast<uint64_t>(step));
  std::uniform_int_distribution<int64_t> offset(0, std::max<int64_t>(0, train_size_ - context - 1));
  std::vector<int64_t> starts(static_cast<size_t>(batch));
  for (int64_t& start : starts) start = offset(random);
  return starts;
}

std::vector<int64_t> TextCorpus::ValidationStarts(int64_t count, int64_t context) const {
  // Windows may read one id past the validation text's end only when it is
  // the end of the corpus; the last start keeps the window inside.
  const int64_t span = validation_size() - context - 1;
  std::vector<int64_t> starts;
  if (span < 0 || count <= 0) return starts;
  count = std::min(count, span + 1);
  for (int64_t i = 0; i < count; ++i) {
    starts.push_back(train_size_ + (count == 1 ? 0 : span * i / (count - 1)));
  }
  return starts;
}

StatusOr<std::string> LoadFortunes(const std::string& program, const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code error;
  if (!fs::is_directory(dir, error)) {
    return Status::Error("[" + program + "] fortunes directory '" + dir + "' not found");
  }
  std::vector<fs::path> files;
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    const fs::path& path = it->path();
    if (path.filename().string().find('.') != std::string::npos) continue;  // .dat index, .u8 link
    if (!fs::is_regular_file(path, error)) continue;                        // off/, other subdirectories
    files.push_back(path);
  }
  if (error) return Status::Error("[" + program + "] listing '" + dir + "': " + error.message());
  if (files.empty()) {
    return Status::Error("[" + program + "] fortunes directory '" + dir +
                         "' holds no fortune files (plain files without a '.' in the name)");
  }
  std::sort(files.begin(), files.end());
  std::string text;
  for (const fs::path& path : files) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status::Error("[" + program + "] cannot read fortune file '" + path.string() + "'");
    std::string line;
    std::string record;
    auto flush = [&] {
      if (!record.empty()) text += record + "%\n";
      record.clear();
    };
    while (std::getline(in, line)) {
      if (line == "%") {
        flush();
      } else {
        record += line + "\n";
      }
    }
    if (in.bad())
      return Status::Error("[" + program + "] error reading fortune file '" + path.string() + "'");
    flush();
  }
  if (text.empty()) return Status::Error("[" + program + "] the fortune files in '" + dir + "' are empty");
  return text;
}

}  // namespace ofl::examples
